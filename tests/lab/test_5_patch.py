"""playbooks/patch.yml patches through an egress window that is closed again, even when the run fails."""

from __future__ import annotations

import json

import pytest

from lab import labctl
from lab.harness import container_exec, run_playbook, tcp_connects

MIRROR = "deb.debian.org"


def window_elements() -> str:
    listing = container_exec(labctl.SERVER.container, "nft", "list", "set", "inet", "firewall", "egress_window")
    return listing.partition("elements = ")[2]


def mirror_reachable() -> bool:
    """Whether the server can open a connection to the mirror (bounded to 5 s)."""
    return tcp_connects(labctl.SERVER.container, MIRROR, 80)


@pytest.fixture(scope="module", autouse=True)
def hardened_server():
    run = run_playbook()
    assert run.returncode == 0, run.output[-3000:]


def test_outside_a_window_the_server_cannot_reach_the_mirror():
    assert not mirror_reachable()


def test_patching_reports_the_updates_and_the_reboot_need():
    run = run_playbook("playbooks/patch.yml")
    assert run.returncode == 0, run.output[-3000:]
    assert "security update(s) installed" in run.output
    assert "reboot needed: " in run.output


def test_the_window_is_closed_after_patching():
    assert window_elements() == ""
    assert not mirror_reachable()


def test_the_window_is_closed_when_patching_fails():
    wrong_port = {"patch_mirrors": [{"host": MIRROR, "protocol": "tcp", "port": 8080}]}
    run = run_playbook("playbooks/patch.yml", "--extra-vars", json.dumps(wrong_port))
    assert run.returncode != 0
    assert "TASK [Close the egress window]" in run.output
    assert window_elements() == ""
