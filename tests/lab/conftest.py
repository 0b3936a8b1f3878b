"""A fresh lab for the whole session, removed afterwards (LAB_KEEP=1 keeps it)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from lab import labctl
from lab.harness import eventually, instance_states, server_instance_id, ssh


@pytest.fixture(scope="session", autouse=True)
def lab():
    subprocess.run([sys.executable, str(labctl.ROOT / "lab" / "labctl.py"), "up", "--fresh"], check=True)
    yield
    if not os.environ.get("LAB_KEEP"):
        subprocess.run([sys.executable, str(labctl.ROOT / "lab" / "labctl.py"), "down"], check=True)


@pytest.fixture
def server_restored():
    """Whatever a test does to the server's instance, start it again in moto and wait for its SSH."""
    yield
    if instance_states().get(labctl.SERVER.hostname) != "running":
        labctl.ec2_client().start_instances(InstanceIds=[server_instance_id()])
    assert eventually(lambda: ssh(labctl.SERVER, "true").returncode == 0, bound=60)
