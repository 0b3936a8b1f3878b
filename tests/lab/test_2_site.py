"""site.yml provisions the analytics server through the bastion, and a second run changes nothing."""

from __future__ import annotations

import pytest

from lab import labctl
from lab.harness import accepted_logins, run_playbook, server_instance_id

CONTROLLER_ON_PUBLIC = labctl.PUBLIC.gateway  # the controller's address on each lab network
CONTROLLER_ON_PRIVATE = labctl.PRIVATE.gateway
BASTION_ON_PRIVATE = dict(labctl.BASTION.addresses)[labctl.PRIVATE.name]


@pytest.fixture(scope="module")
def two_runs(provisioning):
    bastion_before = len(accepted_logins(labctl.BASTION))
    first = run_playbook()
    second = run_playbook()
    provisioning.record(second)
    return first, second, len(accepted_logins(labctl.BASTION)) - bastion_before


def test_first_run_provisions_the_server(two_runs):
    first, _, _ = two_runs
    assert first.returncode == 0, first.output[-3000:]
    assert first.recap[labctl.SERVER.hostname]["changed"] > 0


def test_second_run_changes_nothing(two_runs):
    _, second, _ = two_runs
    assert second.returncode == 0, second.output[-3000:]
    server = second.recap[labctl.SERVER.hostname]
    assert (server["changed"], server["failed"], server["unreachable"]) == (0, 0, 0), second.output[-3000:]


def test_the_server_only_ever_saw_logins_from_the_bastion(two_runs):
    logins = accepted_logins(labctl.SERVER)
    assert logins, "the server's sshd logged no login at all"
    assert {address for _, address in logins} == {BASTION_ON_PRIVATE}
    assert CONTROLLER_ON_PRIVATE not in {address for _, address in logins}


def test_each_run_jumped_through_the_bastion(two_runs):
    _, _, bastion_logins = two_runs
    assert bastion_logins >= 2  # at least one jump per run
    assert (labctl.ADMIN_USER, CONTROLLER_ON_PUBLIC) in accepted_logins(labctl.BASTION)


def test_the_instance_requires_imdsv2_with_a_hop_limit_of_1(two_runs):
    """Set through the EC2 API (moto here); the lab launched it with IMDSv1 allowed and 2 hops."""
    reservations = labctl.ec2_client().describe_instances(InstanceIds=[server_instance_id()])["Reservations"]
    options = reservations[0]["Instances"][0]["MetadataOptions"]
    assert (options["HttpTokens"], options["HttpPutResponseHopLimit"]) == ("required", 1)
