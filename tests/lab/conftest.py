"""A fresh lab for the whole session, removed afterwards (LAB_KEEP=1 keeps it).

The modules share one provisioning: a module that needs the server as
site.yml leaves it asks for `provisioned`, and site.yml runs only when no run
of this session has left the lab that way yet, or when a module since changed
it. After every module both nodes' system folders and firewalls are compared
with what they were after the last successful site.yml run; a module that
changed something and did not restore it makes the next one provision again.
So each module still runs alone (`pytest tests/lab/test_5_patch.py` provisions
first) and none depends on what another left behind.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from lab import labctl
from lab.harness import (
    Run,
    StateMark,
    changes_since,
    eventually,
    instance_states,
    mark_state,
    run_playbook,
    server_instance_id,
    ssh,
)


class Provisioning:
    """Whether the lab is as the last successful, default site.yml run left it."""

    def __init__(self) -> None:
        self.marks: list[StateMark] = []

    def record(self, run: Run) -> None:
        """A site.yml run with the inventory's own settings finished: the lab is provisioned if it passed."""
        self.marks = [mark_state(node) for node in (labctl.BASTION, labctl.SERVER)] if run.returncode == 0 else []

    def ensure(self) -> None:
        """Provision the lab unless it already is as site.yml leaves it (verify() ends every module)."""
        if self.marks:
            return
        run = run_playbook()
        assert run.returncode == 0, run.output[-3000:]
        self.record(run)

    def verify(self) -> list[str]:
        """What changed since the last run; when anything did, the lab no longer counts as provisioned."""
        changes = [change for mark in self.marks for change in changes_since(mark)]
        if changes:
            self.marks = []
        return changes


@pytest.fixture(scope="session", autouse=True)
def lab():
    subprocess.run([sys.executable, str(labctl.ROOT / "lab" / "labctl.py"), "up", "--fresh"], check=True)
    yield
    if not os.environ.get("LAB_KEEP"):
        subprocess.run([sys.executable, str(labctl.ROOT / "lab" / "labctl.py"), "down"], check=True)


@pytest.fixture(scope="session")
def provisioning(lab) -> Provisioning:
    return Provisioning()


@pytest.fixture(scope="module")
def provisioned(provisioning: Provisioning) -> None:
    """The lab as site.yml leaves it (provisioned once per session, again only after a module changed it)."""
    provisioning.ensure()


@pytest.fixture(scope="module", autouse=True)
def leaves_the_lab_as_site_left_it(request, provisioning: Provisioning):
    """After each module, forget the provisioning when the module changed the lab and did not restore it."""
    yield
    changes = provisioning.verify()
    if changes:
        shown = ", ".join(changes[:5]) + (f" and {len(changes) - 5} more" if len(changes) > 5 else "")
        # Module teardown runs inside the last test's captured teardown: write past the capture.
        reporter = request.config.pluginmanager.get_plugin("terminalreporter")
        capture = request.config.pluginmanager.get_plugin("capturemanager")
        if reporter is not None and capture is not None:
            with capture.global_and_fixture_disabled():
                reporter.write_line(f"\n{request.node.name} changed the lab ({shown}): the next module provisions")


@pytest.fixture
def server_restored():
    """Whatever a test does to the server's instance, start it again in moto and wait for its SSH."""
    yield
    if instance_states().get(labctl.SERVER.hostname) != "running":
        labctl.ec2_client().start_instances(InstanceIds=[server_instance_id()])
    assert eventually(lambda: ssh(labctl.SERVER, "true").returncode == 0, bound=60)
