"""The lab inventory is the production inventory pointed at moto, and both find the hosts the same way."""

import copy
import ipaddress
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

INVENTORY = Path(__file__).resolve().parents[2] / "inventory"
ENVIRONMENTS = ["prod", "lab"]


def load(name: str) -> dict:
    return yaml.safe_load((INVENTORY / name).read_text())


def ec2_inventory(environment: str) -> dict:
    return load(f"{environment}.aws_ec2.yml")


def without_lab_differences(config: dict) -> dict:
    """The inventory less the two settings that are meant to differ between lab and prod."""
    config = copy.deepcopy(config)
    config.pop("endpoint_url", None)
    config["filters"].pop("tag:Environment")
    return config


def test_lab_and_prod_differ_only_in_endpoint_and_environment():
    assert without_lab_differences(ec2_inventory("lab")) == without_lab_differences(ec2_inventory("prod"))


def test_only_the_lab_sets_an_endpoint():
    assert "endpoint_url" not in ec2_inventory("prod")
    assert "endpoint_url" in ec2_inventory("lab")


def test_lab_endpoint_is_plain_http_on_loopback():
    url = urlsplit(ec2_inventory("lab")["endpoint_url"])
    assert url.scheme == "http"
    assert ipaddress.ip_address(url.hostname).is_loopback


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_environment_tag_filter_names_the_environment(environment):
    assert ec2_inventory(environment)["filters"]["tag:Environment"] == environment


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_inventory_uses_the_aws_ec2_plugin(environment):
    assert ec2_inventory(environment)["plugin"] == "amazon.aws.aws_ec2"


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_inventory_finds_only_running_project_instances(environment):
    filters = ec2_inventory(environment)["filters"]
    assert filters["tag:Project"] == "analytics"
    assert filters["instance-state-name"] == "running"


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_hosts_are_named_after_their_name_tag(environment):
    assert ec2_inventory(environment)["hostnames"] == ["tag:Name"]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_groups_come_from_the_role_tag(environment):
    assert {"key": "ec2_tags.Role", "prefix": "role"} in ec2_inventory(environment)["keyed_groups"]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_inventory_composes_the_connection_address(environment):
    assert "ansible_host" in ec2_inventory(environment)["compose"]


@pytest.mark.parametrize("option", ["-o ProxyJump=", "-o ForwardAgent=no"])
def test_analytics_server_is_reached_through_the_bastion_without_agent(option):
    assert option in load("group_vars/role_analytics_server.yml")["ansible_ssh_common_args"]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_groups_come_from_the_environment_tag(environment):
    assert {"key": "ec2_tags.Environment", "prefix": "env"} in ec2_inventory(environment)["keyed_groups"]
