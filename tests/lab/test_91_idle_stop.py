"""The idle check on the lab's analytics server (roles/idle_stop; a dry run, set in env_lab.yml).

site.yml sets the instance's shutdown behaviour in EC2 (moto here) and installs the
timer. Each check below starts idle-stop.service once, as the timer would, and reads
what that run logged. An analyst's SSH session, made through the bastion as her own
ssh would, must keep the server busy.
"""

from __future__ import annotations

import json
import re
import time

import pytest

from lab import labctl
from lab.harness import ANALYST, container_exec, eventually, run_playbook
from lab.harness import analyst_session as open_analyst_session

SERVER = labctl.SERVER.container
STATE = "/var/lib/idle-stop/state.json"
DECISION = re.compile(r"^(busy: |idle since )", re.MULTILINE)


def server(*command: str, check: bool = True) -> str:
    return container_exec(SERVER, *command, check=check)


def server_instance_id(ec2) -> str:
    reservations = ec2.describe_instances(
        Filters=[
            {"Name": "tag:Name", "Values": [labctl.SERVER.hostname]},
            {"Name": "instance-state-name", "Values": ["running"]},
        ]
    )["Reservations"]
    return reservations[0]["Instances"][0]["InstanceId"]


def shutdown_behaviour(ec2, instance_id: str) -> str:
    answer = ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="instanceInitiatedShutdownBehavior")
    return answer["InstanceInitiatedShutdownBehavior"]["Value"]


@pytest.fixture(scope="module", autouse=True)
def careless_launch_provisioned(provisioning):
    """site.yml on an instance launched to terminate on power-off, as a careless launch leaves it."""
    ec2 = labctl.ec2_client()
    instance_id = server_instance_id(ec2)
    ec2.modify_instance_attribute(
        InstanceId=instance_id, Attribute="instanceInitiatedShutdownBehavior", Value="terminate"
    )
    run = run_playbook()
    assert run.returncode == 0, run.output[-3000:]
    provisioning.record(run)
    return ec2, instance_id


@pytest.fixture
def no_scheduled_runs():
    """The timer stopped for the test, so that no scheduled run comes in between; then a fresh state."""
    server("systemctl", "stop", "idle-stop.timer")
    yield
    server("rm", "-f", STATE)
    server("systemctl", "start", "idle-stop.timer")


def journal_after(cursor: str) -> str:
    after = [f"--after-cursor={cursor}"] if cursor else []
    return server("journalctl", "--unit=idle-stop.service", *after, "--output=cat", "--no-pager", "--quiet")


def run_check() -> str:
    """Run the check once (a oneshot: start returns when it is over); what this run logged."""
    last = server("journalctl", "--lines=1", "--show-cursor", "--no-pager", "--quiet")
    cursor = last.rpartition("-- cursor: ")[2].strip()
    started = labctl.podman("exec", SERVER, "systemctl", "start", "idle-stop.service", check=False)
    # journald may file the last lines a moment after the service has ended.
    eventually(lambda: DECISION.search(journal_after(cursor)) is not None, bound=10, interval=0.5)
    log = journal_after(cursor)
    assert started.returncode == 0, f"{started.stderr}\n{log}"
    return log


def write_state(idle_minutes: float, warned_minutes_ago: float) -> None:
    """A state file as the check leaves it after that many idle minutes and a warning."""
    now = float(server("date", "+%s"))
    state = {
        "boot_id": server("cat", "/proc/sys/kernel/random/boot_id").strip(),
        "idle_since": now - idle_minutes * 60,
        "warned_at": now - warned_minutes_ago * 60,
    }
    server("sh", "-c", f"mkdir -p /var/lib/idle-stop && cat > {STATE} <<'EOF'\n{json.dumps(state)}\nEOF")


def analyst_sessions() -> bool:
    """Whether sshd on the server runs a session of the analyst."""
    probe = labctl.podman("exec", SERVER, "pgrep", "-u", ANALYST, "-f", f"^sshd: {ANALYST}@", check=False)
    return probe.returncode == 0


@pytest.fixture
def analyst_session():
    """The analyst logged in through the bastion, running a command, until the test ends."""
    with open_analyst_session(120):
        assert eventually(analyst_sessions, bound=30, interval=1), "sshd runs no session of the analyst"
        yield
    eventually(lambda: not analyst_sessions(), bound=15, interval=1)


def test_site_yml_makes_a_power_off_stop_the_instance(careless_launch_provisioned):
    ec2, instance_id = careless_launch_provisioned
    assert shutdown_behaviour(ec2, instance_id) == "stop"


def test_the_lab_never_powers_off_for_real():
    assert "DRY_RUN=true" in server("cat", "/etc/idle-stop.conf").splitlines()


def test_the_timer_is_enabled_and_waiting():
    assert server("systemctl", "is-enabled", "idle-stop.timer").strip() == "enabled"
    assert server("systemctl", "is-active", "idle-stop.timer").strip() == "active"


def test_a_run_logs_its_decision_in_the_journal():
    log = run_check()
    assert DECISION.search(log), log


def test_an_analyst_session_keeps_the_server_busy(analyst_session):
    log = run_check()
    assert re.search(rf"^busy: SSH sessions in use in the last \d+ min: .*{ANALYST} without a terminal", log, re.M), log


def test_an_old_idle_state_would_power_off_and_the_server_stays_up(no_scheduled_runs):
    write_state(idle_minutes=24 * 60, warned_minutes_ago=30)
    log = run_check()
    assert "would power off (dry run)" in log, log
    time.sleep(2)
    assert "poweroff.target" not in server("systemctl", "list-jobs", "--no-legend")
    assert server("systemctl", "is-system-running", check=False).strip() in ("running", "degraded")
