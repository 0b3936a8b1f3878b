"""The pure parts of lab/labctl.py: image cache key, lab addressing, ssh settings, shell exports."""

import ipaddress
import itertools
import re
import shlex
from pathlib import Path

import pytest
import yaml

from lab import labctl

ROOT = Path(__file__).resolve().parents[2]


# RFC 2544's benchmarking range: never routed on the internet, unlikely to clash with a real LAN.
LAB_RANGE = ipaddress.ip_network("198.18.0.0/15")
NETWORKS = {net.name: net for net in labctl.NETWORKS}
NODE_ADDRESSES = [
    pytest.param(net_name, address, id=f"{node.hostname}-{address}")
    for node in labctl.NODES
    for net_name, address in node.addresses
]


def networks_of(node) -> set[str]:
    return {net_name for net_name, _ in node.addresses}


def env_from_lines(lines: list[str]) -> dict[str, str]:
    """What a shell gets from `source .lab/env`, parsed the way the shell would."""
    env = {}
    for line in lines:
        _, assignment = shlex.split(line)
        name, _, value = assignment.partition("=")
        env[name] = value
    return env


def test_recipe_digest_changes_with_the_recipe(tmp_path):
    recipe = tmp_path / "debian12.sh"
    recipe.write_text("#!/bin/bash\nmmdebstrap bookworm\n")
    before = labctl.recipe_digest(recipe)
    recipe.write_text("#!/bin/bash\nmmdebstrap --include=sudo bookworm\n")
    assert labctl.recipe_digest(recipe) != before


def test_recipe_digest_changes_with_the_hooks_every_recipe_sources(tmp_path, monkeypatch):
    recipe, hooks = tmp_path / "debian12.sh", tmp_path / "cloud-image.sh"
    recipe.write_text("#!/bin/bash\nsource cloud-image.sh\n")
    hooks.write_text("cloud_image_hooks=()\n")
    monkeypatch.setattr(labctl, "IMAGE_HOOKS", hooks)
    before = labctl.recipe_digest(recipe)
    hooks.write_text("cloud_image_hooks=(--customize-hook=true)\n")
    assert labctl.recipe_digest(recipe) != before


def test_recipe_digest_is_stable_for_the_same_recipe(tmp_path):
    first, second = tmp_path / "a.sh", tmp_path / "b.sh"
    first.write_text("#!/bin/bash\nmmdebstrap bookworm\n")
    second.write_text("#!/bin/bash\nmmdebstrap bookworm\n")
    assert labctl.recipe_digest(first) == labctl.recipe_digest(second)


@pytest.mark.parametrize(
    "network",
    [net.subnet for net in labctl.NETWORKS] + [net.gateway for net in labctl.NETWORKS],
)
def test_lab_networks_stay_inside_the_benchmarking_range(network):
    assert ipaddress.ip_network(network).subnet_of(LAB_RANGE)


@pytest.mark.parametrize(("net_name", "address"), NODE_ADDRESSES)
def test_node_address_lies_in_its_network(net_name, address):
    assert ipaddress.ip_address(address) in ipaddress.ip_network(NETWORKS[net_name].subnet)


@pytest.mark.parametrize("net", labctl.NETWORKS, ids=lambda net: net.name)
def test_gateway_lies_in_its_network(net):
    assert ipaddress.ip_address(net.gateway) in ipaddress.ip_network(net.subnet)


def test_no_address_is_used_twice():
    addresses = [address for node in labctl.NODES for _, address in node.addresses]
    addresses += [net.gateway for net in labctl.NETWORKS]
    assert len(addresses) == len(set(addresses))


def test_bastion_is_on_both_networks():
    assert networks_of(labctl.BASTION) == {labctl.PUBLIC.name, labctl.PRIVATE.name}


def test_server_is_on_the_private_network_only():
    assert networks_of(labctl.SERVER) == {labctl.PRIVATE.name}


@pytest.mark.parametrize("setting", ["ForwardAgent no", "StrictHostKeyChecking yes", "IdentitiesOnly yes"])
def test_ssh_config_keeps_the_jump_safe(setting):
    assert setting in [line.strip() for line in labctl.ssh_config_text().splitlines()]


@pytest.mark.parametrize("line", labctl.env_lines())
def test_env_line_is_one_export_for_the_shell(line):
    words = shlex.split(line)
    assert len(words) == 2
    assert words[0] == "export"
    assert re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", words[1], flags=re.DOTALL)


def test_env_keeps_multi_word_ssh_args_together():
    ssh_args = env_from_lines(labctl.env_lines())["ANSIBLE_SSH_ARGS"]
    assert ssh_args.endswith(f"-F {labctl.STATE / 'ssh_config'}")


def test_env_endpoint_is_the_lab_inventory_endpoint():
    inventory = yaml.safe_load((ROOT / "inventory" / "lab.aws_ec2.yml").read_text())
    assert env_from_lines(labctl.env_lines())["AWS_ENDPOINT_URL"] == inventory["endpoint_url"]


def test_the_image_does_not_carry_the_lab_label():
    """Containers inherit their image's labels: a labelled image would make `down` remove molecule's containers."""
    assert not any(labctl.LABEL.split("=")[0] in change for change in labctl.IMAGE_CHANGES)


def test_the_cgroup_handed_to_a_nodes_systemd_is_the_v1_name_systemd_or_the_v2_one():
    v1 = "9:name=systemd:/libpod_parent/libpod-abc\n8:pids:/libpod_parent/libpod-abc\n"
    v2 = "0::/machine.slice/libpod-abc.scope\n"
    assert labctl.systemd_cgroups(v1) == [Path("/sys/fs/cgroup/systemd/libpod_parent/libpod-abc")]
    assert labctl.systemd_cgroups(v2) == [Path("/sys/fs/cgroup/machine.slice/libpod-abc.scope")]
    assert labctl.systemd_cgroups("8:pids:/x\n") == []


def test_each_node_maps_its_ids_to_a_range_of_its_own_away_from_this_machines():
    ranges = sorted((node.host_id_base, node.host_id_base + labctl.ID_RANGE) for node in labctl.NODES)
    assert ranges[0][0] >= 100_000  # above the ids this machine's own accounts use
    assert all(end <= start for (_, end), (start, _) in itertools.pairwise(ranges))
