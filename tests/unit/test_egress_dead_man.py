"""The egress window's dead-man switch (roles/egress_window/library/ec2_egress_dead_man.py) against moto.

EventBridge Scheduler does not run schedules in moto; what it would run is the
schedule's target call with its input, which these tests make themselves
against moto's EC2, as the scheduler would at the schedule's time.
"""

from __future__ import annotations

import json

import pytest

ROLE = "arn:aws:iam::123456789012:role/egress-window-dead-man"
NAME = "analytics-server-egress-window"


@pytest.fixture(scope="module")
def dead_man(role_module):
    return role_module("egress_window", "ec2_egress_dead_man")


@pytest.fixture
def aws(aws_client):
    """moto's EC2 and Scheduler, and a window group emptied of AWS's allow-all egress rule."""
    ec2, scheduler = aws_client("ec2"), aws_client("scheduler")
    vpc = ec2.create_vpc(CidrBlock="198.18.0.0/16")["Vpc"]["VpcId"]
    group = ec2.create_security_group(GroupName="window", Description="window", VpcId=vpc)["GroupId"]
    ec2.revoke_security_group_egress(
        GroupId=group, IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
    )
    return ec2, scheduler, group


def window_rule(ec2, group: str, address: str, until: str) -> None:
    description = f"egress-window until {until} (mirror)"
    ec2.authorize_security_group_egress(
        GroupId=group,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 443,
                "ToPort": 443,
                "IpRanges": [{"CidrIp": f"{address}/32", "Description": description}],
            }
        ],
    )


def run_as_the_scheduler(ec2, scheduler) -> None:
    """What the schedule's universal target does at its time."""
    target = scheduler.get_schedule(Name=NAME)["Target"]
    assert target["Arn"] == "arn:aws:scheduler:::aws-sdk:ec2:revokeSecurityGroupEgress"
    assert target["RoleArn"] == ROLE
    ec2.revoke_security_group_egress(**json.loads(target["Input"]))


def egress(ec2, group: str) -> list:
    return ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"][0]["IpPermissionsEgress"]


def test_the_schedule_removes_every_rule_at_the_latest_expiry(aws, dead_man):
    ec2, scheduler, group = aws
    window_rule(ec2, group, "198.18.1.30", "2030-01-31T12:00:00Z")
    window_rule(ec2, group, "198.18.1.31", "2030-01-31T12:15:00Z")
    changed, at, revoked = dead_man.ensure_dead_man(ec2, scheduler, group, NAME, ROLE, False)
    assert (changed, at, len(revoked)) == (True, "2030-01-31T12:15:00", 2)
    schedule = scheduler.get_schedule(Name=NAME)
    assert schedule["ScheduleExpression"] == "at(2030-01-31T12:15:00)"
    assert schedule["ScheduleExpressionTimezone"] == "UTC"
    assert schedule["ActionAfterCompletion"] == "DELETE"
    assert dead_man.ensure_dead_man(ec2, scheduler, group, NAME, ROLE, False)[0] is False
    run_as_the_scheduler(ec2, scheduler)
    assert egress(ec2, group) == []


def test_a_renewed_window_moves_the_schedule_and_an_empty_group_has_none(aws, dead_man):
    ec2, scheduler, group = aws
    window_rule(ec2, group, "198.18.1.30", "2030-01-31T12:00:00Z")
    dead_man.ensure_dead_man(ec2, scheduler, group, NAME, ROLE, False)
    window_rule(ec2, group, "198.18.1.31", "2030-01-31T13:00:00Z")
    assert dead_man.ensure_dead_man(ec2, scheduler, group, NAME, ROLE, False)[:2] == (True, "2030-01-31T13:00:00")
    assert scheduler.get_schedule(Name=NAME)["ScheduleExpression"] == "at(2030-01-31T13:00:00)"
    run_as_the_scheduler(ec2, scheduler)
    assert dead_man.ensure_dead_man(ec2, scheduler, group, NAME, ROLE, False) == (True, "", [])
    assert scheduler.list_schedules()["Schedules"] == []


def test_a_rule_without_an_expiry_is_due_at_once(aws, dead_man):
    ec2, scheduler, group = aws
    ec2.authorize_security_group_egress(
        GroupId=group,
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
    )
    window_rule(ec2, group, "198.18.1.30", "2000-01-01T00:00:00Z")
    _, at, revoked = dead_man.ensure_dead_man(ec2, scheduler, group, NAME, ROLE, False)
    assert at > "2026" and len(revoked) == 2


def test_check_mode_changes_nothing(aws, dead_man):
    ec2, scheduler, group = aws
    window_rule(ec2, group, "198.18.1.30", "2030-01-31T12:00:00Z")
    assert dead_man.ensure_dead_man(ec2, scheduler, group, NAME, ROLE, True)[0] is True
    assert scheduler.list_schedules()["Schedules"] == []
