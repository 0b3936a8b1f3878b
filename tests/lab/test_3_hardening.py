"""Behaviour of the hardened analytics server, seen from other hosts of the lab.

Each test makes the connection an attacker or a careless user would make and
checks that the server refuses it; a control shows that the same attempt from
an allowed place works, so a refusal is not just a broken lab.
"""

from __future__ import annotations

import socket
import subprocess

import pytest

from lab import labctl
from lab.audit import run_ssh_audit
from lab.harness import container_exec, ssh, tcp_connects

SERVER_ADDRESS = labctl.SERVER.addresses[0][1]
PROBE = labctl.extra_node("alab-probe", "probe", "198.18.1.50")
PROBE_ADDRESS = PROBE.addresses[0][1]
PROBE_PORT = 8080
CONNECT_TIMEOUT = 5  # seconds; every connection attempt below is bounded by it


# The server as site.yml leaves it, shared with the other modules (tests/lab/conftest.py).
pytestmark = pytest.mark.usefixtures("provisioned")


@pytest.fixture(scope="module")
def probe():
    """A host on the private network that is not the bastion, listening on PROBE_PORT."""
    labctl.run_extra(PROBE, "python3", "-m", "http.server", str(PROBE_PORT), "--bind", PROBE_ADDRESS)
    yield PROBE
    labctl.podman("rm", "--force", PROBE.container, check=False)


# --------------------------------------------------------------------------- who may connect


def test_the_bastion_reaches_the_servers_ssh_port():
    assert tcp_connects(labctl.BASTION.container, SERVER_ADDRESS, 22, CONNECT_TIMEOUT)


def test_another_host_on_the_private_network_cannot_reach_ssh(probe):
    assert not tcp_connects(probe.container, SERVER_ADDRESS, 22, CONNECT_TIMEOUT)


def test_the_controller_cannot_reach_ssh_without_the_bastion():
    with socket.socket() as sock:
        sock.settimeout(CONNECT_TIMEOUT)
        assert sock.connect_ex((SERVER_ADDRESS, 22)) != 0


# --------------------------------------------------------------------------- how they may log in


def test_a_key_login_through_the_bastion_works():
    result = ssh(labctl.SERVER, "id", "-un")
    assert (result.returncode, result.stdout.strip()) == (0, labctl.ADMIN_USER), result.stderr


ANALYST = "ada"  # listed in inventory/group_vars/env_lab.yml
ANALYST_KEY = ("-o", f"IdentityFile={labctl.STATE / 'analyst_ed25519'}")


def test_an_analyst_logs_in_with_her_key():
    result = ssh(labctl.SERVER, "id", "-Gn", user=ANALYST, options=ANALYST_KEY)
    assert result.returncode == 0, result.stderr
    assert {"analysts", "ssh-login"} <= set(result.stdout.split())


def test_another_key_does_not_open_the_analysts_account():
    result = ssh(labctl.SERVER, "true", user=ANALYST)  # only the operator's key
    assert result.returncode == 255
    assert "Permission denied" in result.stderr


def test_a_users_pam_environment_is_not_read_at_login():
    """Debian's sshd reads ~/.pam_environment at login (pam_env user_readenv=1); os_hardening stops that."""
    written = ssh(labctl.SERVER, "echo 'ANALYTICS_PROBE DEFAULT=from-pam-environment' > ~/.pam_environment")
    assert written.returncode == 0, written.stderr
    try:
        login = ssh(labctl.SERVER, "echo ${ANALYTICS_PROBE:-unset}")
        assert (login.returncode, login.stdout.strip()) == (0, "unset"), login.stderr
    finally:
        ssh(labctl.SERVER, "rm -f ~/.pam_environment")


def test_a_password_login_is_refused():
    result = ssh(
        labctl.SERVER,
        "true",
        options=("-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=password,keyboard-interactive"),
    )
    assert result.returncode == 255
    assert "Permission denied (publickey)" in result.stderr


@pytest.fixture
def root_holds_the_operator_key():
    """Give root the lab key for one test, so a refusal proves PermitRootLogin, not a missing key."""
    server = labctl.SERVER.container
    assert labctl.podman("exec", server, "test", "-e", "/root/.ssh/authorized_keys", check=False).returncode != 0
    container_exec(server, "mkdir", "-p", "-m", "0700", "/root/.ssh")
    labctl.podman("cp", str(labctl.STATE / "id_ed25519.pub"), f"{server}:/root/.ssh/authorized_keys")
    container_exec(server, "chown", "root:root", "/root/.ssh/authorized_keys")
    yield
    container_exec(server, "rm", "-f", "/root/.ssh/authorized_keys")


def test_root_login_is_refused_even_with_an_authorized_key(root_holds_the_operator_key):
    result = ssh(labctl.SERVER, "true", user="root")
    assert result.returncode == 255
    assert "Permission denied" in result.stderr


def test_tcp_forwarding_through_the_server_is_refused(probe):
    result = ssh(labctl.SERVER, options=("-W", f"{PROBE_ADDRESS}:{PROBE_PORT}"))
    assert result.returncode != 0
    assert "administratively prohibited" in result.stderr


def test_agent_forwarding_to_the_server_is_refused(tmp_path):
    agent = subprocess.run(["ssh-agent", "-a", str(tmp_path / "agent.sock")], capture_output=True, text=True)
    try:
        env_sock = f"SSH_AUTH_SOCK={tmp_path / 'agent.sock'}"
        result = subprocess.run(
            ["env", env_sock, "ssh", "-F", str(labctl.STATE / "ssh_config"), "-o", "BatchMode=yes", "-A",
             "-J", f"{labctl.ADMIN_USER}@{labctl.BASTION.addresses[0][1]}",
             f"{labctl.ADMIN_USER}@{SERVER_ADDRESS}", "echo agent=${SSH_AUTH_SOCK:-none}"],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
    finally:
        pid = next(line for line in agent.stdout.split(";") if "SSH_AGENT_PID=" in line).split("=")[1]
        subprocess.run(["kill", pid], check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "agent=none"


# --------------------------------------------------------------------------- what leaves the server


def test_the_probe_listener_answers_an_unfirewalled_host(probe):
    assert tcp_connects(labctl.BASTION.container, PROBE_ADDRESS, PROBE_PORT, CONNECT_TIMEOUT)


def test_an_outbound_connection_from_the_server_fails_within_the_bound(probe):
    assert not tcp_connects(labctl.SERVER.container, PROBE_ADDRESS, PROBE_PORT, CONNECT_TIMEOUT)


# --------------------------------------------------------------------------- what the auditor says


def test_ssh_audit_finds_no_failure_and_no_warning():
    fail, warn = run_ssh_audit(SERVER_ADDRESS)
    assert (fail, warn) == ([], [])
