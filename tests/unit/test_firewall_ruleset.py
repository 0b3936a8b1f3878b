"""The firewall role's ruleset as its defaults render it: every AWS service for the accounts named only.

The lab has no IPv6 and none of the AWS link-local services but a metadata
stand-in, so the rules for the production defaults (the Nitro IPv6 endpoints
included) are checked here, rendered by Jinja with the filters the role uses,
where an instance would load them.
"""

from __future__ import annotations

import re
from pathlib import Path

import jinja2
import pytest
import yaml
from ansible.plugins.filter.core import FilterModule as CoreFilters

from filter_plugins.net_checks import FilterModule as NetFilters

ROLE = Path(__file__).resolve().parents[2] / "roles" / "firewall"


REFERENCE = re.compile(r"^\{\{ (\w+) \}\}$")


def resolved(value, variables: dict):
    """The defaults with their references to each other ("{{ firewall_dns_users }}") replaced, as Ansible would."""
    if isinstance(value, str) and (match := REFERENCE.match(value)):
        return resolved(variables[match[1]], variables)
    if isinstance(value, list):
        return [resolved(item, variables) for item in value]
    if isinstance(value, dict):
        return {key: resolved(item, variables) for key, item in value.items()}
    return value


def render(template: str = "nftables.conf.j2", **overrides) -> str:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(ROLE / "templates"),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,  # as Ansible's template module
    )
    env.filters.update(CoreFilters().filters())
    env.filters.update(NetFilters().filters())
    variables = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    variables.update(firewall_ssh_allowed_sources=["198.18.1.10"], ansible_managed="managed", **overrides)
    variables = resolved(variables, variables)
    return env.get_template(template).render(variables)


@pytest.fixture(scope="module")
def output_rules() -> list[str]:
    text = render()
    chain = text[text.index("chain output {") :]
    return [line.strip() for line in chain.splitlines() if " accept" in line]


@pytest.mark.parametrize(
    ("family", "address", "port", "users"),
    [
        ("ip", "169.254.169.253", "udp dport 53", '"root", "_apt"'),
        ("ip", "169.254.169.253", "tcp dport 53", '"root", "_apt"'),
        ("ip6", "fd00:ec2::253", "udp dport 53", '"root", "_apt"'),
        ("ip6", "fd00:ec2::253", "tcp dport 53", '"root", "_apt"'),
        ("ip", "169.254.169.123", "udp dport 123", '"_chrony"'),
        ("ip6", "fd00:ec2::123", "udp dport 123", '"_chrony"'),
        ("ip", "169.254.169.254", "tcp dport 80", '"root"'),
        ("ip6", "fd00:ec2::254", "tcp dport 80", '"root"'),
    ],
)
def test_each_aws_service_is_open_to_its_accounts_only(output_rules, family, address, port, users):
    rules = [rule for rule in output_rules if f"{family} daddr {address} {port} " in rule]
    assert len(rules) == 1
    assert rules[0].startswith(f"meta skuid {{ {users} }} {family} daddr {address} {port} accept")


def test_no_outbound_rule_admits_every_account(output_rules):
    """Besides loopback, established flows and neighbour discovery, each accept names its accounts."""
    unowned = [
        rule
        for rule in output_rules
        if not rule.startswith("meta skuid {")
        and not re.match(r'(oif "lo"|ct state|icmpv6 type|udp sport (68|546)|ip6? daddr \{ .* \} tcp sport 22)', rule)
    ]
    assert unowned == []


def test_the_window_admits_its_accounts_and_marks_their_flows(output_rules):
    window = [rule for rule in output_rules if "@egress_window" in rule]
    assert len(window) == 2
    assert all(rule.startswith('meta skuid { "_apt" } ') and "ct mark set 0x00000001" in rule for rule in window)


def test_a_resolver_on_loopback_answers_the_dns_accounts_only():
    chain = render()
    chain = chain[chain.index("chain output {") :]
    loopback_dns = 'oif "lo" meta l4proto { tcp, udp } th dport 53 meta skuid != { "root", "_apt" } counter reject'
    assert loopback_dns in chain
    assert chain.index(loopback_dns) < chain.index('oif "lo" accept')


def accepts(text: str, chain: str) -> list[str]:
    body = text[text.index(f"chain {chain} {{") :]
    body = body[: body.index("\n\t}")]
    return [line.strip() for line in body.splitlines() if line.strip().endswith("accept") or " accept " in line]


def test_the_closed_ruleset_takes_ssh_only_and_lets_nothing_out():
    """What a first deployment's revert loads: SSH from the sources and this run's session, no egress."""
    text = render("closed.nft.j2", __firewall_session_sources=["198.18.1.2"])
    assert accepts(text, "input") == [
        'iif "lo" accept',
        "ip saddr { 198.18.1.10 } tcp dport 22 accept",
        "ip saddr { 198.18.1.2 } tcp dport 22 accept",
        "icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-advert } ip6 hoplimit 255 accept",
    ]
    assert accepts(text, "output") == [
        'oif "lo" accept',
        "icmpv6 type { nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert, mld2-listener-report } accept",
        'udp sport 68 udp dport 67 accept comment "DHCP client"',
        'udp sport 546 udp dport 547 accept comment "DHCPv6 client"',
        "ip daddr { 198.18.1.10 } tcp sport 22 accept",
        "ip daddr { 198.18.1.2 } tcp sport 22 accept",
    ]
    assert "policy accept" not in text


def test_the_closed_ruleset_without_an_ssh_session_takes_the_sources_only():
    """Under a connection that is not SSH (podman, in the molecule scenario) no session address is known."""
    text = render("closed.nft.j2", __firewall_session_sources=[])
    assert [rule for rule in accepts(text, "input") if "tcp dport 22" in rule] == [
        "ip saddr { 198.18.1.10 } tcp dport 22 accept"
    ]


@pytest.mark.parametrize("first_deployment", [False, True])
def test_the_revert_loads_the_previous_ruleset_or_the_closed_one(first_deployment):
    previous = {"stdout": "table inet firewall {\n}"}
    text = render(
        "previous.nft.j2",
        __firewall_first_deployment=first_deployment,
        __firewall_previous=previous,
        __firewall_session_sources=[],
    )
    if first_deployment:
        assert text == render("closed.nft.j2", __firewall_session_sources=[])
    else:
        assert text == "flush ruleset\ntable inet firewall {\n}\n"
