"""site.yml stops with one clear message, before any change, when it cannot run.

These run first (the files are numbered) on the fresh, never provisioned lab server, so
"nothing changed" is a real claim: the server still lacks what site.yml adds.
"""

from __future__ import annotations

import json
import re
import shutil

import pytest

from lab import labctl
from lab.harness import container_exec, files_changed_since, run_playbook

MARKER = "/run/preflight-marker"
SMALL_LOCK = labctl.ROOT / "tests" / "data" / "locks" / "small"
VCS_PACKAGE = """
[[packages]]
name = "evil"
version = "1.0"
vcs = { type = "git", url = "https://git.example.invalid/evil.git", commit-id = "0123456789abcdef" }
"""


def without_six_hash(lock: str, approvals: str) -> tuple[str, str]:
    return re.sub(
        r'(six-1\.17\.0-py2\.py3-none-any\.whl",[^\n]*?), hashes = \{ sha256 = "[0-9a-f]+" \}', r"\1", lock
    ), approvals


def without_idna_approval(lock: str, approvals: str) -> tuple[str, str]:
    return lock, re.sub(r"\[packages\.idna\]\n(.+\n)+", "", approvals)


def with_vcs_package(lock: str, approvals: str) -> tuple[str, str]:
    return lock + VCS_PACKAGE, approvals + '\n[packages.evil]\napproved_by = "someone"\nreason = "a test"\n'


@pytest.fixture
def unprovisioned_server():
    """Assert the server was never provisioned; afterwards, that nothing on it changed."""
    probe = labctl.podman("exec", labctl.SERVER.container, "test", "-e", "/srv/analytics", check=False)
    assert probe.returncode != 0, "these tests need a server that site.yml has not provisioned yet"
    container_exec(labctl.SERVER.container, "touch", MARKER)
    yield
    assert files_changed_since(labctl.SERVER, MARKER) == []


def test_missing_credentials_stop_the_run(unprovisioned_server):
    run = run_playbook(
        unset_env=("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"),
        set_env={
            "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
            "AWS_CONFIG_FILE": "/nonexistent",
            "AWS_EC2_METADATA_DISABLED": "true",
        },
    )
    assert run.returncode != 0
    assert "AWS credentials are missing or rejected" in run.output
    assert "Export AWS_PROFILE" in run.output
    assert "Nothing was changed" in run.output


def test_an_empty_inventory_stops_the_run(unprovisioned_server):
    ec2 = labctl.ec2_client()
    ids = [i["InstanceId"] for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]]
    ec2.stop_instances(InstanceIds=ids)
    try:
        run = run_playbook()
    finally:
        ec2.start_instances(InstanceIds=ids)
    assert run.returncode != 0
    assert "found 0 bastion(s) and 0 analytics server(s)" in run.output
    assert "playbooks/server-start.yml" in run.output
    assert "Nothing was changed" in run.output


def test_an_unreachable_bastion_stops_the_run(unprovisioned_server):
    labctl.podman("stop", "--time", "5", labctl.BASTION.container)
    try:
        run = run_playbook()
    finally:
        labctl.start_node(labctl.BASTION)
        labctl.wait_for_sshd(labctl.BASTION)
    assert run.returncode != 0
    assert "The bastion nat-bastion (198.18.0.10:22) does not answer SSH" in run.output
    assert "Nothing was changed" in run.output


def test_a_security_group_that_lets_traffic_out_to_anywhere_stops_the_run(unprovisioned_server):
    ec2 = labctl.ec2_client()
    group = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["analytics-server"]}])
    group_id = group["SecurityGroups"][0]["GroupId"]
    everything = [{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
    ec2.authorize_security_group_egress(GroupId=group_id, IpPermissions=everything)
    try:
        run = run_playbook()
    finally:
        ec2.revoke_security_group_egress(GroupId=group_id, IpPermissions=everything)
    assert run.returncode != 0
    assert f"{group_id} (analytics-server): all traffic to 0.0.0.0/0" in run.output
    assert "Remove that egress rule" in run.output
    assert "Nothing was changed" in run.output


def test_egress_windows_without_their_dead_man_switch_stop_the_run(unprovisioned_server):
    run = run_playbook("site.yml", "--extra-vars", json.dumps({"egress_window_dead_man_role_arn": ""}))
    assert run.returncode != 0
    assert "egress_window_dead_man_role_arn is not set for the analytics server" in run.output
    assert "Nothing was changed" in run.output


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        (without_six_hash, "six 1.17.0: file six-1.17.0-py2.py3-none-any.whl has no sha256 hash"),
        (without_idna_approval, "idna 3.20: is in the lock but not approved"),
        (with_vcs_package, "evil 1.0: comes from a direct source (vcs https://git.example.invalid/evil.git)"),
    ],
)
def test_an_unacceptable_lock_stops_the_run(unprovisioned_server, tmp_path, spoil, message):
    shutil.copytree(SMALL_LOCK, tmp_path / "lock")
    lock, approvals = tmp_path / "lock" / "pylock.toml", tmp_path / "lock" / "approvals.toml"
    spoiled_lock, spoiled_approvals = spoil(lock.read_text(), approvals.read_text())
    assert (spoiled_lock, spoiled_approvals) != (lock.read_text(), approvals.read_text()), "the spoiler changed nothing"
    lock.write_text(spoiled_lock)
    approvals.write_text(spoiled_approvals)
    run = run_playbook("site.yml", "--extra-vars", json.dumps({"python_env_lock": str(lock)}))
    assert run.returncode != 0
    assert f"The lock {lock} is not acceptable" in run.output
    assert message in run.output
    assert "Nothing was changed" in run.output
