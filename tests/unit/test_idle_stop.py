"""The idle check of roles/idle_stop: its decision on constructed inputs, its parsing, its runner.

The script is imported by path (it is installed on the server, not a package here).
Times are seconds since the epoch; NOW is an arbitrary fixed instant.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "roles" / "idle_stop" / "files" / "idle_stop.py"


def load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


idle_stop = load("idle_stop", SCRIPT)
Decision = idle_stop.Decision
ProcessCpu = idle_stop.ProcessCpu
Session = idle_stop.Session
Settings = idle_stop.Settings
State = idle_stop.State
decide = idle_stop.decide

NOW = 1_750_000_000.0
MIN = 60.0
BOOT = "0f5c3a55-8a0c-4d3e-9d57-3c8e0d1c2b7a"
SETTINGS = Settings(idle_minutes=60, warning_minutes=10, session_idle_minutes=30, cpu_threshold_percent=10)
QUIET = [ProcessCpu(812, "ada", "python3", 0.4)]


def idle_for(minutes: float, warned_minutes_ago: float | None = None) -> State:
    warned_at = None if warned_minutes_ago is None else NOW - warned_minutes_ago * MIN
    return State(idle_since=NOW - minutes * MIN, warned_at=warned_at)


# --------------------------------------------------------------------------- the decision


def test_a_recently_used_terminal_keeps_the_server_busy():
    decision = decide([Session("ada", "pts/0", 5 * MIN)], QUIET, idle_for(50), NOW, SETTINGS)
    assert decision.action == "none"
    assert decision.reason.startswith("busy: SSH sessions in use in the last 30 min: ada on pts/0 (idle 5 min)")
    assert decision.state == State()


def test_a_session_without_a_terminal_keeps_the_server_busy():
    decision = decide([Session("ada", None)], [], State(), NOW, SETTINGS)
    assert (decision.action, decision.reason) == (
        "none",
        "busy: SSH sessions in use in the last 30 min: ada without a terminal",
    )


def test_cpu_above_the_threshold_keeps_the_server_busy_and_names_the_processes():
    processes = [ProcessCpu(900, "analytics-jobs", "python3", 85.0), ProcessCpu(901, "ada", "R", 4.0)]
    decision = decide([], processes, idle_for(50), NOW, SETTINGS)
    assert decision.action == "none"
    assert decision.reason == (
        "busy: analysts' processes at 89.0% of a core (threshold 10%): "
        "analytics-jobs python3 (pid 900) 85.0%, ada R (pid 901) 4.0%"
    )
    assert decision.state == State()


def test_cpu_of_several_processes_counts_together():
    processes = [ProcessCpu(pid, "ada", "worker", 3.0) for pid in range(1, 5)]
    assert decide([], processes, State(), NOW, SETTINGS).reason.startswith("busy: analysts' processes at 12.0%")


def test_cpu_at_the_threshold_is_not_busy():
    decision = decide([], [ProcessCpu(1, "ada", "python3", 10.0)], State(), NOW, SETTINGS)
    assert decision.reason.startswith("idle since")


def test_an_idle_start_records_idle_since():
    decision = decide([Session("ada", "pts/1", 45 * MIN)], QUIET, State(), NOW, SETTINGS)
    assert decision == Decision(
        "none",
        "idle since 2025-06-15 15:06:40 UTC (0 of 60 min): no SSH session used in the last 30 min "
        "(logged in: ada on pts/1 (idle 45 min)), analysts' processes at 0.4% of a core (threshold 10%): "
        "ada python3 (pid 812) 0.4%",
        idle_since=NOW,
    )


def test_idle_time_accumulates_across_runs():
    decision = decide([], [], idle_for(20), NOW, SETTINGS)
    assert decision.action == "none"
    assert "(20 of 60 min)" in decision.reason
    assert decision.state == idle_for(20)


def test_idle_long_enough_warns_once():
    first = decide([], [], idle_for(50), NOW, SETTINGS)
    assert first.action == "warn"
    assert first.reason.endswith("warning logged-in users: power-off in about 10 min")
    assert first.state == State(NOW - 50 * MIN, NOW)

    later = NOW + 5 * MIN
    second = decide([], [], first.state, later, SETTINGS)
    assert second.action == "none"
    assert "users warned at 2025-06-15 15:06:40 UTC, power-off in about 5 min" in second.reason
    assert second.state == first.state


def test_idle_long_enough_powers_off_after_the_warning():
    decision = decide([], [], idle_for(61, warned_minutes_ago=11), NOW, SETTINGS)
    assert decision.action == "poweroff"
    assert decision.reason.startswith("idle since 2025-06-15 14:05:40 UTC (61 of 60 min)")
    assert decision.state == idle_for(61, warned_minutes_ago=11)


def test_a_missed_warning_window_warns_before_any_power_off():
    decision = decide([], [], idle_for(90), NOW, SETTINGS)
    assert decision.action == "warn"
    assert decision.reason.endswith("power-off at the next check")


def test_activity_after_a_warning_resets_the_count():
    decision = decide([Session("ada", "pts/0", 10.0)], [], idle_for(55, warned_minutes_ago=5), NOW, SETTINGS)
    assert decision.action == "none"
    assert decision.reason.endswith("the announced power-off is called off")
    assert decision.state == State()
    # The next idle run starts from zero and warns again only near the end.
    assert decide([], [], decision.state, NOW + MIN, SETTINGS).state == State(NOW + MIN, None)


def test_a_warning_from_an_earlier_idle_period_does_not_count():
    state = State(idle_since=NOW - 61 * MIN, warned_at=NOW - 120 * MIN)
    assert decide([], [], state, NOW, SETTINGS).action == "warn"


def test_an_idle_since_in_the_future_restarts_the_count():
    assert decide([], [], State(idle_since=NOW + 3600), NOW, SETTINGS).state == State(NOW, None)


# --------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("title", "parsed"),
    [
        pytest.param("sshd: ada@pts/0" + "\0" * 20, ("ada", ["pts/0"]), id="terminal"),
        pytest.param("sshd: ada@pts/0,pts/3", ("ada", ["pts/0", "pts/3"]), id="two-terminals"),
        pytest.param("sshd: analytics-jobs@notty", ("analytics-jobs", [None]), id="no-terminal"),
        pytest.param("sshd-session: ada@pts/2", ("ada", ["pts/2"]), id="openssh-9.8"),
        pytest.param("sshd: ada [priv]", None, id="privileged-monitor"),
        pytest.param("sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups", None, id="listener"),
        pytest.param("/usr/bin/python3\0train.py\0", None, id="other-process"),
    ],
)
def test_ssh_process_titles_are_parsed(title, parsed):
    assert idle_stop.parse_ssh_title(title) == parsed


def test_sessions_come_from_titles_and_terminal_times():
    titles = [
        ("root", "sshd: ada [priv]"),
        ("ada", "sshd: ada@pts/0,pts/3"),
        ("analytics-jobs", "sshd: analytics-jobs@notty"),
        ("ada", "bash"),
        # A title names a user; the process's owner is who it is.
        ("mallory", "sshd: ada@pts/9"),
    ]
    last_used = {"pts/0": NOW - 120, "pts/3": NOW - 45 * MIN}
    assert idle_stop.sessions_from_titles(titles, last_used, NOW) == [
        Session("ada", "pts/0", 120.0),
        Session("ada", "pts/3", 45 * MIN),
        Session("analytics-jobs", None, None),
        Session("mallory", "pts/9", None),
    ]


def stat_line(pid: int, comm: str, utime: int, stime: int, cutime: int = 0, cstime: int = 0, start: int = 5000) -> str:
    """A /proc/PID/stat line as Linux writes it (52 fields), with the fields that matter set."""
    fields = ["S", "1", str(pid), str(pid), "0", "-1", "4194304", "120", "0", "0", "0"]
    fields += [str(utime), str(stime), str(cutime), str(cstime), "20", "0", "1", "0", str(start)]
    fields += ["0"] * 30
    return f"{pid} ({comm}) " + " ".join(fields) + "\n"


def test_a_stat_line_gives_start_time_and_ticks_with_reaped_children():
    assert idle_stop.parse_stat(stat_line(812, "python3", 1200, 300, 40, 10, start=777)) == (777, 1550)


def test_a_command_name_with_spaces_and_parentheses_is_skipped_over():
    assert idle_stop.parse_stat(stat_line(9, "evil) 1 2 (x", 7, 3, start=11)) == (11, 10)


def test_a_truncated_stat_line_is_refused():
    with pytest.raises(ValueError, match="not a /proc/PID/stat line"):
        idle_stop.parse_stat("812 (python3) S 1 812")


def test_cpu_percent_is_the_tick_delta_over_the_sample():
    # 100 ticks a second: 800 ticks in 10 s are 80% of one core.
    before = {812: (5000, 1000), 813: (5000, 50), 814: (4000, 99)}
    after = {812: (5000, 1800), 813: (5000, 50), 814: (9000, 30), 815: (9100, 20), 816: (100, 5000)}
    assert idle_stop.cpu_percentages(before, after, 10.0, 100, sampled_from=9000) == {
        812: 80.0,
        813: 0.0,
        # PID 814 was reused by a process started within the sample: counted from its start.
        814: 3.0,
        815: 2.0,
        # PID 816 is older than the sample but was not read before: left out rather than counted whole.
    }


def test_cpu_percent_of_a_sample_without_length_is_refused():
    with pytest.raises(ValueError, match="longer than 0 seconds"):
        idle_stop.cpu_percentages({}, {}, 0, 100, 0)


@pytest.mark.parametrize(
    ("text", "note"),
    [
        pytest.param("{not json", "the state file is unreadable", id="not-json"),
        pytest.param("[1, 2]", "the state file is unreadable (not a JSON object)", id="not-an-object"),
        pytest.param(
            json.dumps({"boot_id": BOOT, "idle_since": "yesterday"}), "must be numbers or null", id="bad-time"
        ),
        pytest.param('{"boot_id": "other", "idle_since": 1.0}', "from an earlier boot", id="earlier-boot"),
    ],
)
def test_an_unusable_state_starts_fresh_with_a_note(text, note):
    state, message = idle_stop.parse_state(text, BOOT)
    assert state == State()
    assert note in message


def test_a_state_round_trips():
    state = State(NOW - 600, NOW - 60)
    assert idle_stop.parse_state(idle_stop.dump_state(state, BOOT), BOOT) == (state, None)


def test_a_missing_state_starts_fresh_without_a_note():
    assert idle_stop.parse_state(None, BOOT) == (State(), None)


def test_the_settings_file_is_read():
    text = "# managed\nIDLE_MINUTES=30\nWARNING_MINUTES=5\nEXTRA_USERS=analytics-jobs etl\nDRY_RUN=true\n"
    settings = idle_stop.parse_config(text)
    assert (settings.idle_minutes, settings.warning_minutes, settings.dry_run) == (30, 5, True)
    assert settings.extra_users == ("analytics-jobs", "etl")
    assert settings.cpu_threshold_percent == 10


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("IDLE_MINUTE=30\n", "line 1: 'IDLE_MINUTE=30' is not KEY=value with a known key", id="typo"),
        pytest.param("IDLE_MINUTES=soon\n", "line 1: IDLE_MINUTES has a value of the wrong kind", id="not-a-number"),
        pytest.param("DRY_RUN=yes\n", "DRY_RUN has a value of the wrong kind", id="not-a-boolean"),
        pytest.param(
            "IDLE_MINUTES=10\nWARNING_MINUTES=10\n", "WARNING_MINUTES must be at least 0 and below", id="warn"
        ),
        pytest.param("CPU_SAMPLE_SECONDS=0\n", "CPU_SAMPLE_SECONDS must be between 1 and 30", id="sample"),
    ],
)
def test_a_bad_settings_file_is_refused_with_the_fix(text, message):
    with pytest.raises(idle_stop.ConfigError, match=message):
        idle_stop.parse_config(text)


# --------------------------------------------------------------------------- the runner


class Recorder:
    """Stands in for the terminals and systemctl: records what the runner asked of them."""

    def __init__(self, poweroff_code: int = 0):
        self.warnings: list[tuple[list, str]] = []
        self.poweroffs = 0
        self.poweroff_code = poweroff_code

    def warn(self, sessions, message):
        self.warnings.append((sessions, message))
        return [f"{s.user} on {s.tty}" for s in sessions if s.tty]

    def poweroff(self):
        self.poweroffs += 1
        return self.poweroff_code


def run(tmp_path, state, observation, settings=SETTINGS, recorder=None):
    recorder = recorder or Recorder()
    path = tmp_path / "state.json"
    if state is not None:
        path.write_text(state if isinstance(state, str) else idle_stop.dump_state(state, BOOT))
    code = idle_stop.run_once(settings, path, BOOT, observation, recorder.warn, recorder.poweroff)
    return code, recorder, json.loads(path.read_text())


def idle_observation(sessions=()):
    return idle_stop.Observation(list(sessions), [], NOW)


def test_a_corrupt_state_file_is_treated_as_fresh_with_a_logged_note(tmp_path, capsys):
    code, _, saved = run(tmp_path, "{truncated", idle_observation())
    out = capsys.readouterr().out
    assert code == 0
    assert "state.json: the state file is unreadable" in out
    assert "starting a fresh idle count" in out
    assert "idle since" in out
    assert saved == {"boot_id": BOOT, "idle_since": NOW, "warned_at": None}


def test_the_runner_warns_the_logged_in_terminals(tmp_path, capsys):
    session = Session("ada", "pts/4", 50 * MIN)
    code, recorder, saved = run(tmp_path, idle_for(51), idle_observation([session]))
    assert code == 0
    assert [sessions for sessions, _ in recorder.warnings] == [[session]]
    assert "powers off after 60 idle minutes" in recorder.warnings[0][1]
    assert "warned ada on pts/4" in capsys.readouterr().out
    assert saved["warned_at"] == NOW


def test_a_dry_run_says_it_would_power_off_and_does_not(tmp_path, capsys):
    settings = Settings(**{**SETTINGS.__dict__, "dry_run": True})
    code, recorder, saved = run(tmp_path, idle_for(70, warned_minutes_ago=10), idle_observation(), settings)
    assert code == 0
    assert recorder.poweroffs == 0
    assert "; would power off (dry run)" in capsys.readouterr().out
    # The state stays, so every later run says the same until there is activity.
    assert saved["idle_since"] == NOW - 70 * MIN


def test_a_real_run_powers_off(tmp_path, capsys):
    code, recorder, _ = run(tmp_path, idle_for(70, warned_minutes_ago=10), idle_observation())
    assert (code, recorder.poweroffs) == (0, 1)
    assert "; powering off" in capsys.readouterr().out


def test_a_failed_power_off_is_logged_and_fails_the_run(tmp_path, capsys):
    code, _, _ = run(tmp_path, idle_for(70, warned_minutes_ago=10), idle_observation(), recorder=Recorder(1))
    assert code == 1
    assert "systemctl poweroff failed with exit code 1" in capsys.readouterr().out


def test_main_refuses_to_run_without_a_settings_file(tmp_path, capsys):
    assert idle_stop.main(["--config", str(tmp_path / "missing.conf"), "--state", str(tmp_path / "s.json")]) == 2
    assert "missing.conf" in capsys.readouterr().err


def test_check_config_accepts_a_good_file_and_refuses_a_bad_one(tmp_path):
    good, bad = tmp_path / "good.conf", tmp_path / "bad.conf"
    good.write_text("IDLE_MINUTES=45\n")
    bad.write_text("IDLE_MINUTES=0\n")
    assert idle_stop.main(["--check-config", str(good)]) == 0
    assert idle_stop.main(["--check-config", str(bad)]) == 2


# --------------------------------------------------------------------------- the shutdown behaviour


@pytest.fixture
def ec2(aws_client):
    """A moto EC2 with one instance launched to terminate on power-off, as a careless launch would."""
    client = aws_client("ec2")
    image = client.describe_images()["Images"][0]["ImageId"]
    instance = client.run_instances(
        ImageId=image, MinCount=1, MaxCount=1, InstanceInitiatedShutdownBehavior="terminate"
    )["Instances"][0]
    return client, instance["InstanceId"]


@pytest.fixture(scope="module")
def shutdown_module(role_module):
    return role_module("idle_stop", "ec2_shutdown_behavior")


def behaviour(client, instance_id):
    answer = client.describe_instance_attribute(InstanceId=instance_id, Attribute="instanceInitiatedShutdownBehavior")
    return answer["InstanceInitiatedShutdownBehavior"]["Value"]


def test_the_module_sets_stop_once(ec2, shutdown_module):
    client, instance_id = ec2
    assert shutdown_module.ensure_shutdown_behavior(client, instance_id, "stop", False) == (True, "terminate")
    assert behaviour(client, instance_id) == "stop"
    assert shutdown_module.ensure_shutdown_behavior(client, instance_id, "stop", False) == (False, "stop")


def test_the_module_changes_nothing_in_check_mode(ec2, shutdown_module):
    client, instance_id = ec2
    assert shutdown_module.ensure_shutdown_behavior(client, instance_id, "stop", True) == (True, "terminate")
    assert behaviour(client, instance_id) == "terminate"
