"""What the idle check does on a server the idle_stop role has set up (a dry run, see molecule.yml).

Each test starts idle-stop.service once, as the timer would, and reads what that run
logged in the journal. The container has no SSH session (testinfra works through
podman exec); tests that need an idle history write the state file themselves,
with the timer stopped so that no scheduled run comes in between.
"""

import json
import re
import shlex
import time

import pytest

STATE = "/var/lib/idle-stop/state.json"
DECISION = re.compile(r"^(busy: |idle since )", re.MULTILINE)


def journal_cursor(host) -> str:
    out = host.check_output("journalctl --lines=1 --show-cursor --no-pager --quiet")
    return out.rpartition("-- cursor: ")[2].strip()


def run_check(host) -> str:
    """Run the check once (a oneshot: start returns when it is over); what this run logged."""
    cursor = journal_cursor(host)
    after = f"--after-cursor={shlex.quote(cursor)}" if cursor else ""
    started = host.run("systemctl start idle-stop.service")
    command = f"journalctl --unit=idle-stop.service {after} --output=cat --no-pager --quiet"
    log = host.check_output(command)
    # journald may file the last lines a moment after the service has ended.
    deadline = time.monotonic() + 10
    while not DECISION.search(log) and time.monotonic() < deadline:
        time.sleep(0.5)
        log = host.check_output(command)
    assert started.rc == 0, f"{started.stderr}\n{log}"
    return log


def write_state(host, idle_minutes: float, warned_minutes_ago: float | None = None) -> None:
    """A state file as the check leaves it: idle for that long, warned that long ago (or not)."""
    now = float(host.check_output("date +%s"))
    state = {
        "boot_id": host.check_output("cat /proc/sys/kernel/random/boot_id").strip(),
        "idle_since": now - idle_minutes * 60,
        "warned_at": None if warned_minutes_ago is None else now - warned_minutes_ago * 60,
    }
    host.run_test(f"mkdir -p /var/lib/idle-stop && echo {shlex.quote(json.dumps(state))} > {STATE}")


@pytest.fixture
def no_scheduled_runs(host):
    """The timer stopped for the test; afterwards a fresh state and the timer back."""
    host.run_test("systemctl stop idle-stop.timer")
    yield
    host.run_test(f"rm -f {STATE} && systemctl start idle-stop.timer")


@pytest.fixture
def busy_analyst(host):
    """The jobs account spinning on one core, as a transient unit stopped afterwards."""
    unit = "idle-stop-test-burner"
    host.run_test(f"systemd-run --quiet --uid=analytics-jobs --unit={unit} sh -c 'while :; do :; done'")
    yield
    host.run(f"systemctl stop {unit}.service")


def test_timer_is_enabled_and_waiting(host):
    timer = host.service("idle-stop.timer")
    assert timer.is_enabled
    assert timer.is_running


@pytest.mark.parametrize("setting", ["OnActiveUSec=5min", "OnUnitActiveUSec=5min"])
def test_timer_runs_the_check_every_five_minutes(host, setting):
    assert setting in host.check_output("systemctl show --property=TimersMonotonic idle-stop.timer")


def test_units_pass_systemd_analyze_verify(host):
    result = host.run(
        "systemd-analyze verify --man=no /etc/systemd/system/idle-stop.service /etc/systemd/system/idle-stop.timer"
    )
    assert result.rc == 0, result.stderr
    assert "/etc/systemd/system/idle-stop" not in result.stdout + result.stderr


def test_a_run_logs_its_decision_in_the_journal(host):
    log = run_check(host)
    assert DECISION.search(log), log


def test_an_idle_server_past_the_warning_time_warns_first(host, no_scheduled_runs):
    write_state(host, idle_minutes=55)
    log = run_check(host)
    assert "warning logged-in users: power-off in about 5 min" in log, log
    assert "nobody logged in to warn" in log, log
    assert json.loads(host.file(STATE).content_string)["warned_at"] is not None


def test_an_old_idle_state_would_power_off_and_the_container_keeps_running(host, no_scheduled_runs):
    write_state(host, idle_minutes=120, warned_minutes_ago=30)
    log = run_check(host)
    assert "would power off (dry run)" in log, log
    assert "poweroff.target" not in host.check_output("systemctl list-jobs --no-legend")
    assert host.check_output("systemctl is-system-running || true") in ("running", "degraded")


def test_an_analyst_process_using_cpu_keeps_the_server_busy(host, no_scheduled_runs, busy_analyst):
    write_state(host, idle_minutes=120, warned_minutes_ago=30)
    log = run_check(host)
    busy = re.compile(r"^busy: analysts' processes at [0-9.]+% of a core \(threshold 10%\): analytics-jobs sh ", re.M)
    assert busy.search(log), log
    assert "the announced power-off is called off" in log
    assert json.loads(host.file(STATE).content_string)["idle_since"] is None
