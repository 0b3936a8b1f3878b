#!/usr/bin/python
"""The egress window's dead-man switch: AWS removes the window's security group rules by itself.

The host's half of a window closes by itself (its nft elements time out); the
security group's half was removed only by a run of this role. A controller that
dies with a window open would leave the server's cloud-side egress open for
good. This module keeps one EventBridge Scheduler one-time schedule per window
group in step with the group: while the group holds rules, a schedule at the
latest expiry their descriptions carry ("egress-window until
2030-01-31T12:00:00Z (name)") calls EC2's RevokeSecurityGroupEgress for exactly
those rules, as the given role, and then deletes itself; with no rule left, no
schedule.
"""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ec2_egress_dead_man
short_description: Keep an egress window group's self-removal schedule in step with its rules
description:
  - Reads the security group's egress rules. With rules, creates or updates the one-time EventBridge Scheduler
    schedule O(name), at the latest C(egress-window until ...Z) expiry among them (or in a minute for a rule
    without one), whose universal target C(arn:aws:scheduler:::aws-sdk:ec2:revokeSecurityGroupEgress) revokes all of
    them and which deletes itself once it ran. Without rules, deletes the schedule.
  - Needs C(ec2:DescribeSecurityGroups), C(scheduler:GetSchedule), C(scheduler:CreateSchedule),
    C(scheduler:UpdateSchedule), C(scheduler:DeleteSchedule) and C(iam:PassRole) on O(role_arn); the role
    itself needs C(ec2:RevokeSecurityGroupEgress) on the group and trusts C(scheduler.amazonaws.com).
options:
  group_id:
    description: The window's security group, C(sg-...).
    required: true
    type: str
  name:
    description: The schedule's name (letters, digits, C(.), C(_), C(-); at most 64).
    required: true
    type: str
  role_arn:
    description: The IAM role EventBridge Scheduler assumes to revoke the rules.
    required: true
    type: str
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Keep the window's dead-man switch in step with its rules
  ec2_egress_dead_man:
    group_id: sg-0123456789abcdef0
    name: analytics-server-egress-window
    role_arn: arn:aws:iam::123456789012:role/egress-window-dead-man
  delegate_to: localhost
  become: false
"""

RETURN = r"""
at:
  description: When the schedule removes the rules (UTC, C(YYYY-MM-DDTHH:MM:SS)); empty when there is no schedule.
  returned: always
  type: str
  sample: "2030-01-31T12:00:00"
revokes:
  description: The rules the schedule removes, as RevokeSecurityGroupEgress takes them.
  returned: always
  type: list
  elements: dict
"""

import json  # noqa: E402
import re  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:  # AnsibleAWSModule reports the missing botocore
    BotoCoreError = ClientError = Exception

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule  # noqa: E402
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry  # noqa: E402

TARGET = "arn:aws:scheduler:::aws-sdk:ec2:revokeSecurityGroupEgress"
EXPIRY = re.compile(r"^egress-window until (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)Z ")
NAME = re.compile(r"^[0-9A-Za-z_.-]{1,64}$")


def soon() -> str:
    """A minute from now: a one-time schedule is never set in the past."""
    return (datetime.now(UTC) + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S")


def revocation(permissions: list[dict]) -> tuple[list[dict], str]:
    """(IpPermissions that revoke every rule, the latest expiry as at()'s time); ([], '') for no rule.

    A rule whose description carries no expiry (not the window's) is due at once (in a minute).
    """
    revoke, expiries = [], []
    for permission in permissions:
        kept = {key: permission[key] for key in ("IpProtocol", "FromPort", "ToPort") if key in permission}
        for kind, address in (("IpRanges", "CidrIp"), ("Ipv6Ranges", "CidrIpv6"), ("PrefixListIds", "PrefixListId")):
            for entry in permission.get(kind, []):
                revoke.append(kept | {kind: [{address: entry[address]}]})
                match = EXPIRY.match(entry.get("Description", ""))
                expiries.append(match[1] if match else soon())
        for pair in permission.get("UserIdGroupPairs", []):
            revoke.append(kept | {"UserIdGroupPairs": [{"GroupId": pair["GroupId"]}]})
            expiries.append(soon())
    return revoke, max(expiries, default="")


def wanted_schedule(group_id: str, role_arn: str, revoke: list[dict], at: str) -> dict:
    return {
        "ScheduleExpression": f"at({at})",
        "ScheduleExpressionTimezone": "UTC",
        "FlexibleTimeWindow": {"Mode": "OFF"},
        "ActionAfterCompletion": "DELETE",
        "Target": {
            "Arn": TARGET,
            "RoleArn": role_arn,
            "Input": json.dumps({"GroupId": group_id, "IpPermissions": revoke}, sort_keys=True),
        },
    }


def current_schedule(scheduler, name: str) -> dict | None:
    try:
        found = scheduler.get_schedule(Name=name)
    except ClientError as err:
        if err.response["Error"]["Code"] == "ResourceNotFoundException":
            return None
        raise
    target = found.get("Target", {})
    return {
        "ScheduleExpression": found.get("ScheduleExpression"),
        "ScheduleExpressionTimezone": found.get("ScheduleExpressionTimezone"),
        "FlexibleTimeWindow": {"Mode": found.get("FlexibleTimeWindow", {}).get("Mode")},
        "ActionAfterCompletion": found.get("ActionAfterCompletion"),
        "Target": {key: target.get(key) for key in ("Arn", "RoleArn", "Input")},
    }


def ensure_dead_man(
    ec2, scheduler, group_id: str, name: str, role_arn: str, check_mode: bool
) -> tuple[bool, str, list[dict]]:
    """(changed, at, revoked rules): the schedule made to match the group's rules."""
    group = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
    revoke, at = revocation(group.get("IpPermissionsEgress", []))
    current = current_schedule(scheduler, name)
    if not revoke:
        if current is not None and not check_mode:
            scheduler.delete_schedule(Name=name)
        return current is not None, "", []
    wanted = wanted_schedule(group_id, role_arn, revoke, at)
    if current == wanted:
        return False, at, revoke
    if not check_mode:
        (scheduler.create_schedule if current is None else scheduler.update_schedule)(Name=name, **wanted)
    return True, at, revoke


def main() -> None:
    module = AnsibleAWSModule(
        argument_spec={
            "group_id": {"type": "str", "required": True},
            "name": {"type": "str", "required": True},
            "role_arn": {"type": "str", "required": True},
        },
        supports_check_mode=True,
    )
    params = module.params
    if not NAME.match(params["name"]):
        module.fail_json(msg=f"name must be 1 to 64 letters, digits, '.', '_' or '-', got {params['name']!r}")
    if not params["role_arn"].startswith("arn:"):
        module.fail_json(msg=f"role_arn must be an IAM role's ARN, got {params['role_arn']!r}")
    retry = AWSRetry.jittered_backoff()
    ec2 = module.client("ec2", retry_decorator=retry)
    scheduler = module.client("scheduler", retry_decorator=retry)
    try:
        changed, at, revoke = ensure_dead_man(
            ec2, scheduler, params["group_id"], params["name"], params["role_arn"], module.check_mode
        )
    except (BotoCoreError, ClientError) as err:
        module.fail_json_aws(err, msg=f"Cannot keep the dead-man switch of {params['group_id']} in step")
    module.exit_json(changed=changed, at=at, revokes=revoke)


if __name__ == "__main__":
    main()
