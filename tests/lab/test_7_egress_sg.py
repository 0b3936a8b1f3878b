"""Egress windows open and close on both layers: the server's nftables set and its window security group.

The security group lives in the lab's moto (the EC2 API), which filters no traffic: what is
tested there is the rule, the expiry its description carries, and who removes it: a run of
the role, or the dead-man switch's EventBridge Scheduler schedule, whose call moto does not
make at its time, so the tests make it as the scheduler would. The tests run in order, each
on the state the one before left.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lab import labctl
from lab.harness import LAB_INVENTORY, ROOT, container_exec, eventually, lab_env, run_playbook

GROUP = f"{labctl.SERVER.hostname}-egress-window"
SCHEDULE = GROUP  # egress_window_dead_man_schedule_name: the group's name, already a valid schedule name
# Any address works: moto does not filter, and the host's element is what is checked.
ADDRESS = "198.18.0.1"
PORT = 8079
ELEMENT = f"{ADDRESS} . 6 . {PORT}"  # as `nft --numeric-protocol` lists it: tcp is 6
DESCRIPTION = re.compile(rf"^egress-window until (\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\dZ) \({re.escape(ADDRESS)}\)$")

# Opens a window to ADDRESS, then waits as a long job inside the window would.
OPEN_PLAYBOOK = f"""\
---
- name: Open an egress window and wait (tests/lab/test_7_egress_sg.py)
  hosts: role_analytics_server
  become: true
  gather_facts: false
  tasks:
    - name: Open the egress window
      ansible.builtin.include_role:
        name: egress_window
      vars:
        egress_window_destinations:
          - {{host: {ADDRESS}, protocol: tcp, port: {PORT}}}
        egress_window_minutes: "{{{{ test_minutes }}}}"

    - name: Wait inside the window
      ansible.builtin.pause:
        seconds: "{{{{ test_pause_seconds }}}}"
      when: test_pause_seconds | int > 0
"""


def window_elements() -> str:
    listing = container_exec(
        labctl.SERVER.container, "nft", "--numeric-protocol", "list", "set", "inet", "firewall", "egress_window"
    )
    return " ".join(listing.split()).partition("elements = ")[2]


def window_group() -> dict | None:
    groups = labctl.ec2_client().describe_security_groups(Filters=[{"Name": "group-name", "Values": [GROUP]}])
    return next(iter(groups["SecurityGroups"]), None)


def window_rules() -> list[tuple[str, str, int, str]]:
    """(CIDR, protocol, port, description) of every egress rule of the window's security group."""
    group = window_group() or {"IpPermissionsEgress": []}
    return [
        (ip_range["CidrIp"], permission["IpProtocol"], permission.get("FromPort", -1), ip_range.get("Description", ""))
        for permission in group["IpPermissionsEgress"]
        for ip_range in permission.get("IpRanges", [])
    ]


def rule_expiry() -> datetime:
    """The expiry in the description of the one rule there must be, for ADDRESS, tcp, PORT."""
    rules = window_rules()
    assert [rule[:3] for rule in rules] == [(f"{ADDRESS}/32", "tcp", PORT)], rules
    match = DESCRIPTION.match(rules[0][3])
    assert match, rules[0][3]
    return datetime.strptime(match[1], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def dead_man_schedule() -> dict | None:
    """The window group's dead-man schedule in moto's EventBridge Scheduler, or None."""
    scheduler = labctl.moto_client("scheduler", labctl.EC2_API)
    try:
        return scheduler.get_schedule(Name=SCHEDULE)
    except scheduler.exceptions.ResourceNotFoundException:
        return None


def fire(schedule: dict) -> None:
    """What EventBridge Scheduler does at the schedule's time: its target's EC2 call, with its input."""
    assert schedule["Target"]["Arn"] == "arn:aws:scheduler:::aws-sdk:ec2:revokeSecurityGroupEgress"
    assert schedule["ActionAfterCompletion"] == "DELETE"
    labctl.ec2_client().revoke_security_group_egress(**json.loads(schedule["Target"]["Input"]))


def at(expiry: datetime) -> str:
    return f"at({expiry.strftime('%Y-%m-%dT%H:%M:%S')})"


def process_tree(pid: int) -> list[int]:
    """pid and every process descended from it (ansible-playbook's workers start sessions of their own)."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rpartition(")")[2].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    tree = [pid]
    for member in tree:  # grows while it is walked: breadth first
        tree.extend(child for child, parent in parents.items() if parent == member)
    return tree


def kill_tree(pid: int) -> None:
    """SIGKILL to a controller and all its workers at once, as when the machine under it dies."""
    for member in process_tree(pid):
        try:
            os.kill(member, signal.SIGKILL)
        except ProcessLookupError:
            continue


def task_position(output: str, name: str) -> int:
    position = output.find(f"TASK [egress_window : {name}")
    assert position >= 0, f"task {name!r} did not run"
    return position


# The server as site.yml leaves it, shared with the other modules (tests/lab/conftest.py).
pytestmark = pytest.mark.usefixtures("provisioned")


@pytest.fixture(scope="module")
def open_playbook(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("egress") / "open-window.yml"
    path.write_text(OPEN_PLAYBOOK)
    return str(path)


def test_opening_adds_the_rule_with_its_expiry_then_the_element(open_playbook):
    before = datetime.now(UTC)
    run = run_playbook(open_playbook, "--extra-vars", json.dumps({"test_minutes": 30, "test_pause_seconds": 0}))
    assert run.returncode == 0, run.output[-3000:]
    assert task_position(run.output, "Open the window in the security group") < task_position(
        run.output, "Open the window to"
    )
    assert before + timedelta(minutes=29) < rule_expiry() < datetime.now(UTC) + timedelta(minutes=31)
    assert f"{ELEMENT} timeout 30m" in window_elements()
    # The dead-man switch: the group removes its rules by itself at their expiry.
    schedule = dead_man_schedule()
    assert schedule is not None, "opening left no dead-man schedule"
    assert (schedule["ScheduleExpression"], schedule["ScheduleExpressionTimezone"]) == (at(rule_expiry()), "UTC")
    assert json.loads(schedule["Target"]["Input"])["GroupId"] == window_group()["GroupId"]


def test_the_group_is_attached_beside_the_servers_own_and_admits_nothing_in():
    group = window_group()
    assert group is not None
    assert group["IpPermissions"] == []
    reservations = labctl.ec2_client().describe_instances(
        Filters=[{"Name": "tag:Name", "Values": [labctl.SERVER.hostname]}]
    )["Reservations"]
    (instance,) = [instance for reservation in reservations for instance in reservation["Instances"]]
    for interface in instance["NetworkInterfaces"]:
        assert {g["GroupName"] for g in interface["Groups"]} == {labctl.SERVER.hostname, GROUP}


def test_status_shows_both_layers_with_their_expiry():
    expiry = rule_expiry().strftime("%Y-%m-%dT%H:%M:%SZ")
    run = run_playbook("playbooks/egress-status.yml")
    assert run.returncode == 0, run.output[-3000:]
    assert re.search(rf"{re.escape(ADDRESS)} +tcp +{PORT} +in \d+m", run.output), run.output[-3000:]
    assert re.search(rf"{re.escape(ADDRESS)}/32 +tcp +{PORT} +until {expiry} \({re.escape(ADDRESS)}\)", run.output)


def test_closing_expired_rules_only_leaves_an_open_window_alone():
    run = run_playbook("playbooks/egress-close.yml", "--extra-vars", "egress_window_close_expired_only=true")
    assert run.returncode == 0, run.output[-3000:]
    assert rule_expiry() > datetime.now(UTC)
    assert ELEMENT in window_elements()


def test_closing_removes_the_element_then_the_rule():
    run = run_playbook("playbooks/egress-close.yml")
    assert run.returncode == 0, run.output[-3000:]
    assert task_position(run.output, "Close the egress window") < task_position(
        run.output, "Remove the window's rules from its security group"
    )
    assert window_elements() == ""
    assert window_rules() == []
    assert dead_man_schedule() is None


def test_closing_when_nothing_is_open_changes_nothing():
    run = run_playbook("playbooks/egress-close.yml")
    assert run.returncode == 0, run.output[-3000:]
    assert run.recap[labctl.SERVER.hostname]["changed"] == 0


def test_a_killed_controller_leaves_a_window_that_closes_on_the_host_and_by_egress_close(open_playbook):
    """SIGKILL to the run mid-window: the host's element expires; egress-close.yml removes the expired rule."""
    env = lab_env()
    with tempfile.TemporaryDirectory(prefix="alab-cp-") as control_dir:
        env["ANSIBLE_SSH_CONTROL_PATH_DIR"] = control_dir
        extra_vars = json.dumps({"test_minutes": 1, "test_pause_seconds": 600})
        with (Path(control_dir) / "run.log").open("w") as log:
            run = subprocess.Popen(
                ["ansible-playbook", "-i", LAB_INVENTORY, open_playbook, "--extra-vars", extra_vars],
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            try:
                opened = eventually(lambda: bool(window_rules()) and ELEMENT in window_elements(), 240, interval=1.0)
            finally:
                kill_tree(run.pid)
                run.wait(timeout=30)
        output = (Path(control_dir) / "run.log").read_text()
        for socket_path in Path(control_dir).iterdir():
            if socket_path.is_socket():
                subprocess.run(["ssh", "-O", "exit", "-o", f"ControlPath={socket_path}", "lab"], capture_output=True)
    assert opened, output[-3000:]
    assert run.returncode == -signal.SIGKILL

    # Nothing closed the window after the kill: the host closes its side by
    # itself, and the group's side is due to its dead-man schedule.
    expiry = rule_expiry()
    assert eventually(lambda: ELEMENT not in window_elements(), 60 + 30, interval=1.0), window_elements()
    assert expiry < datetime.now(UTC)
    assert rule_expiry() == expiry
    schedule = dead_man_schedule()
    assert schedule is not None and schedule["ScheduleExpression"] == at(expiry), schedule
    fire(schedule)
    assert window_rules() == []

    # egress-close.yml, run later from a timer or by hand, finds nothing to remove and drops the spent schedule.
    close = run_playbook("playbooks/egress-close.yml", "--extra-vars", "egress_window_close_expired_only=true")
    assert close.returncode == 0, close.output[-3000:]
    assert window_rules() == []
    assert dead_man_schedule() is None


def test_a_window_without_its_dead_man_switch_is_refused(open_playbook):
    extra_vars = {"test_minutes": 5, "test_pause_seconds": 0, "egress_window_dead_man_role_arn": ""}
    run = run_playbook(open_playbook, "--extra-vars", json.dumps(extra_vars))
    assert run.returncode != 0
    assert "egress_window_dead_man_role_arn" in run.output and "Nothing was opened" in run.output
    assert window_rules() == [] and window_elements() == ""
