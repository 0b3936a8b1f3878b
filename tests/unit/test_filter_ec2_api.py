"""The one rule for the EC2 API's region and endpoint (filter_plugins/ec2_api.py)."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from filter_plugins.ec2_api import ec2_api

INVENTORY = """\
plugin: amazon.aws.aws_ec2
endpoint_url: http://127.0.0.1:5055
regions: [eu-west-1]
filters:
  tag:Project: analytics
  instance-state-name: running
"""


@pytest.fixture
def sources(tmp_path):
    path = tmp_path / "lab.aws_ec2.yml"
    path.write_text(INVENTORY)
    return [str(tmp_path / "hosts.ini"), str(path)]


def test_the_inventory_file_gives_region_endpoint_and_tag_filters(sources):
    assert ec2_api(sources) == {
        "source": sources[1],
        "region": "eu-west-1",
        "endpoint_url": "http://127.0.0.1:5055",
        "tag_filters": {"tag:Project": "analytics"},
    }


def test_ansible_hands_the_sources_as_a_tuple(sources):
    assert ec2_api(tuple(sources))["source"] == sources[1]


def test_a_setting_beats_the_host_which_beats_the_file_which_beats_the_environment(sources):
    environment = {"AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": "http://env"}
    assert ec2_api(sources, region="eu-north-1", endpoint_url="http://set")["region"] == "eu-north-1"
    assert ec2_api(sources, endpoint_url="http://set")["endpoint_url"] == "http://set"
    assert ec2_api(sources, host_region="eu-central-1", environment=environment)["region"] == "eu-central-1"
    assert ec2_api(sources, environment=environment)["region"] == "eu-west-1"


def test_without_an_ec2_inventory_the_environment_decides():
    environment = {"AWS_DEFAULT_REGION": "us-west-2", "AWS_ENDPOINT_URL": "http://env"}
    assert ec2_api(["hosts.ini"], environment=environment) == {
        "source": "",
        "region": "us-west-2",
        "endpoint_url": "http://env",
        "tag_filters": {},
    }
    assert ec2_api([], environment={"AWS_REGION": "a", "AWS_DEFAULT_REGION": "b"})["region"] == "a"


def test_nothing_known_gives_empty_strings_for_the_caller_to_explain():
    assert ec2_api([]) == {"source": "", "region": "", "endpoint_url": "", "tag_filters": {}}


def test_bad_input_is_named(tmp_path):
    with pytest.raises(AnsibleFilterError, match="ansible_inventory_sources"):
        ec2_api("lab.aws_ec2.yml")
    broken = tmp_path / "broken.aws_ec2.yml"
    broken.write_text("regions: [unclosed\n")
    with pytest.raises(AnsibleFilterError, match="cannot read the EC2 inventory file"):
        ec2_api([str(broken)])


def test_by_default_the_controllers_environment_is_read(monkeypatch):
    monkeypatch.setenv("AWS_REGION", "ap-south-1")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    assert ec2_api([])["region"] == "ap-south-1"
