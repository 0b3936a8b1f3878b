"""The instance_metadata role's module against moto's EC2: IMDSv2 required, hop limit 1, set once."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MODULE = ROOT / "roles" / "instance_metadata" / "library" / "ec2_metadata_options.py"
WANTED = {"http_tokens": "required", "hop_limit": 1}


@pytest.fixture(scope="module")
def module():
    sys.path.insert(0, str(ROOT / "collections"))
    try:
        spec = importlib.util.spec_from_file_location("ec2_metadata_options", MODULE)
        loaded = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(loaded)
        yield loaded
    finally:
        sys.path.remove(str(ROOT / "collections"))


@pytest.fixture
def ec2():
    """A moto EC2 with one instance launched with EC2's defaults: tokens optional, replies for 2 hops."""
    boto3 = pytest.importorskip("boto3")
    moto = pytest.importorskip("moto")
    with moto.mock_aws():
        client = boto3.client("ec2", region_name="eu-west-1", aws_access_key_id="test", aws_secret_access_key="test")
        image = client.describe_images()["Images"][0]["ImageId"]
        instance = client.run_instances(
            ImageId=image,
            MinCount=1,
            MaxCount=1,
            MetadataOptions={"HttpTokens": "optional", "HttpPutResponseHopLimit": 2, "HttpEndpoint": "enabled"},
        )["Instances"][0]
        yield client, instance["InstanceId"]


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
