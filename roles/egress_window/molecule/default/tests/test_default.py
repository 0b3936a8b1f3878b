"""The window is open for exactly the destinations asked for, each with its own timeout.

Closing (tasks/close.yml) is tested in the lab, where playbooks/patch.yml closes the window.
"""

import re

import pytest


def elements(host):
    listing = host.check_output("nft --numeric-protocol list set inet firewall egress_window")
    return " ".join(listing.split()).partition("elements = ")[2]


@pytest.mark.parametrize("element", ["198.18.9.50 . 6 . 80", "198.18.9.53 . 17 . 53"])  # tcp is 6, udp 17
def test_destination_is_open(host, element):
    assert f"{element} timeout 1h" in elements(host)


def test_nothing_else_is_open(host):
    assert len(re.findall(r"\d+\.\d+\.\d+\.\d+ \. (?:6|17) \. \d+", elements(host))) == 2


def test_each_element_expires_by_itself(host):
    assert len(re.findall(r"expires (?:59m|1h)", elements(host))) == 2
