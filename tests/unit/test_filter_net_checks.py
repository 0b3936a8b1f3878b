"""ip_networks and ip_version check the addresses a firewall rule gets, or stop the run naming the bad one."""

import pytest
from ansible.errors import AnsibleFilterError

from filter_plugins.net_checks import FilterModule

ip_networks = FilterModule().filters()["ip_networks"]
ip_version = FilterModule().filters()["ip_version"]


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        (["198.18.1.10"], ["198.18.1.10"]),
        (["198.18.1.0/24", "fd00::10"], ["198.18.1.0/24", "fd00::10"]),
        # Single hosts are written as nft lists them; IPv6 in compressed form.
        (["198.18.1.10/32", "FD00:0:0:0:0:0:0:10/128"], ["198.18.1.10", "fd00::10"]),
        ([" 198.18.1.10 "], ["198.18.1.10"]),
        (["fd00:198:18::/48"], ["fd00:198:18::/48"]),
    ],
)
def test_addresses_and_networks_are_normalised(entries, expected):
    assert ip_networks(entries, "firewall_ssh_allowed_sources") == expected


@pytest.mark.parametrize(
    ("version", "expected"),
    [(4, ["198.18.1.10", "198.18.2.0/24"]), (6, ["fd00::10"]), (None, ["198.18.1.10", "fd00::10", "198.18.2.0/24"])],
)
def test_version_selects_one_family(version, expected):
    assert ip_networks(["198.18.1.10", "fd00::10", "198.18.2.0/24"], "sources", version) == expected


def test_a_bad_entry_is_refused_even_when_its_family_is_not_selected():
    with pytest.raises(AnsibleFilterError, match=r"'fd00::zz'"):
        ip_networks(["198.18.1.10", "fd00::zz"], "sources", 4)


@pytest.mark.parametrize("entries", [[], None, "198.18.1.10", {"address": "198.18.1.10"}])
def test_a_missing_or_empty_list_is_refused_naming_the_variable(entries):
    with pytest.raises(AnsibleFilterError, match=r"^firewall_ssh_allowed_sources must be a non-empty list"):
        ip_networks(entries, "firewall_ssh_allowed_sources")


@pytest.mark.parametrize(
    "entry",
    ["198.18.1.1O", "198.18.1.300", "198.18.1", "bastion.example.com", "fd00::zz", "198.18.1.0/33", "", "  ", None, 42],
)
def test_a_bad_entry_is_refused_naming_the_variable_and_the_entry(entry):
    with pytest.raises(AnsibleFilterError, match=r"^firewall_ssh_allowed_sources: .* is not an IPv4/IPv6") as err:
        ip_networks(["198.18.1.10", entry], "firewall_ssh_allowed_sources")
    assert repr(entry) in str(err.value)


@pytest.mark.parametrize(
    ("entry", "wider"), [("198.18.1.10/24", "198.18.1.0/24"), ("fd00:198:18::10/64", "fd00:198:18::/64")]
)
def test_host_bits_are_refused_rather_than_widened(entry, wider):
    with pytest.raises(AnsibleFilterError, match=r"has host bits set") as err:
        ip_networks([entry], "firewall_ssh_allowed_sources")
    assert wider in str(err.value)


def test_an_unknown_version_is_refused():
    with pytest.raises(AnsibleFilterError, match=r"version must be 4, 6 or omitted"):
        ip_networks(["198.18.1.10"], "sources", 5)


@pytest.mark.parametrize(
    ("entry", "expected"), [("169.254.169.253", 4), ("198.18.0.0/15", 4), ("fd00:ec2::253", 6), ("fd00::/8", 6)]
)
def test_ip_version_tells_the_family(entry, expected):
    assert ip_version(entry) == expected


@pytest.mark.parametrize("entry", ["169.254.169.2533", "metadata", None])
def test_ip_version_refuses_a_bad_address_naming_the_variable(entry):
    with pytest.raises(AnsibleFilterError, match=r"^firewall_egress_infrastructure: .* is not an IPv4/IPv6"):
        ip_version(entry, "firewall_egress_infrastructure")


open_egress_rules = FilterModule().filters()["open_egress_rules"]


def group(group_id: str, *rules: dict) -> dict:
    return {"group_id": group_id, "group_name": f"name-{group_id}", "ip_permissions_egress": list(rules)}


def test_rules_that_let_traffic_out_to_anywhere_are_named_with_their_group():
    groups = [
        group("sg-1", {"ip_protocol": "-1", "ip_ranges": [{"cidr_ip": "0.0.0.0/0"}], "ipv6_ranges": []}),
        group("sg-2", {"ip_protocol": "tcp", "from_port": 443, "to_port": 443, "ipv6_ranges": [{"cidr_ipv6": "::/0"}]}),
    ]
    assert open_egress_rules(groups) == [
        "sg-1 (name-sg-1): all traffic to 0.0.0.0/0",
        "sg-2 (name-sg-2): tcp 443-443 to ::/0",
    ]


def test_rules_to_named_destinations_and_groups_without_egress_pass():
    window = {"ip_protocol": "tcp", "from_port": 80, "to_port": 80, "ip_ranges": [{"cidr_ip": "198.18.1.30/32"}]}
    endpoint = {"ip_protocol": "tcp", "from_port": 443, "to_port": 443, "prefix_list_ids": [{"prefix_list_id": "pl-1"}]}
    assert open_egress_rules([group("sg-1"), group("sg-2", window, endpoint)]) == []


def test_something_that_is_not_a_list_of_groups_is_refused():
    with pytest.raises(AnsibleFilterError, match="expected a list of security groups"):
        open_egress_rules({"security_groups": []})
