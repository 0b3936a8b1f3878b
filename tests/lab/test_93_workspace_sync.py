"""Copies of the analysts' work in S3 (roles/workspace_sync) on the provisioned lab.

The lab's S3 stand-in is a moto_server on this machine's private-network address;
the server's firewall admits the copies' account, and only it, as it would admit
S3 through a VPC endpoint in AWS. What the bucket holds is read from moto directly.
The last test powers the server's container off for real, through the idle check,
and starts it again.
"""

from __future__ import annotations

import json
import shlex
import time
import uuid
from collections.abc import Iterator

import pytest

from lab import labctl
from lab.harness import (
    ANALYST,
    container_exec,
    eventually,
    files_changed_since,
    instance_states,
    run_playbook,
    ssh,
    tcp_connects,
)

SERVER = labctl.SERVER
BUCKET = labctl.WORKSPACE_BUCKET
WORK = f"/home/{ANALYST}/work"
PREFIX = f"{SERVER.hostname}{WORK}"


def bucket() -> dict[str, bytes]:
    """The latest version of every object in the lab's bucket, by key."""
    s3 = labctl.s3_client()
    keys = [item["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
            for item in page.get("Contents", [])]  # fmt: skip
    return {key: s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() for key in keys}


def as_analyst(script: str) -> str:
    """A shell script run on the server as the analyst (her files get her owner and modes)."""
    return container_exec(SERVER.container, "runuser", "-u", ANALYST, "--", "sh", "-c", f"umask 077; {script}")


def copy_now() -> str:
    """Start the copy and wait for it; its summary line."""
    container_exec(SERVER.container, "systemctl", "start", "workspace-sync.service")
    journal = container_exec(
        SERVER.container, "journalctl", "-u", "workspace-sync.service", "-o", "cat", "--no-pager", "-n", "20"
    )
    return [line for line in journal.splitlines() if line.startswith("workspace-sync: ")][-1]


# The server as site.yml leaves it, shared with the other modules (tests/lab/conftest.py).
pytestmark = pytest.mark.usefixtures("provisioned")


@pytest.fixture
def work_file() -> Iterator[tuple[str, str]]:
    """A new file in the analyst's private work folder: (its path, its content)."""
    name, content = f"result-{uuid.uuid4().hex[:8]}.csv", f"run,{uuid.uuid4()}\n"
    path = f"{WORK}/out/{name}"
    as_analyst(f"mkdir -p {WORK}/out && chmod 700 {WORK} && printf %s {shlex.quote(content)} > {path}")
    yield path, content
    as_analyst(f"rm -f {path}")


def test_only_the_copies_account_may_reach_s3():
    address, port = labctl.S3_API.host, labctl.S3_API.port
    assert tcp_connects(SERVER.container, address, port, user="workspace-sync")
    # An analyst's process, and even root's, finds egress closed to S3 as to anywhere else.
    assert not tcp_connects(SERVER.container, address, port, user=ANALYST)
    assert not tcp_connects(SERVER.container, address, port)


def test_a_copy_uploads_the_analysts_private_work_but_not_excluded_files(work_file):
    path, content = work_file
    as_analyst(f"mkdir -p {WORK}/__pycache__ && echo x > {WORK}/__pycache__/m.pyc && echo x > {WORK}/stale.pyc")

    summary = copy_now()

    assert summary.startswith("workspace-sync: done: uploaded"), summary
    held = bucket()
    assert held[f"{SERVER.hostname}{path}"] == content.encode()
    assert not [key for key in held if key.endswith(".pyc")]
    assert " 0 failed" in summary


def test_a_second_copy_uploads_nothing_new():
    copy_now()
    assert "uploaded 0 files" in copy_now()


def test_a_file_removed_on_the_server_stays_in_the_bucket(work_file):
    path, _ = work_file
    copy_now()
    as_analyst(f"rm {path}")
    summary = copy_now()
    assert "kept in the bucket though gone here" in summary
    assert f"{SERVER.hostname}{path}" in bucket()


def test_the_power_off_unit_copies_when_it_stops(work_file):
    path, content = work_file
    container_exec(SERVER.container, "systemctl", "stop", "workspace-sync-shutdown.service")
    try:
        assert bucket().get(f"{SERVER.hostname}{path}") == content.encode()
    finally:
        container_exec(SERVER.container, "systemctl", "start", "workspace-sync-shutdown.service")


def test_server_stop_copies_the_workspace_before_the_stop(work_file, server_restored):
    path, content = work_file
    stop = run_playbook("playbooks/server-stop.yml")
    assert stop.returncode == 0, stop.output[-3000:]
    assert "workspace-sync: done: uploaded 1 files" in stop.output
    assert bucket()[f"{SERVER.hostname}{path}"] == content.encode()
    assert instance_states()[SERVER.hostname] == "stopped"


def test_a_bucket_that_does_not_exist_stops_site_before_any_change():
    marker = "/run/test-93-marker"
    container_exec(SERVER.container, "touch", marker)
    run = run_playbook("site.yml", "--extra-vars", json.dumps({"workspace_sync_bucket": "no-such-bucket"}))
    assert run.returncode != 0
    assert "s3://no-such-bucket at http://198.18.1.1:5056" in run.output
    assert "Create it (with versioning), correct workspace_sync_bucket" in run.output
    assert "Nothing was changed" in run.output
    assert files_changed_since(SERVER, marker) == []


@pytest.fixture
def powered_off_server_restarted():
    """Whatever the test leaves, the server's container runs again and answers SSH."""
    yield
    if not labctl.node_running(SERVER):
        labctl.start_node(SERVER)
    labctl.wait_for_sshd(SERVER)
    assert eventually(lambda: ssh(SERVER, "true").returncode == 0, bound=60)


def test_an_idle_server_powers_off_for_real_and_copies_the_work_first(work_file, powered_off_server_restarted):
    """The end of an analyst's day: the idle check powers the server off, and the work is in S3.

    The idle check runs once by hand, as its timer would, with the installed settings
    but DRY_RUN=false and a state that says the server has been idle for two hours
    and its users were warned. Its power-off stops the container, as it would stop
    the instance; the power-off unit copies on the way down.
    """
    path, content = work_file
    assert f"{SERVER.hostname}{path}" not in bucket()
    boot_id = container_exec(SERVER.container, "cat", "/proc/sys/kernel/random/boot_id").strip()
    now = time.time()
    state = {"boot_id": boot_id, "idle_since": now - 7200, "warned_at": now - 1800}
    script = (
        "sed 's/^DRY_RUN=.*/DRY_RUN=false/' /etc/idle-stop.conf > /run/idle-stop-live.conf"
        f" && echo {shlex.quote(json.dumps(state))} > /run/idle-stop-live.json"
        " && exec python3 -I /usr/local/libexec/analytics/idle_stop.py"
        " --config /run/idle-stop-live.conf --state /run/idle-stop-live.json"
    )
    labctl.podman("exec", SERVER.container, "sh", "-c", script, check=False)

    assert eventually(lambda: not labctl.node_running(SERVER), bound=120, interval=2), "the server did not power off"
    assert bucket().get(f"{SERVER.hostname}{path}") == content.encode()
