"""Filters ``ip_networks`` and ``ip_version``: checked IP addresses and networks for rule templates;
and ``open_egress_rules``: the security group rules that let traffic out to anywhere.

A typo in a firewall address list is costly in both directions: ``198.18.1.1O``
makes nft refuse the whole ruleset with a line number in a temporary file, and
``198.18.1.10/24`` (host bits set) opens SSH to a whole subnet when the author
meant one bastion. These filters check each entry with Python's ``ipaddress``
and name the variable and the bad entry before anything is rendered, so the
run stops early with a message that says what to fix.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

from ansible.errors import AnsibleFilterError

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _network(entry: Any, variable: str) -> IPNetwork:
    """One address or CIDR network; a network with host bits set is refused, not widened."""
    if not isinstance(entry, str) or not entry.strip():
        raise AnsibleFilterError(f"{variable}: {entry!r} is not an IPv4/IPv6 address or network (a non-empty string)")
    try:
        return ipaddress.ip_network(entry.strip(), strict=True)
    except ValueError as err:
        if "has host bits set" in str(err):
            wider = ipaddress.ip_network(entry.strip(), strict=False)
            raise AnsibleFilterError(
                f"{variable}: {entry!r} has host bits set; write the address alone for one host "
                f"or the network {wider} for the whole subnet"
            ) from None
        raise AnsibleFilterError(
            f"{variable}: {entry!r} is not an IPv4/IPv6 address or network (such as 198.18.1.10, "
            "198.18.1.0/24 or fd00::10)"
        ) from None


def _text(network: IPNetwork) -> str:
    """A single host without its /32 or /128, as nft lists it; networks in CIDR form."""
    return str(network.network_address) if network.num_addresses == 1 else str(network)


def ip_networks(entries: Any, variable: str, version: int | None = None) -> list[str]:
    """Check a list of addresses or CIDR networks and return them normalised.

    ``variable`` names the input in error messages. With ``version`` 4 or 6 only that
    family is returned (after checking every entry), ready for an ``ip``/``ip6`` rule.
    Raises AnsibleFilterError for a missing or empty list and for any bad entry.
    """
    if version not in (None, 4, 6):
        raise AnsibleFilterError(f"ip_networks: version must be 4, 6 or omitted, got {version!r}")
    if not isinstance(entries, list) or not entries:
        raise AnsibleFilterError(
            f"{variable} must be a non-empty list of IPv4/IPv6 addresses or networks, got {entries!r}"
        )
    networks = [_network(entry, variable) for entry in entries]
    return [_text(network) for network in networks if version in (None, network.version)]


def ip_version(entry: Any, variable: str = "address") -> int:
    """4 or 6 for one address or CIDR network; raises AnsibleFilterError naming ``variable`` otherwise."""
    return _network(entry, variable).version


ANYWHERE = {"0.0.0.0/0", "::/0"}


def open_egress_rules(security_groups: Any) -> list[str]:
    """The egress rules of ``security_groups`` (as amazon.aws.ec2_security_group_info returns them)
    that let traffic out to anywhere (0.0.0.0/0 or ::/0), one line each: group, protocol, ports, range.

    The analytics server's egress is closed on two layers, its own firewall and its
    security groups, where windows add rules of their own; one such rule makes the
    cloud's layer a pass-through, so preflight refuses to run while one exists.
    """
    if not isinstance(security_groups, list):
        raise AnsibleFilterError(f"open_egress_rules: expected a list of security groups, got {security_groups!r}")
    found = []
    for group in security_groups:
        name = f"{group.get('group_id', '?')} ({group.get('group_name', '?')})"
        for rule in group.get("ip_permissions_egress", []):
            ranges = [r.get("cidr_ip") for r in rule.get("ip_ranges", [])]
            ranges += [r.get("cidr_ipv6") for r in rule.get("ipv6_ranges", [])]
            protocol = rule.get("ip_protocol", "-1")
            what = "all traffic" if protocol == "-1" else f"{protocol} {rule.get('from_port')}-{rule.get('to_port')}"
            found += [f"{name}: {what} to {cidr}" for cidr in ranges if cidr in ANYWHERE]
    return found


class FilterModule:
    """Ansible entry point for the filters in this file."""

    def filters(self) -> dict[str, Callable[..., Any]]:
        return {"ip_networks": ip_networks, "ip_version": ip_version, "open_egress_rules": open_egress_rules}
