"""The instance_metadata role's module against moto's EC2: IMDSv2 required, hop limit 1, set once."""

from __future__ import annotations

import pytest

WANTED = {"http_tokens": "required", "hop_limit": 1}


@pytest.fixture(scope="module")
def module(role_module):
    return role_module("instance_metadata", "ec2_metadata_options")


@pytest.fixture
def ec2(aws_client):
    """A moto EC2 with one instance launched as many launch templates leave it: tokens optional, 2 hops."""
    client = aws_client("ec2")
    image = client.describe_images()["Images"][0]["ImageId"]
    instance = client.run_instances(
        ImageId=image,
        MinCount=1,
        MaxCount=1,
        MetadataOptions={"HttpTokens": "optional", "HttpPutResponseHopLimit": 2, "HttpEndpoint": "enabled"},
    )["Instances"][0]
    return client, instance["InstanceId"]


def test_imdsv2_with_a_hop_limit_of_1_is_set_once(ec2, module):
    client, instance_id = ec2
    assert module.ensure_metadata_options(client, instance_id, WANTED, False) == (
        True,
        {"http_tokens": "optional", "hop_limit": 2},
    )
    assert module.current_options(client, instance_id) == WANTED
    assert module.ensure_metadata_options(client, instance_id, WANTED, False) == (False, WANTED)


def test_check_mode_changes_nothing(ec2, module):
    client, instance_id = ec2
    assert module.ensure_metadata_options(client, instance_id, WANTED, True)[0] is True
    assert module.current_options(client, instance_id) == {"http_tokens": "optional", "hop_limit": 2}
