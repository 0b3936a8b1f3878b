"""The lab's bastion as a jump host only (playbooks/bastion.yml, bastion_jump_enabled in env_lab.yml).

An analyst reaches the analytics server by jumping through the bastion as herself,
and can do nothing else there; the operator keeps a shell. Each check is a fresh ssh
login from this machine, as an analyst's own ssh would make it.
"""

from __future__ import annotations

import subprocess

import pytest

from lab import labctl
from lab.harness import ANALYST, analyst_ssh_command

BASTION = labctl.BASTION.addresses[0][1]
SERVER = labctl.SERVER.addresses[0][1]


def analyst_ssh(*args: str, jump: bool = False, timeout: int = 30) -> subprocess.CompletedProcess:
    """ssh as the analyst, with her key only (the lab's ssh_config pins the host keys)."""
    cmd = analyst_ssh_command(*args, jump=jump)
    return subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout, check=False)


def jump(target: str, *command: str) -> subprocess.CompletedProcess:
    """The analyst jumps through the bastion as herself to target (host:port) and logs in there."""
    host, _, port = target.rpartition(":")
    return analyst_ssh("-p", port, f"{ANALYST}@{host}", *command, jump=True)


# The server as site.yml leaves it, shared with the other modules (tests/lab/conftest.py).
pytestmark = pytest.mark.usefixtures("provisioned")


def test_the_analyst_jumps_through_the_bastion_as_herself():
    result = jump(f"{SERVER}:22", "id", "-un")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ANALYST


def test_the_analyst_gets_no_shell_on_the_bastion():
    result = analyst_ssh(f"{ANALYST}@{BASTION}", "id")
    assert result.returncode != 0
    assert "uid=" not in result.stdout
    assert "only forwards to the analytics server" in result.stdout + result.stderr


@pytest.mark.parametrize("target", [f"{SERVER}:80", f"{BASTION}:22", "198.18.1.1:53"])
def test_the_analyst_may_not_forward_anywhere_else(target):
    result = analyst_ssh("-W", target, f"{ANALYST}@{BASTION}")
    assert result.returncode != 0
    assert "administratively prohibited" in result.stderr


def test_the_operator_keeps_a_shell_on_the_bastion():
    result = subprocess.run(
        ["ssh", "-F", str(labctl.STATE / "ssh_config"), "-o", "BatchMode=yes", f"{labctl.ADMIN_USER}@{BASTION}", "id"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert f"({labctl.ADMIN_USER})" in result.stdout
