"""A fresh lab for the whole session, removed afterwards (LAB_KEEP=1 keeps it)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from lab import labctl


@pytest.fixture(scope="session", autouse=True)
def lab():
    subprocess.run([sys.executable, str(labctl.ROOT / "lab" / "labctl.py"), "up", "--fresh"], check=True)
    yield
    if not os.environ.get("LAB_KEEP"):
        subprocess.run([sys.executable, str(labctl.ROOT / "lab" / "labctl.py"), "down"], check=True)
