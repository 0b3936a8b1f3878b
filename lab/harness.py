"""Run playbooks against the lab and read what happened there.

Shared by the lab tests (tests/lab) and the benchmark (bench/bench_site.py), so
both measure the same thing: ansible-playbook as a user runs it, with the lab's
environment, and the containers' own sshd logs as the witness.
"""

from __future__ import annotations

import os
import re
import select
import shlex
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from lab import labctl

ROOT = labctl.ROOT
LAB_INVENTORY = "inventory/lab.aws_ec2.yml"
RECAP_LINE = re.compile(r"^(?P<host>\S+)\s+:\s+(?P<counts>(?:\w+=\d+\s*)+)$", re.M)
ACCEPTED = re.compile(r"Accepted publickey for (?P<user>\S+) from (?P<address>\S+) port")


@dataclass
class Run:
    """One ansible-playbook run: exit code, combined output, seconds, recap by host."""

    returncode: int
    output: str
    seconds: float

    @property
    def recap(self) -> dict[str, dict[str, int]]:
        return parse_recap(self.output)

    @property
    def tasks(self) -> int:
        """Tasks and handlers that ran (their headers in the default callback's output)."""
        return len(re.findall(r"^(?:TASK|RUNNING HANDLER) \[", self.output, flags=re.M))


def parse_recap(output: str) -> dict[str, dict[str, int]]:
    """The PLAY RECAP counters: {"host": {"ok": 3, "changed": 0, ...}}."""
    recap_start = output.rfind("PLAY RECAP")
    if recap_start < 0:
        return {}
    recap = {}
    for match in RECAP_LINE.finditer(output[recap_start:]):
        pairs = (item.split("=") for item in match["counts"].split())
        recap[match["host"]] = {key: int(value) for key, value in pairs}
    return recap


def lab_env() -> dict[str, str]:
    """The process environment plus the lab's exports (.lab/env, written by `labctl up`)."""
    env = dict(os.environ)
    for line in (labctl.STATE / "env").read_text().splitlines():
        key, _, value = line.removeprefix("export ").partition("=")
        env[key] = shlex.split(value)[0]
    env.update({"ANSIBLE_FORCE_COLOR": "0", "PY_COLORS": "0", "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")})
    return env


def run_playbook(
    playbook: str = "site.yml",
    *args: str,
    set_env: dict[str, str] | None = None,
    unset_env: tuple[str, ...] = (),
    timeout: int = 600,
) -> Run:
    """Run a playbook on the lab with a fresh SSH control folder.

    A fresh ControlPath folder means the run opens its own SSH connections, as a
    new user's run would, instead of reusing a master left by an earlier run.
    """
    env = lab_env()
    env.update(set_env or {})
    for key in unset_env:
        env.pop(key, None)
    with tempfile.TemporaryDirectory(prefix="alab-cp-") as control_dir:
        env["ANSIBLE_SSH_CONTROL_PATH_DIR"] = control_dir
        cmd = ["ansible-playbook", "-i", LAB_INVENTORY, playbook, *args]
        start = time.monotonic()
        # stdin from /dev/null: ansible-playbook refuses a non-blocking stdin, which an
        # earlier ssh sharing the test runner's stdin may have left behind.
        proc = subprocess.run(
            cmd,
            cwd=ROOT,
            env=env,
            text=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=timeout,
        )
        seconds = time.monotonic() - start
        # Close the run's control masters so that they do not outlive the folder.
        for socket_path in Path(control_dir).iterdir():
            subprocess.run(["ssh", "-O", "exit", "-o", f"ControlPath={socket_path}", "lab"], capture_output=True)
    return Run(proc.returncode, proc.stdout, seconds)


def eventually(check: Callable[[], bool], bound: float, interval: float = 3.0) -> bool:
    """Whether check() turns true within bound seconds (polled, bounded)."""
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval)
    return check()


def container_exec(container: str, *cmd: str, check: bool = True) -> str:
    return labctl.podman("exec", container, *cmd, check=check).stdout


def tcp_connects(container: str, address: str, port: int, timeout: int = 5, user: str = "root") -> bool:
    """Whether a TCP connection from inside a container, opened by user's process, opens within timeout seconds."""
    script = f"exec 3<>/dev/tcp/{address}/{port}"
    as_user = ("runuser", "-u", user, "--") if user != "root" else ()
    proc = labctl.podman("exec", container, *as_user, "timeout", str(timeout), "bash", "-c", script, check=False)
    return proc.returncode == 0


def end_process(proc: subprocess.Popen, timeout: float) -> None:
    """Terminate a local process, kill it if it outlives timeout seconds, and reap it."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)


def accepted_logins(node: labctl.Node) -> list[tuple[str, str]]:
    """(user, source address) of every public-key login the node's sshd accepted."""
    journal = container_exec(node.container, "journalctl", "--no-pager", "-o", "cat", "-u", "ssh")
    return [(m["user"], m["address"]) for m in ACCEPTED.finditer(journal)]


# The system's configuration and data folders, where nothing may change before a run starts.
DATA_FOLDERS = ("/etc", "/srv", "/home", "/usr", "/opt", "/root")
# The folders whose files site.yml writes, and where a no-op run writes nothing.
SYSTEM_FOLDERS = ("/etc", "/usr", "/opt", "/boot")


def files_changed_since(node: labctl.Node, marker: str, folders: tuple[str, ...] = DATA_FOLDERS) -> list[str]:
    """Files under folders newer than marker (a LabError when the marker is gone)."""
    return container_exec(node.container, "find", *folders, "-xdev", "-newer", marker).split()


STATE_MARKER = "/run/alab-state-marker"


def ruleset_shape(node: labctl.Node) -> str:
    """The node's loaded nftables ruleset without counters or dynamic set elements."""
    return container_exec(node.container, "nft", "--stateless", "--terse", "list", "ruleset")


@dataclass(frozen=True)
class StateMark:
    """A node as it was at one moment: a marker file's time (in /run) and its firewall's shape."""

    node: labctl.Node
    ruleset: str


def mark_state(node: labctl.Node) -> StateMark:
    container_exec(node.container, "touch", STATE_MARKER)
    return StateMark(node, ruleset_shape(node))


def changes_since(mark: StateMark) -> list[str]:
    """What differs on the node since the mark: system files written, a changed ruleset, a restart.

    Empty when the node is as it was. A restart empties /run, so the marker's
    absence counts as a change too.
    """
    node = mark.node
    try:
        changes = [f"{node.container}:{path}" for path in files_changed_since(node, STATE_MARKER, SYSTEM_FOLDERS)]
    except labctl.LabError as err:
        return [f"{node.container}: {STATE_MARKER} is gone or unreadable (restarted?): {err}"]
    if ruleset_shape(node) != mark.ruleset:
        changes.append(f"{node.container}: the nftables ruleset")
    return changes


# The lab's analyst (inventory/group_vars/env_lab.yml) and the key `make lab` made for her.
ANALYST = "ada"
ANALYST_KEY = labctl.STATE / "analyst_ed25519"


def analyst_ssh_command(*args: str, jump: bool = True) -> list[str]:
    """ssh as the analyst with her key only; through the bastion as herself unless jump=False.

    The jump is a ProxyCommand running `ssh -W` as the analyst, as her own ssh
    would make it (-J would log in to the bastion with the lab's admin key).
    """
    config = labctl.STATE / "ssh_config"
    options = ["-F", str(config), "-i", str(ANALYST_KEY), "-o", "BatchMode=yes"]
    if jump:
        bastion = labctl.BASTION.addresses[0][1]
        options += ["-o", f"ProxyCommand=ssh {' '.join(options)} -W %h:%p {ANALYST}@{bastion}"]
    return ["ssh", *options, *args]


class HeldForwards:
    """ada's `ssh -W` jumps to the server's sshd that never authenticate, each re-opened when it ends.

    Each holds one of the server's unauthenticated connection slots until sshd
    drops it (LoginGraceTime), as an analyst starving the server's logins would.
    `refused` counts the jumps the bastion refused ("connect failed").
    """

    def __init__(self, count: int) -> None:
        server = labctl.SERVER.addresses[0][1]
        bastion = labctl.BASTION.addresses[0][1]
        self.command = [
            "ssh", "-F", str(labctl.STATE / "ssh_config"), "-i", str(ANALYST_KEY), "-o", "BatchMode=yes",
            "-W", f"{server}:22", f"{ANALYST}@{bastion}",
        ]  # fmt: skip
        self.procs: list[subprocess.Popen | None] = [None] * count
        self.started: dict[subprocess.Popen, float] = {}
        self.refused = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.hold, daemon=True)

    def open(self) -> subprocess.Popen:
        proc = subprocess.Popen(self.command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.started[proc] = time.monotonic()
        return proc

    def hold(self) -> None:
        while not self.stop.wait(3):
            for slot, proc in enumerate(self.procs):
                if proc is not None and proc.poll() is not None:
                    self.refused += b"connect failed" in proc.stderr.read()
                    proc = None
                if proc is None:
                    self.procs[slot] = self.open()

    def held(self) -> int:
        """The jumps open for 3 s or more: past the bastion (which refuses at once), held at the server."""
        now = time.monotonic()
        return sum(proc is not None and proc.poll() is None and now - self.started[proc] >= 3 for proc in self.procs)

    def __enter__(self) -> HeldForwards:
        self.procs = [self.open() for _ in self.procs]
        self.thread.start()
        time.sleep(5)  # the jumps reach the server, or the bastion refuses them
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(timeout=10)
        for proc in self.procs:
            if proc is not None:
                proc.kill()
                proc.wait(timeout=10)


@contextmanager
def analyst_session(seconds: int) -> Iterator[str]:
    """The analyst logged in to the server through the bastion, running `sleep seconds`; yields its pid there.

    Bounded twice: the remote sleep ends by itself, and leaving the block ends
    the client and then the remote command by its pid, since without a
    terminal it outlives the client (and would keep the server busy for the
    tests after this one).
    """
    server = labctl.SERVER.addresses[0][1]
    cmd = analyst_ssh_command(f"{ANALYST}@{server}", f"echo session $$; exec sleep {seconds}")
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    pid = ""
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 30)
        line = proc.stdout.readline() if ready else ""
        assert line.startswith("session "), f"the analyst's session did not open: {line!r}"
        pid = line.split()[1]
        yield pid
    finally:
        end_process(proc, timeout=10)
        if pid:
            labctl.podman("exec", labctl.SERVER.container, "kill", pid, check=False)
            assert eventually(
                lambda: labctl.podman("exec", labctl.SERVER.container, "kill", "-0", pid, check=False).returncode != 0,
                bound=15,
                interval=1,
            )


def ssh(
    node: labctl.Node,
    *command: str,
    user: str = labctl.ADMIN_USER,
    options: tuple[str, ...] = (),
    jump: bool = True,
    timeout: int = 30,
) -> subprocess.CompletedProcess:
    """A fresh ssh login to a lab node as a user would make it (through the bastion unless jump=False).

    BatchMode makes every refusal an immediate error instead of a prompt.
    """
    target = f"{user}@{node.addresses[0][1]}"
    cmd = ["ssh", "-F", str(labctl.STATE / "ssh_config"), "-o", "BatchMode=yes", "-o", "ControlMaster=no"]
    if jump and node is not labctl.BASTION:
        cmd += ["-J", f"{labctl.ADMIN_USER}@{labctl.BASTION.addresses[0][1]}"]
    cmd += [*options, target, *command]
    return subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout, check=False)


def instance_states() -> dict[str, str]:
    """EC2 state of every lab instance by Name tag, as moto has it."""
    reservations = labctl.ec2_client().describe_instances(
        Filters=[{"Name": "tag:Environment", "Values": [labctl.ENVIRONMENT]}]
    )["Reservations"]
    states = {}
    for reservation in reservations:
        for instance in reservation["Instances"]:
            name = {tag["Key"]: tag["Value"] for tag in instance.get("Tags", [])}.get("Name", "")
            if instance["State"]["Name"] != "terminated":
                states[name] = instance["State"]["Name"]
    return states


def server_instance_id() -> str:
    """The lab server's instance id in moto."""
    reservations = labctl.ec2_client().describe_instances(
        Filters=[
            {"Name": "tag:Name", "Values": [labctl.SERVER.hostname]},
            {"Name": "tag:Environment", "Values": [labctl.ENVIRONMENT]},
        ]
    )["Reservations"]
    return reservations[0]["Instances"][0]["InstanceId"]
