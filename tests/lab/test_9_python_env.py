"""The analysts' Python environment, installed by site.yml from the lab's wheel mirror.

The mirror is a real web server (alab-mirror) that the server reaches only through
an egress window; pip installs with --require-hashes --no-index --only-binary=:all:.
The tests use the small lock of tests/data/locks/small to stay quick.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from filter_plugins.pylock import pylock_digest
from lab import labctl
from lab.harness import container_exec, run_playbook, tcp_connects

SMALL_LOCK = labctl.ROOT / "tests" / "data" / "locks" / "small"
ROOT = "/opt/analytics-env"
SERVER = labctl.SERVER.container
TAMPERED = "six-1.17.0-py2.py3-none-any.whl"


def server(*command: str, check: bool = True) -> str:
    return container_exec(SERVER, *command, check=check)


def active_digest() -> str:
    return Path(server("readlink", f"{ROOT}/current").strip()).name


def window_is_closed() -> bool:
    host = server("nft", "list", "set", "inet", "firewall", "egress_window").partition("elements = ")[2]
    return host == "" and not tcp_connects(SERVER, labctl.MIRROR.address, labctl.MIRROR.port)


def lock_vars(lock_dir: Path) -> str:
    return json.dumps({"python_env_lock": str(lock_dir / "pylock.toml")})


def digest_of(lock_dir: Path) -> str:
    return pylock_digest((lock_dir / "pylock.toml").read_text())


@pytest.fixture(scope="module")
def small_lock() -> Path:
    run = run_playbook("site.yml", "--extra-vars", lock_vars(SMALL_LOCK))
    assert run.returncode == 0, run.output[-3000:]
    return SMALL_LOCK


@pytest.fixture
def smaller_lock(tmp_path) -> Path:
    """The small lock without idna: another environment made of files the mirror already has."""
    shutil.copytree(SMALL_LOCK, tmp_path / "lock")
    lock = tmp_path / "lock" / "pylock.toml"
    lock.write_text(re.sub(r'\[\[packages\]\]\nname = "idna"\n(.+\n)+\n', "", lock.read_text()))
    (tmp_path / "lock" / "requirements.in").write_text("exceptiongroup\nsix\n")
    assert "idna" not in lock.read_text()
    return tmp_path / "lock"


@pytest.fixture
def tampered_mirror_file():
    """One wheel of the mirror replaced by other bytes; put back afterwards."""
    path = labctl.MIRROR_DIR / "files" / TAMPERED
    original = path.read_bytes()
    path.write_bytes(original[:-64] + b"\0" * 64)
    yield path
    path.write_bytes(original)


def test_outside_a_window_the_server_cannot_reach_the_mirror(small_lock):
    assert window_is_closed()


def test_the_locked_packages_are_active_at_their_locked_versions(small_lock):
    assert active_digest() == digest_of(small_lock)
    versions = server(f"{ROOT}/current/bin/python", "-c", "import six, idna; print(six.__version__, idna.__version__)")
    assert versions.split() == ["1.17.0", "3.20"]
    assert "No broken requirements" in server(f"{ROOT}/current/bin/python", "-m", "pip", "check")


def test_the_server_fetched_the_wheels_from_the_mirror(small_lock):
    log = labctl.podman("logs", labctl.MIRROR.container).stderr
    assert re.search(rf"^{re.escape(labctl.SERVER.addresses[0][1])} .*GET /files/{re.escape(TAMPERED)} ", log, re.M)


def test_a_run_with_the_active_lock_changes_nothing_and_opens_no_window(small_lock):
    run = run_playbook("site.yml", "--extra-vars", lock_vars(small_lock))
    assert run.returncode == 0, run.output[-3000:]
    assert run.recap["analytics-server"]["changed"] == 0
    assert "Open the window to" not in run.output


def test_a_tampered_mirror_file_stops_the_sync_before_the_server(small_lock, smaller_lock, tampered_mirror_file):
    run = run_playbook("site.yml", "--extra-vars", lock_vars(smaller_lock))
    assert run.returncode != 0
    assert TAMPERED in run.output
    assert "Nothing was installed on the server" in run.output
    assert active_digest() == digest_of(small_lock)


def test_a_tampered_wheel_fails_the_install_and_keeps_the_previous_environment(
    small_lock, smaller_lock, tampered_mirror_file
):
    # Only the server's part: the mirror sync before it would refuse the tampered file.
    run = run_playbook("playbooks/python-env.yml", "--tags", "python_env", "--extra-vars", lock_vars(smaller_lock))
    assert run.returncode != 0
    assert TAMPERED in run.output
    assert "hash" in run.output.lower()
    assert active_digest() == digest_of(small_lock)
    probe = labctl.podman("exec", SERVER, "test", "-e", f"{ROOT}/envs/{digest_of(smaller_lock)}", check=False)
    assert probe.returncode != 0, "the half-built environment was left behind"
    assert window_is_closed()


def test_a_new_lock_is_switched_to_and_rollback_restores_the_previous(small_lock, smaller_lock):
    run = run_playbook("site.yml", "--extra-vars", lock_vars(smaller_lock))
    assert run.returncode == 0, run.output[-3000:]
    assert active_digest() == digest_of(smaller_lock)
    missing = labctl.podman("exec", SERVER, f"{ROOT}/current/bin/python", "-c", "import idna", check=False)
    assert missing.returncode != 0, "idna is not in the new lock"
    assert window_is_closed()

    rollback = run_playbook("playbooks/python-env-rollback.yml", "--extra-vars", lock_vars(smaller_lock))
    assert rollback.returncode == 0, rollback.output[-3000:]
    assert active_digest() == digest_of(small_lock)
