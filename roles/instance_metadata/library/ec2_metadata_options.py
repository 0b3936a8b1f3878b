#!/usr/bin/python
"""Require IMDSv2 and a hop limit on an EC2 instance's metadata service.

amazon.aws.ec2_instance sets metadata options when it launches an instance;
for an instance that exists (the analytics server was launched by hand, or by
another tool) this module reads them and changes those that differ, through the
collection's own AWS connection handling and retries.
"""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ec2_metadata_options
short_description: Require session tokens (IMDSv2) and a hop limit on an EC2 instance's metadata service
description:
  - Reads the instance's C(MetadataOptions) and sets C(HttpTokens) and C(HttpPutResponseHopLimit) when they
    differ from O(http_tokens) and O(hop_limit). The endpoint stays enabled (the instance profile's
    credentials come from it); the firewall decides which accounts reach it.
  - Needs C(ec2:DescribeInstances) and C(ec2:ModifyInstanceMetadataOptions).
options:
  instance_id:
    description: The instance, C(i-...).
    required: true
    type: str
  http_tokens:
    description: V(required) makes every request carry a session token (IMDSv2), which a plain GET through an
      open proxy or a server-side request forgery cannot get.
    choices: [required, optional]
    default: required
    type: str
  hop_limit:
    description: How many network hops the token's reply may travel; 1 keeps it on the instance itself, out of
      reach of a container or another host routed through it.
    default: 1
    type: int
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Require IMDSv2 with a hop limit of 1
  ec2_metadata_options:
    instance_id: "{{ instance_id }}"
  delegate_to: localhost
  become: false
"""

RETURN = r"""
options:
  description: The metadata options the instance has now (in check mode, would have).
  returned: always
  type: dict
  sample: {http_tokens: required, hop_limit: 1}
previous:
  description: The metadata options the instance had before.
  returned: always
  type: dict
  sample: {http_tokens: optional, hop_limit: 2}
"""

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:  # AnsibleAWSModule reports the missing botocore
    BotoCoreError = ClientError = Exception

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule  # noqa: E402
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry  # noqa: E402


def current_options(client, instance_id: str) -> dict:
    """The instance's http_tokens and hop_limit, as EC2 reports them."""
    reservations = client.describe_instances(InstanceIds=[instance_id])["Reservations"]
    options = reservations[0]["Instances"][0]["MetadataOptions"]
    return {"http_tokens": options["HttpTokens"], "hop_limit": int(options["HttpPutResponseHopLimit"])}


def ensure_metadata_options(client, instance_id: str, wanted: dict, check_mode: bool) -> tuple[bool, dict]:
    """(changed, previous options); changes nothing in check mode."""
    previous = current_options(client, instance_id)
    if previous == wanted:
        return False, previous
    if not check_mode:
        client.modify_instance_metadata_options(
            InstanceId=instance_id,
            HttpTokens=wanted["http_tokens"],
            HttpPutResponseHopLimit=wanted["hop_limit"],
            HttpEndpoint="enabled",
        )
    return True, previous


def main() -> None:
    module = AnsibleAWSModule(
        argument_spec={
            "instance_id": {"type": "str", "required": True},
            "http_tokens": {"type": "str", "default": "required", "choices": ["required", "optional"]},
            "hop_limit": {"type": "int", "default": 1},
        },
        supports_check_mode=True,
    )
    wanted = {"http_tokens": module.params["http_tokens"], "hop_limit": module.params["hop_limit"]}
    if not 1 <= wanted["hop_limit"] <= 64:
        module.fail_json(msg=f"hop_limit must be from 1 to 64, got {wanted['hop_limit']}")
    client = module.client("ec2", retry_decorator=AWSRetry.jittered_backoff())
    try:
        changed, previous = ensure_metadata_options(client, module.params["instance_id"], wanted, module.check_mode)
    except (BotoCoreError, ClientError) as err:
        module.fail_json_aws(err, msg=f"Cannot read or set the metadata options of {module.params['instance_id']}")
    module.exit_json(changed=changed, options=wanted, previous=previous)


if __name__ == "__main__":
    main()
