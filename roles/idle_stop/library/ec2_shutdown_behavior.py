#!/usr/bin/python
"""Set what an EC2 instance does when its operating system powers it off.

amazon.aws.ec2_instance takes instance_initiated_shutdown_behavior only when it
launches an instance; on an existing one it leaves the attribute as it is and
reports no change. This module reads the attribute and changes it when it
differs, through the collection's own AWS connection handling and retries.
"""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ec2_shutdown_behavior
short_description: Set an EC2 instance's instance-initiated shutdown behaviour
description:
  - Reads the instance's C(instanceInitiatedShutdownBehavior) attribute and sets it to O(behavior) when it differs.
  - With V(stop), a power-off from inside the instance stops it (no more compute billing, the EBS volumes stay);
    with V(terminate) the same power-off deletes the instance.
  - Needs C(ec2:DescribeInstanceAttribute) and C(ec2:ModifyInstanceAttribute).
options:
  instance_id:
    description: The instance, C(i-...).
    required: true
    type: str
  behavior:
    description: What a power-off from inside the instance does.
    choices: [stop, terminate]
    default: stop
    type: str
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Let a power-off stop the instance rather than terminate it
  ec2_shutdown_behavior:
    instance_id: "{{ instance_id }}"
    behavior: stop
  delegate_to: localhost
  become: false
"""

RETURN = r"""
behavior:
  description: The behaviour the instance has now (in check mode, would have).
  returned: always
  type: str
  sample: stop
previous:
  description: The behaviour the instance had before.
  returned: always
  type: str
  sample: terminate
"""

from ansible_collections.amazon.aws.plugins.module_utils.ec2 import (  # noqa: E402
    AnsibleEC2Error,
    describe_instance_attribute,
    modify_instance_attribute,
)
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule  # noqa: E402

ATTRIBUTE = "instanceInitiatedShutdownBehavior"


def ensure_shutdown_behavior(client, instance_id: str, wanted: str, check_mode: bool) -> tuple[bool, str]:
    """(changed, previous behaviour); changes nothing in check mode.

    The change is sent as Attribute and Value, which EC2 accepts for this
    attribute (and moto, which stands in for EC2 in the lab, implements).
    """
    current = describe_instance_attribute(client, instance_id=instance_id, attribute=ATTRIBUTE)
    previous = current["InstanceInitiatedShutdownBehavior"]["Value"]
    if previous == wanted:
        return False, previous
    if not check_mode:
        modify_instance_attribute(client, instance_id=instance_id, Attribute=ATTRIBUTE, Value=wanted)
    return True, previous


def main() -> None:
    module = AnsibleAWSModule(
        argument_spec={
            "instance_id": {"type": "str", "required": True},
            "behavior": {"type": "str", "default": "stop", "choices": ["stop", "terminate"]},
        },
        supports_check_mode=True,
    )
    instance_id = module.params["instance_id"]
    client = module.client("ec2")
    try:
        changed, previous = ensure_shutdown_behavior(client, instance_id, module.params["behavior"], module.check_mode)
    except AnsibleEC2Error as err:
        module.fail_json_aws_error(err)
    module.exit_json(changed=changed, behavior=module.params["behavior"], previous=previous)


if __name__ == "__main__":
    main()
