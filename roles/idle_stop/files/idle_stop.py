#!/usr/bin/python3
"""Power the analytics server off once it has been idle for a while (roles/idle_stop).

idle-stop.timer runs this every few minutes. Each run measures, decides and logs
one line saying what it decided and why (the journal keeps it under
idle-stop.service). The rule:

- An SSH session is activity while it runs a command without a terminal
  (ssh host command, scp, sftp), or while its terminal was used in the last
  SESSION_IDLE_MINUTES (the terminal's access time, as `w` shows "idle").
- The analysts' processes are activity while together they use more than
  CPU_THRESHOLD_PERCENT of one core, measured over CPU_SAMPLE_SECONDS (the
  members of USERS_GROUP and the EXTRA_USERS, such as the jobs account).
- Any activity makes the server busy and forgets any idle time and warning.
- Otherwise it is idle since the first run that found it so. From
  IDLE_MINUTES - WARNING_MINUTES of idle time on, the users still logged in
  (idle terminals) are warned once on their terminals. At IDLE_MINUTES, and
  only if that warning went out at an earlier run, the server powers off
  (`systemctl poweroff`), or with DRY_RUN says that it would.

The state (idle since, warned at) lives in a small JSON file with the boot it
belongs to, so a fresh boot starts a fresh idle count. The decision is the pure
function decide(); everything that reads /proc or writes anything is thin and
separate. Standard library only: it runs on the server's own python3.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import grp
import json
import os
import pwd
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

CONFIG = Path("/etc/idle-stop.conf")
STATE = Path("/var/lib/idle-stop/state.json")
PROC = Path("/proc")
DEV = Path("/dev")
BOOT_ID = PROC / "sys" / "kernel" / "random" / "boot_id"
POWEROFF = ("systemctl", "poweroff")

# The title OpenSSH gives a session's unprivileged process: "sshd: ada@pts/0",
# "sshd: ada@pts/0,pts/1" (several terminals), "sshd: ada@notty" (no terminal).
# OpenSSH 9.8 and later run sessions as "sshd-session".
SSH_TITLE = re.compile(r"^sshd(?:-session)?: (?P<user>[^\s@]+)@(?P<ttys>\S+)$")
# Terminals a warning may be written to: pseudo-terminals only.
TTY_NAME = re.compile(r"^pts/[0-9]+$")
TOP_PROCESSES = 3


class ConfigError(ValueError):
    """A settings file the idle check cannot use; the message names the line and the fix."""


@dataclass(frozen=True)
class Settings:
    idle_minutes: int = 60
    warning_minutes: int = 10
    session_idle_minutes: int = 30
    cpu_threshold_percent: float = 10.0
    cpu_sample_seconds: float = 10.0
    users_group: str = "analysts"
    extra_users: tuple[str, ...] = ("analytics-jobs",)
    dry_run: bool = False


@dataclass(frozen=True)
class Session:
    """One terminal of an SSH session (tty None: a session without one) and its idle seconds."""

    user: str
    tty: str | None
    idle_seconds: float | None = None

    @property
    def label(self) -> str:
        if self.tty is None:
            return f"{self.user} without a terminal"
        if self.idle_seconds is None:
            return f"{self.user} on {self.tty}"
        return f"{self.user} on {self.tty} (idle {minutes(self.idle_seconds)} min)"


@dataclass(frozen=True)
class ProcessCpu:
    """A watched user's process and the share of one core it used over the sample."""

    pid: int
    user: str
    command: str
    percent: float


@dataclass(frozen=True)
class State:
    idle_since: float | None = None
    warned_at: float | None = None


@dataclass(frozen=True)
class Decision:
    """What to do now (none, warn or poweroff), why, and the state to keep for the next run."""

    action: str
    reason: str
    idle_since: float | None = None
    warned_at: float | None = None

    @property
    def state(self) -> State:
        return State(self.idle_since, self.warned_at)


# --------------------------------------------------------------------------- the decision


def minutes(seconds: float) -> int:
    """Whole minutes, rounded down: "idle 59 min" until the 60th minute is complete."""
    return int(max(seconds, 0) // 60)


def stamp(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def session_is_active(session: Session, settings: Settings) -> bool:
    """A session without a terminal runs a command; one with a terminal counts while it is used."""
    if session.tty is None or session.idle_seconds is None:
        return True
    return session.idle_seconds < settings.session_idle_minutes * 60


def cpu_text(processes: Iterable[ProcessCpu], settings: Settings) -> str:
    processes = sorted(processes, key=lambda p: p.percent, reverse=True)
    total = sum(p.percent for p in processes)
    text = f"analysts' processes at {total:.1f}% of a core (threshold {settings.cpu_threshold_percent:g}%)"
    top = [f"{p.user} {p.command} (pid {p.pid}) {p.percent:.1f}%" for p in processes[:TOP_PROCESSES] if p.percent > 0]
    return f"{text}: {', '.join(top)}" if top else text


def decide(
    sessions: Iterable[Session],
    processes: Iterable[ProcessCpu],
    state: State,
    now: float,
    settings: Settings,
) -> Decision:
    """The decision for one run, from what was measured and what the last runs left.

    Pure: the caller measures, keeps Decision.state for the next run, and acts.
    "poweroff" is returned whether or not this is a dry run; the caller decides.
    """
    sessions = list(sessions)
    processes = list(processes)
    active = [s for s in sessions if session_is_active(s, settings)]
    total_cpu = sum(p.percent for p in processes)

    busy = []
    if active:
        window = settings.session_idle_minutes
        busy.append(f"SSH sessions in use in the last {window} min: {', '.join(s.label for s in active)}")
    if total_cpu > settings.cpu_threshold_percent:
        busy.append(cpu_text(processes, settings))
    if busy:
        reason = "busy: " + "; ".join(busy)
        if state.warned_at is not None:
            reason += "; the announced power-off is called off"
        return Decision("none", reason)

    idle_since = state.idle_since
    if idle_since is None or idle_since > now:  # a fresh start, or the clock went back
        idle_since = now
    # A warning counts only for the idle period it was given in.
    warned_at = state.warned_at if state.warned_at is not None and idle_since <= state.warned_at <= now else None
    idle_for = now - idle_since
    limit = settings.idle_minutes * 60
    idle_sessions = [s.label for s in sessions]
    why = (
        f"no SSH session used in the last {settings.session_idle_minutes} min"
        + (f" (logged in: {', '.join(idle_sessions)})" if idle_sessions else "")
        + f", {cpu_text(processes, settings)}"
    )
    head = f"idle since {stamp(idle_since)} ({minutes(idle_for)} of {settings.idle_minutes} min): {why}"

    if idle_for >= limit and warned_at is not None:
        return Decision("poweroff", f"{head}; users warned at {stamp(warned_at)}", idle_since, warned_at)
    left = limit - idle_for
    when = f"in about {minutes(left + 59)} min" if left > 0 else "at the next check"
    if idle_for >= limit - settings.warning_minutes * 60:
        if warned_at is None:
            return Decision("warn", f"{head}; warning logged-in users: power-off {when}", idle_since, now)
        return Decision("none", f"{head}; users warned at {stamp(warned_at)}, power-off {when}", idle_since, warned_at)
    return Decision("none", head, idle_since, None)


# --------------------------------------------------------------------------- parsing (pure)


def parse_ssh_title(cmdline: str) -> tuple[str, list[str | None]] | None:
    """(user, terminals) of an SSH session process's title; None for any other process.

    /proc/PID/cmdline of a retitled process is the title padded with NUL bytes.
    A session without a terminal has one entry, None.
    """
    match = SSH_TITLE.match(cmdline.replace("\0", " ").strip())
    if not match:
        return None
    ttys = match["ttys"]
    if ttys == "notty":
        return match["user"], [None]
    return match["user"], [tty or None for tty in ttys.split(",")]


def sessions_from_titles(
    titles: Iterable[tuple[str, str]],
    tty_last_used: Mapping[str, float],
    now: float,
) -> list[Session]:
    """Sessions from (owner, title) pairs of processes and the last use of each terminal.

    The owner is the process's user (the session runs as its user), not the
    title's, which any process can set. A terminal with no known last use has
    no idle time, so it counts as in use.
    """
    sessions = []
    for owner, title in titles:
        parsed = parse_ssh_title(title)
        if parsed is None:
            continue
        for tty in parsed[1]:
            last_used = tty_last_used.get(tty) if tty else None
            idle = None if last_used is None else max(now - last_used, 0.0)
            sessions.append(Session(owner, tty, idle))
    return sessions


def parse_stat(text: str) -> tuple[int, int]:
    """(start time, CPU ticks) of a /proc/PID/stat line.

    The ticks are utime + stime + cutime + cstime: the process's own time and that
    of the children it has waited for, so that short-lived compilers and workers
    count through their parent. The command name (field 2) may hold spaces and
    parentheses, so fields are counted from the last ")".
    """
    _, paren, rest = text.rpartition(")")
    fields = rest.split()
    if not paren or len(fields) < 20:
        raise ValueError(f"not a /proc/PID/stat line: {text[:80]!r}")
    # fields[0] is field 3 (state): utime..cstime are fields 14-17, starttime is 22.
    utime, stime, cutime, cstime = (int(value) for value in fields[11:15])
    return int(fields[19]), utime + stime + cutime + cstime


def cpu_percentages(
    before: Mapping[int, tuple[int, int]],
    after: Mapping[int, tuple[int, int]],
    seconds: float,
    clock_ticks: int,
    sampled_from: int,
) -> dict[int, float]:
    """Per process, the percent of one core used between two samples of (start time, ticks).

    A process in the second sample only counts in full if it started after the
    first sample (sampled_from, in ticks since boot); one whose PID was reused
    counts from its start. Others that appeared (not readable before) are left out.
    """
    if seconds <= 0:
        raise ValueError("the sample must last longer than 0 seconds")
    percentages = {}
    for pid, (start, ticks) in after.items():
        prior = before.get(pid)
        if prior is not None and prior[0] == start:
            used = ticks - prior[1]
        elif start >= sampled_from:
            used = ticks
        else:
            continue
        percentages[pid] = max(used, 0) / clock_ticks / seconds * 100
    return percentages


def parse_state(text: str | None, boot_id: str) -> tuple[State, str | None]:
    """The state a previous run left, and a note when it cannot be used (the run starts fresh)."""
    if text is None:
        return State(), None
    try:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        values = [data.get("idle_since"), data.get("warned_at")]
        if not all(v is None or (isinstance(v, int | float) and not isinstance(v, bool)) for v in values):
            raise ValueError("idle_since and warned_at must be numbers or null")
    except ValueError as err:
        return State(), f"the state file is unreadable ({err}); starting a fresh idle count"
    if data.get("boot_id") != boot_id:
        return State(), "the state file is from an earlier boot; starting a fresh idle count"
    idle_since, warned_at = values
    if idle_since is None:
        warned_at = None
    return State(idle_since, warned_at), None


def dump_state(state: State, boot_id: str) -> str:
    return json.dumps({"boot_id": boot_id, "idle_since": state.idle_since, "warned_at": state.warned_at}) + "\n"


BOOLEANS = {"true": True, "false": False}


def parse_config(text: str) -> Settings:
    """Settings from KEY=value lines (# starts a comment); keys left out keep their defaults."""
    fields: dict[str, object] = {}
    converters: dict[str, Callable[[str], object]] = {
        "IDLE_MINUTES": int,
        "WARNING_MINUTES": int,
        "SESSION_IDLE_MINUTES": int,
        "CPU_THRESHOLD_PERCENT": float,
        "CPU_SAMPLE_SECONDS": float,
        "USERS_GROUP": str,
        "EXTRA_USERS": lambda value: tuple(value.split()),
        "DRY_RUN": lambda value: BOOLEANS[value.lower()],
    }
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, equals, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if not equals or key not in converters:
            known = ", ".join(converters)
            raise ConfigError(f"line {number}: {raw!r} is not KEY=value with a known key ({known})")
        try:
            fields[key.lower()] = converters[key](value)
        except (KeyError, ValueError):
            raise ConfigError(f"line {number}: {key} has a value of the wrong kind: {value!r}") from None
    settings = Settings(**fields)  # type: ignore[arg-type]
    problems = []
    if settings.idle_minutes < 1:
        problems.append("IDLE_MINUTES must be at least 1")
    if not 0 <= settings.warning_minutes < settings.idle_minutes:
        problems.append("WARNING_MINUTES must be at least 0 and below IDLE_MINUTES")
    if settings.session_idle_minutes < 1:
        problems.append("SESSION_IDLE_MINUTES must be at least 1")
    if settings.cpu_threshold_percent <= 0:
        problems.append("CPU_THRESHOLD_PERCENT must be above 0")
    if not 1 <= settings.cpu_sample_seconds <= 30:
        problems.append("CPU_SAMPLE_SECONDS must be between 1 and 30")
    if problems:
        raise ConfigError("; ".join(problems))
    return settings


# --------------------------------------------------------------------------- the system (thin)


def log(message: str, level: int = 6) -> None:
    """One line to the journal (stdout under systemd); a syslog level prefix only there."""
    prefix = f"<{level}>" if os.environ.get("JOURNAL_STREAM") else ""
    print(f"{prefix}{message}", flush=True)


def watched_uids(settings: Settings) -> tuple[dict[int, str], list[str]]:
    """{uid: name} of the users whose processes count, and notes on names that do not exist."""
    names: set[str] = set()
    notes = []
    try:
        group = grp.getgrnam(settings.users_group)
    except KeyError:
        notes.append(f"group {settings.users_group} does not exist; watching the extra users only")
    else:
        names.update(group.gr_mem)
        names.update(entry.pw_name for entry in pwd.getpwall() if entry.pw_gid == group.gr_gid)
    uids = {}
    for name in sorted(names | set(settings.extra_users)):
        try:
            uids[pwd.getpwnam(name).pw_uid] = name
        except KeyError:
            notes.append(f"user {name} does not exist; not watched")
    return uids, notes


def pids() -> list[int]:
    return [int(entry.name) for entry in PROC.iterdir() if entry.name.isdigit()]


def read_text(path: Path) -> str | None:
    """A /proc file's text, or None when the process has gone in the meantime."""
    try:
        return path.read_bytes().decode(errors="replace")
    except OSError:
        return None


def owner(pid: int) -> int | None:
    try:
        return (PROC / str(pid)).stat().st_uid
    except OSError:
        return None


def stat_sample(uids: Mapping[int, str]) -> dict[int, tuple[int, int]]:
    sample = {}
    for pid in pids():
        if owner(pid) not in uids:
            continue
        text = read_text(PROC / str(pid) / "stat")
        try:
            sample[pid] = parse_stat(text or "")
        except ValueError:
            continue  # gone in the meantime
    return sample


def measure_cpu(uids: Mapping[int, str], seconds: float) -> list[ProcessCpu]:
    """The watched users' processes and their CPU use over a sample of the given length."""
    if not uids:
        return []
    clock_ticks = os.sysconf("SC_CLK_TCK")
    uptime = float((PROC / "uptime").read_text().split()[0])
    started = time.monotonic()
    before = stat_sample(uids)
    time.sleep(seconds)
    after = stat_sample(uids)
    elapsed = time.monotonic() - started
    result = []
    for pid, percent in cpu_percentages(before, after, elapsed, clock_ticks, int(uptime * clock_ticks)).items():
        uid = owner(pid)
        comm = (read_text(PROC / str(pid) / "comm") or "?").strip()
        result.append(ProcessCpu(pid, uids.get(uid, str(uid)) if uid is not None else "?", comm, percent))
    return result


def user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def ssh_sessions(now: float) -> list[Session]:
    """The SSH sessions on this host, from the titles of sshd's session processes."""
    titles = []
    for pid in pids():
        uid = owner(pid)
        title = read_text(PROC / str(pid) / "cmdline")
        if uid is not None and title and title.startswith("sshd"):
            titles.append((user_name(uid), title))
    last_used = {}
    for _, title in titles:
        parsed = parse_ssh_title(title)
        for tty in parsed[1] if parsed else []:
            if tty and TTY_NAME.match(tty):
                with contextlib.suppress(OSError):  # the session ended in the meantime
                    last_used[tty] = (DEV / tty).stat().st_atime
    return sessions_from_titles(titles, last_used, now)


def warn_terminals(sessions: Iterable[Session], message: str) -> list[str]:
    """Write the message to each session's terminal that belongs to its user; the ones reached."""
    reached = []
    for session in sessions:
        if session.tty is None or not TTY_NAME.match(session.tty):
            continue
        path = DEV / session.tty
        try:
            # Only the user's own terminal: a process title is no proof of a session.
            if user_name(path.stat().st_uid) != session.user:
                continue
            fd = os.open(path, os.O_WRONLY | os.O_NOCTTY | os.O_NONBLOCK)
            try:
                os.write(fd, f"\r\n\a*** {message} ***\r\n".encode())
            finally:
                os.close(fd)
        except OSError:
            continue
        reached.append(f"{session.user} on {session.tty}")
    return reached


def read_boot_id() -> str:
    return BOOT_ID.read_text().strip()


def load_state(path: Path, boot_id: str) -> State:
    try:
        text = path.read_text()
    except FileNotFoundError:
        text = None
    except (OSError, UnicodeDecodeError) as err:
        text = f"<{err}>"
    state, note = parse_state(text, boot_id)
    if note:
        log(f"{path}: {note}", level=4)
    return state


def save_state(path: Path, state: State, boot_id: str) -> None:
    """Replace the state file in one step, so that a crash leaves the old one or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".new")
    partial.write_text(dump_state(state, boot_id))
    partial.replace(path)


def system_poweroff() -> int:
    return subprocess.run(POWEROFF, check=False).returncode


@dataclass
class Observation:
    sessions: list[Session]
    processes: list[ProcessCpu]
    now: float


def observe(settings: Settings) -> Observation:
    uids, notes = watched_uids(settings)
    for note in notes:
        log(note, level=4)
    processes = measure_cpu(uids, settings.cpu_sample_seconds)
    now = time.time()
    return Observation(ssh_sessions(now), processes, now)


def run_once(
    settings: Settings,
    state_path: Path,
    boot_id: str,
    observation: Observation,
    warn: Callable[[list[Session], str], list[str]] = warn_terminals,
    poweroff: Callable[[], int] = system_poweroff,
) -> int:
    """Decide on what was observed, keep the state, log the decision and act on it."""
    state = load_state(state_path, boot_id)
    decision = decide(observation.sessions, observation.processes, state, observation.now, settings)
    save_state(state_path, decision.state, boot_id)

    if decision.action == "warn":
        log(decision.reason)
        message = (
            f"idle-stop: this server has been idle since {stamp(decision.idle_since or observation.now)} and "
            f"powers off after {settings.idle_minutes} idle minutes. Use your terminal or start work to keep it up."
        )
        reached = warn(observation.sessions, message)
        log(f"warned {', '.join(reached)}" if reached else "nobody logged in to warn")
        return 0
    if decision.action == "poweroff":
        if settings.dry_run:
            log(f"{decision.reason}; would power off (dry run)")
            return 0
        log(f"{decision.reason}; powering off", level=5)
        code = poweroff()
        if code != 0:
            log(f"{' '.join(POWEROFF)} failed with exit code {code}", level=3)
            return 1
        return 0
    log(decision.reason)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, default=CONFIG, help=f"settings file (default {CONFIG})")
    parser.add_argument("--state", type=Path, default=STATE, help=f"state file (default {STATE})")
    parser.add_argument("--dry-run", action="store_true", help="say that the server would power off, never do it")
    parser.add_argument("--check-config", type=Path, metavar="PATH", help="check a settings file and exit")
    args = parser.parse_args(argv)

    # No settings file, no run: the defaults include powering off for real.
    config = args.check_config or args.config
    try:
        settings = parse_config(config.read_text())
    except (ConfigError, OSError, UnicodeDecodeError) as err:
        print(f"idle_stop: {config}: {err}", file=sys.stderr)
        return 2
    if args.check_config:
        print(f"idle_stop: {config}: {settings}")
        return 0
    if args.dry_run:
        settings = dataclasses.replace(settings, dry_run=True)
    return run_once(settings, args.state, read_boot_id(), observe(settings))


if __name__ == "__main__":
    sys.exit(main())
