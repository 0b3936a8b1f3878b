"""site.yml stops with one clear message, before any change, when it cannot run.

These run first (the files are numbered) on the fresh, never provisioned lab server, so
"nothing changed" is a real claim: the server still lacks what site.yml adds.
"""

from __future__ import annotations

import pytest

from lab import labctl
from lab.harness import container_exec, files_changed_since, run_playbook

MARKER = "/run/preflight-marker"


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
        labctl.podman("start", labctl.BASTION.container)
        labctl.wait_for_sshd(labctl.BASTION)
    assert run.returncode != 0
    assert "The bastion nat-bastion (198.18.0.10:22) does not answer SSH" in run.output
    assert "Nothing was changed" in run.output
