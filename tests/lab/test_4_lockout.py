"""A change that would cut Ansible off is reverted by the host itself, and the host stays reachable.

Each test makes site.yml apply a setting that passes every validation but
leaves the controller unable to open a new connection, then watches the
host bring back what ran before, within the guard's bounded time.
"""

from __future__ import annotations

import json

import pytest

from lab import labctl
from lab.harness import (
    HeldForwards,
    container_exec,
    eventually,
    lab_env,
    ruleset_shape,
    run_playbook,
    ssh,
    tcp_connects,
)

GUARD_TIMEOUT = 60  # seconds: the shortest the firewall role accepts
RECOVERY_BOUND = GUARD_TIMEOUT + 90  # the revert, plus TCP's retransmission back-off on stalled sessions
OLD_CLIENT_KEX = "curve25519-sha256"  # what an OpenSSH client older than 8.5 can offer


# The server as site.yml leaves it. The reverts below rewrite its files, so the
# next module provisions again (tests/lab/conftest.py watches for that).
pytestmark = pytest.mark.usefixtures("provisioned")


def test_a_firewall_that_shuts_out_the_bastion_is_reverted():
    before = ruleset_shape(labctl.SERVER)
    wrong_bastion = {"firewall_ssh_allowed_sources": ["198.18.1.99"], "firewall_lockout_guard_timeout": GUARD_TIMEOUT}
    run = run_playbook("site.yml", "--extra-vars", json.dumps(wrong_bastion))
    assert run.returncode != 0
    assert "The new firewall settings cut Ansible off from analytics-server" in run.output
    assert eventually(lambda: ssh(labctl.SERVER, "true").returncode == 0, RECOVERY_BOUND)
    assert ruleset_shape(labctl.SERVER) == before
    assert "198.18.1.99" not in container_exec(labctl.SERVER.container, "cat", "/etc/nftables.conf")


@pytest.fixture
def sshd_relaxed_by_hand():
    """Drift: someone re-allowed a classic key exchange so that an old client could log in."""
    container_exec(
        labctl.SERVER.container,
        "sed", "-i", f"s/^KexAlgorithms .*/KexAlgorithms sntrup761x25519-sha512@openssh.com,{OLD_CLIENT_KEX}/",
        "/etc/ssh/sshd_config",
    )  # fmt: skip
    container_exec(labctl.SERVER.container, "systemctl", "restart", "ssh")
    return container_exec(labctl.SERVER.container, "cat", "/etc/ssh/sshd_config")


def test_an_sshd_change_the_operators_client_cannot_follow_is_reverted(sshd_relaxed_by_hand):
    old_client = ("-o", f"KexAlgorithms={OLD_CLIENT_KEX}")
    assert ssh(labctl.SERVER, "true", options=old_client).returncode == 0
    ssh_args = lab_env()["ANSIBLE_SSH_ARGS"] + " " + " ".join(old_client)
    run = run_playbook(
        "site.yml",
        "--extra-vars",
        json.dumps({"ssh_server_lockout_guard_timeout": GUARD_TIMEOUT}),
        set_env={"ANSIBLE_SSH_ARGS": ssh_args},
    )
    assert run.returncode != 0
    assert "The new ssh_server settings cut Ansible off from analytics-server" in run.output
    assert eventually(lambda: ssh(labctl.SERVER, "true", options=old_client).returncode == 0, RECOVERY_BOUND)
    assert container_exec(labctl.SERVER.container, "cat", "/etc/ssh/sshd_config") == sshd_relaxed_by_hand


def test_a_revert_an_earlier_run_left_armed_is_cancelled_by_the_next_run():
    # What a run that died between arming its guard and confirming leaves behind.
    stale = "lockout-guard-firewall"
    container_exec(
        labctl.SERVER.container,
        "systemd-run", f"--unit={stale}", "--on-active=600", "/bin/sh", "-c", "touch /run/stale-revert-ran",
    )  # fmt: skip
    assert container_exec(labctl.SERVER.container, "systemctl", "is-active", f"{stale}.timer").strip() == "active"
    run = run_playbook()
    assert run.returncode == 0, run.output[-3000:]
    assert f"Cancelled {stale}.timer" in run.output
    state = container_exec(labctl.SERVER.container, "systemctl", "is-active", f"{stale}.timer", check=False)
    assert state.strip() == "inactive"


def test_a_first_deployments_revert_closes_the_server_instead_of_opening_it():
    """A host that had no ruleset does not go back to none (every channel open) but to the closed one."""
    container_exec(labctl.SERVER.container, "nft", "flush", "ruleset")
    assert tcp_connects(labctl.SERVER.container, labctl.MIRROR.address, labctl.MIRROR.port), (
        "no ruleset, yet root is shut in"
    )
    wrong_bastion = {"firewall_ssh_allowed_sources": ["198.18.1.99"], "firewall_lockout_guard_timeout": GUARD_TIMEOUT}
    run = run_playbook("site.yml", "--extra-vars", json.dumps(wrong_bastion))
    assert run.returncode != 0
    assert "The new firewall settings cut Ansible off from analytics-server" in run.output
    assert eventually(lambda: ssh(labctl.SERVER, "true").returncode == 0, RECOVERY_BOUND)
    assert eventually(lambda: "table inet firewall" in ruleset_shape(labctl.SERVER), 10)
    # The closed ruleset: back in through the bastion, nothing out, and so at boot too.
    assert not tcp_connects(labctl.SERVER.container, labctl.MIRROR.address, labctl.MIRROR.port)
    assert "@egress_window" not in ruleset_shape(labctl.SERVER)
    config = container_exec(labctl.SERVER.container, "cat", "/etc/nftables.conf")
    assert "The closed ruleset" in config and "198.18.1.99" in config


# The analyst's jumps held open at once: more than the server's sshd takes
# unauthenticated from the bastion's address (ssh_server_per_source_max_startups).
HELD = 12


def test_an_analyst_holding_unauthenticated_connections_cannot_make_a_guarded_change_revert():
    # Without the bastion's limits, her held jumps shut everyone out of the
    # server: the attack is real in this lab.
    container_exec(labctl.BASTION.container, "systemctl", "stop", "bastion-jump-limits.service")
    try:
        with HeldForwards(HELD) as held:
            assert held.refused == 0
            assert ssh(labctl.SERVER, "true").returncode != 0, "the held jumps did not use up the server's slots"
    finally:
        container_exec(labctl.BASTION.container, "systemctl", "start", "bastion-jump-limits.service")
    # With them she holds at most her share, and a guarded firewall change made
    # meanwhile confirms with a fresh connection and stays.
    changed = {"firewall_icmp_echo_rate": "9/second", "firewall_lockout_guard_timeout": GUARD_TIMEOUT}
    with HeldForwards(HELD) as held:
        assert held.held() <= 4 < HELD and held.refused > 0, (held.held(), held.refused)
        run = run_playbook("site.yml", "--tags", "firewall", "--extra-vars", json.dumps(changed))
        assert run.returncode == 0, run.output[-3000:]
    timer = "lockout-guard-firewall.timer"
    assert container_exec(labctl.SERVER.container, "systemctl", "is-active", timer, check=False).strip() == "inactive"
    assert "9/second" in container_exec(labctl.SERVER.container, "nft", "list", "chain", "inet", "firewall", "input")
