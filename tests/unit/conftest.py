"""Shared by the tests of the roles' AWS modules: loading a module from a role's library, and moto."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def role_module() -> Iterator[Callable[[str, str], ModuleType]]:
    """role_module(role, name): roles/<role>/library/<name>.py, imported with the project's collections."""
    sys.path.insert(0, str(ROOT / "collections"))

    def load(role: str, name: str) -> ModuleType:
        spec = importlib.util.spec_from_file_location(name, ROOT / "roles" / role / "library" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    try:
        yield load
    finally:
        sys.path.remove(str(ROOT / "collections"))


@pytest.fixture
def aws_client() -> Iterator[Callable[[str], object]]:
    """aws_client(service): a boto3 client of moto's in-process AWS (eu-west-1), fresh for each test."""
    boto3 = pytest.importorskip("boto3")
    moto = pytest.importorskip("moto")
    with moto.mock_aws():
        keys = {"region_name": "eu-west-1", "aws_access_key_id": "test", "aws_secret_access_key": "test"}
        yield lambda service: boto3.client(service, **keys)
