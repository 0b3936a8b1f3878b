"""Starting and stopping the analytics server, and the analysts' own SSH configuration.

server-stop.yml must not stop the server under an analyst's feet; server-start.yml must
bring it back. The state changes happen in the lab's EC2 API (moto): the container keeps
running when moto "stops" the instance, so SSH answering after the start proves the whole
way back (inventory, bastion, login), and the instance's state in moto proves the start
and stop. ssh-config.yml is checked with a plain ssh that reads only the generated file.
Each test leaves the lab as it found it: the instance running, SSH answering.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab import labctl
from lab.harness import (
    ANALYST,
    ANALYST_KEY,
    instance_states,
    run_playbook,
    ssh,
)
from lab.harness import analyst_session as open_analyst_session

SERVER = labctl.SERVER.addresses[0][1]
# The analyst's open session: bounded by itself (the remote sleep ends), and ended
# by the fixture long before that.
SESSION_SECONDS = 180


@pytest.fixture(scope="module", autouse=True)
def running_lab(provisioned):
    """The analyst exists on both hosts and may jump, and both instances run."""
    states = instance_states()
    assert (states[labctl.BASTION.hostname], states[labctl.SERVER.hostname]) == ("running", "running")


@pytest.fixture
def analyst_session() -> Iterator[str]:
    """The analyst logged in to the server, running a command; yields its pid on the server."""
    with open_analyst_session(SESSION_SECONDS) as pid:
        yield pid


def test_server_stop_refuses_while_an_analyst_is_logged_in(analyst_session):
    run = run_playbook("playbooks/server-stop.yml")
    assert run.returncode != 0
    assert "analytics-server is in use" in run.output
    assert re.search(rf"Logged in: [^.]*\b{ANALYST}\b", run.output), run.output[-3000:]
    assert f"sleep {SESSION_SECONDS}" in run.output  # her process, listed with its CPU share
    assert "-e force=true" in run.output
    assert "Nothing was changed" in run.output
    assert instance_states()[labctl.SERVER.hostname] == "running"
    # Her session was not touched.
    assert labctl.podman("exec", labctl.SERVER.container, "kill", "-0", analyst_session, check=False).returncode == 0


def test_a_forced_stop_stops_the_instance_and_server_start_brings_it_back(analyst_session, server_restored):
    stop = run_playbook("playbooks/server-stop.yml", "--extra-vars", json.dumps({"force": True}))
    assert stop.returncode == 0, stop.output[-3000:]
    assert "is stopped (forced)" in stop.output
    assert instance_states()[labctl.SERVER.hostname] == "stopped"

    start = run_playbook("playbooks/server-start.yml")
    assert start.returncode == 0, start.output[-3000:]
    assert f"is running and answers SSH at {SERVER} through the bastion" in start.output
    assert instance_states()[labctl.SERVER.hostname] == "running"
    assert ssh(labctl.SERVER, "true").returncode == 0


def test_server_start_stops_on_an_instance_the_tags_do_not_find(server_restored):
    before = instance_states()
    run = run_playbook("playbooks/server-start.yml", "--extra-vars", "server_start_name=no-such-server")
    assert run.returncode != 0
    assert "EC2 has no instance tagged" in run.output
    assert "Name=no-such-server" in run.output
    assert "Nothing was changed" in run.output
    assert instance_states() == before


@pytest.fixture
def generated_config(tmp_path: Path) -> tuple[Path, Path]:
    """ssh-config.yml's output for the analyst, in tmp_path: (config, known_hosts)."""
    config, known_hosts = tmp_path / "ssh" / "config", tmp_path / "ssh" / "known_hosts.d" / "analytics"
    extra = {
        "ssh_config_file": str(config),
        "ssh_config_known_hosts_file": str(known_hosts),
        "ssh_config_user": ANALYST,
        "ssh_config_identity_file": str(ANALYST_KEY),
    }
    run = run_playbook("playbooks/ssh-config.yml", "--extra-vars", json.dumps(extra))
    assert run.returncode == 0, run.output[-3000:]
    return config, known_hosts


def plain_ssh(config: Path, *command: str) -> subprocess.CompletedProcess:
    """A plain ssh that reads only the generated file; BatchMode turns any prompt into an error."""
    return subprocess.run(
        ["ssh", "-F", str(config), "-o", "BatchMode=yes", "-o", "ControlMaster=no", "analytics-server", *command],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_the_generated_config_logs_the_analyst_in_through_the_bastion(generated_config):
    config, _ = generated_config
    result = plain_ssh(config, "id", "-un")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ANALYST


def test_the_pinned_known_hosts_hold_exactly_the_lab_hosts_keys(generated_config):
    _, known_hosts = generated_config
    pinned = {tuple(line.split()[1:3]) for line in known_hosts.read_text().splitlines() if line.strip()}
    expected = {tuple(line.split()[1:3]) for line in labctl.known_hosts_lines()}
    assert pinned == expected


def test_a_host_key_other_than_the_pinned_one_is_refused(generated_config, tmp_path):
    config, known_hosts = generated_config
    other = tmp_path / "other_host_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    other_key = other.with_suffix(".pub").read_text().split()[:2]
    lines = [
        " ".join([line.split()[0], *other_key]) if line.startswith("analytics-server,") else line
        for line in known_hosts.read_text().splitlines()
        if not (line.startswith("analytics-server,") and " ssh-rsa " in line)
    ]
    known_hosts.write_text("\n".join(lines) + "\n")
    result = plain_ssh(config, "id", "-un")
    assert result.returncode != 0
    assert "Host key verification failed" in result.stderr
