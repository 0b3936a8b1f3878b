"""egress_refusals and egress_report_lines turn the firewall's records of refused attempts into a report per account."""

import json

import pytest
from ansible.errors import AnsibleFilterError

from filter_plugins.egress_report import FilterModule

egress_refusals = FilterModule().filters()["egress_refusals"]
egress_report_lines = FilterModule().filters()["egress_report_lines"]

ACCOUNTS = {"root": ["x", "0", "0", "root", "/root", "/bin/bash"], "ada": ["x", "1001", "1001", "Ada", "/home/ada", ""]}
WEEK = 604800


def listing(name: str, elements: list[tuple], timeout: int = WEEK) -> str:
    """`nft -j list set` output as nft 1.0.6 (Debian 12) prints it: protocols by number."""
    elems = [
        {"elem": {"val": {"concat": list(val)}, "expires": expires, "counter": {"packets": packets, "bytes": 60}}}
        for val, expires, packets in elements
    ]
    body = {"family": "inet", "name": name, "table": "firewall", "type": ["uid", "ipv4_addr", "inet_proto", "port"]}
    body.update({"flags": ["timeout"], "timeout": timeout, "elem": elems} if elems else {"timeout": timeout})
    return json.dumps({"nftables": [{"metainfo": {"version": "1.0.6"}}, {"set": body}]})


V4 = listing(
    "egress_refused",
    [
        ((1001, "198.18.1.1", 17, 53), WEEK - 30, 4),  # 30 s ago
        ((1001, "169.254.169.254", 6, 80), WEEK - 7200, 1),  # 2 h ago
        ((0, "198.18.1.99", 6, 443), WEEK - 3 * 86400, 2),  # 3 days ago
        ((4242, "198.18.1.98", "udp", 123), WEEK - 60, 1),  # an account gone since; protocol by name (nft 1.0.9)
    ],
)
V6 = listing("egress_refused_v6", [((1001, "fd00:ec2::253", 17, 53), WEEK - 5, 1)])


def test_each_refused_attempt_is_a_row_with_its_account_destination_and_age():
    rows = egress_refusals([V4, V6], ACCOUNTS, 24 * 7)
    fields = ("account", "destination", "protocol", "port", "attempts", "seconds_ago")
    assert [tuple(row[field] for field in fields) for row in rows] == [
        ("ada", "fd00:ec2::253", "udp", 53, 1, 5),
        ("ada", "198.18.1.1", "udp", 53, 4, 30),
        ("ada", "169.254.169.254", "tcp", 80, 1, 7200),
        ("root", "198.18.1.99", "tcp", 443, 2, 259200),
        ("uid 4242", "198.18.1.98", "udp", 123, 1, 60),
    ]
    assert set(rows[0]) == set(fields)


def test_the_period_leaves_out_older_attempts():
    rows = egress_refusals([V4, V6], ACCOUNTS, "1")
    assert [(row["account"], row["destination"]) for row in rows] == [
        ("ada", "fd00:ec2::253"),
        ("ada", "198.18.1.1"),
        ("uid 4242", "198.18.1.98"),
    ]


def test_an_empty_record_gives_no_rows_and_says_so():
    rows = egress_refusals([listing("egress_refused", []), listing("egress_refused_v6", [])], ACCOUNTS)
    assert rows == []
    assert egress_report_lines(rows) == ["no refused outbound attempt in the period"]


def test_the_lines_name_account_destination_packets_and_when():
    lines = egress_report_lines(egress_refusals([V4], ACCOUNTS, 1))
    assert lines[0].split() == ["ada", "198.18.1.1", "udp/53", "4", "packets", "last", "30s", "ago"]
    assert "uid 4242" in lines[1] and "1m ago" in lines[1]
    assert len({line.index(" last ") for line in lines}) == 1  # in columns


@pytest.mark.parametrize("hours", [0, -1, "soon"])
def test_a_period_that_is_not_a_positive_number_is_refused(hours):
    with pytest.raises(AnsibleFilterError, match="hours must be"):
        egress_refusals([V4], ACCOUNTS, hours)


def test_output_that_is_not_an_nft_listing_is_refused_naming_it():
    with pytest.raises(AnsibleFilterError, match="expected the output of `nft -j list set`"):
        egress_refusals(["Error: No such file or directory"], ACCOUNTS)
