"""What the firewall lets in and out on a server the firewall role has set up.

The container has no network of its own, so the tests add a veth pair with
static neighbour entries: packets the firewall lets out leave through it and
vanish (a connect times out), while packets it rejects fail at once.
"""

import json
import time

import pytest

SSH_SOURCES = {"198.18.1.10", "fd00:198:18::10"}
TABLE = "inet firewall"

# Prints what became of one connection attempt and how long it took: "timeout"
# means the packet left the server, an errno name that it was refused here.
PROBE = """
import errno, socket, sys, time
address, port, protocol, timeout = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
family = socket.AF_INET6 if ":" in address else socket.AF_INET
sock = socket.socket(family, socket.SOCK_STREAM if protocol == "tcp" else socket.SOCK_DGRAM)
sock.settimeout(timeout)
start = time.monotonic()
try:
    sock.connect((address, port))
    if protocol == "udp":
        sock.send(b"probe")
        sock.recv(1)
    result = "answered"
except TimeoutError:
    result = "timeout"
except OSError as err:
    result = errno.errorcode.get(err.errno, str(err.errno))
print(result, round(time.monotonic() - start, 2))
"""
PROBE_TIMEOUT = 3.0
# A refusal comes back as an ICMP error through loopback (IPv6 TCP notices it on the
# first SYN retransmission, after 1 s), or as EPERM from sendmsg.
REFUSED = {"EHOSTUNREACH", "EACCES", "EPERM"}


def nft_json(host, what: str) -> list[dict]:
    """The objects of `nft -j list <what>`: tables, chains, sets and rules."""
    return json.loads(host.check_output(f"nft -j list {what}"))["nftables"]


@pytest.fixture(scope="module")
def ruleset(host) -> list[dict]:
    """The loaded ruleset as converge (and the side effect) left it, read once."""
    return nft_json(host, "ruleset")


def find(objects: list[dict], kind: str, name: str) -> dict:
    return next(item[kind] for item in objects if item.get(kind, {}).get("name") == name)


def rules(objects: list[dict], chain_name: str) -> list[list[dict]]:
    return [item["rule"]["expr"] for item in objects if item.get("rule", {}).get("chain") == chain_name]


def match_value(exprs: list[dict], protocol: str, field: str):
    """The right-hand side of the rule's match on a payload field, or None."""
    for expr in exprs:
        left = expr.get("match", {}).get("left", {}).get("payload", {})
        if (left.get("protocol"), left.get("field")) == (protocol, field):
            return expr["match"]["right"]
    return None


def addresses(right) -> set[str]:
    """An nft JSON address operand (one address, a prefix or a set of them) as CIDR strings."""
    items = right["set"] if isinstance(right, dict) and "set" in right else [right]
    return {f"{i['prefix']['addr']}/{i['prefix']['len']}" if isinstance(i, dict) else i for i in items}


PROTOCOLS = {6: "tcp", 17: "udp"}


def set_elements(host, name: str, before: str = "true") -> list[list]:
    """The set's elements as [address, protocol, port] lists, listed right after the command `before`."""
    listing = json.loads(host.check_output(f"{before} && nft -j list set {TABLE} {name}"))["nftables"]
    elems = find(listing, "set", name).get("elem", [])
    concats = [(e["elem"]["val"] if "elem" in e else e)["concat"] for e in elems]
    # [address, protocol, port]: nft 1.0.6 (Debian 12) lists the protocol by number,
    # 1.0.9 (Ubuntu 24.04) by name.
    return [[address, PROTOCOLS.get(protocol, protocol), port] for address, protocol, port in concats]


def window_counter(host, set_name: str) -> int:
    """Packets of the rule that admits the window's flows (not of the one that cuts them: op !=)."""
    for exprs in rules(nft_json(host, f"chain {TABLE} output"), "output"):
        if any(e.get("match", {}).get("right") == f"@{set_name}" and e["match"]["op"] == "==" for e in exprs):
            return next(e["counter"]["packets"] for e in exprs if "counter" in e)
    raise AssertionError(f"no output rule matches @{set_name}")


def probe(host, address: str, port: int, protocol: str = "tcp") -> tuple[str, float]:
    result, elapsed = host.check_output(
        "python3 -c %s %s %s %s %s", PROBE, address, str(port), protocol, str(PROBE_TIMEOUT)
    ).split()
    return result, float(elapsed)


@pytest.fixture(scope="module")
def veth_link(host):
    """A veth pair whose far end answers nothing: 198.18.9.0/24 and fd00:198:18:9::/64 lead there."""
    commands = [
        "ip link add fwtest0 type veth peer name fwtest1",
        "ip link set fwtest1 up",
        "ip link set fwtest0 up",
        "ip address add 198.18.9.1/24 dev fwtest0",
        "ip address add fd00:198:18:9::1/64 dev fwtest0 nodad",
    ]
    # Static neighbours: no ARP or neighbour discovery delays or fails a probe.
    for address in ("198.18.9.50", "198.18.9.99", "fd00:198:18:9::53", "fd00:198:18:9::99"):
        commands.append(f"ip neighbour replace {address} lladdr 02:00:00:00:00:99 dev fwtest0 nud permanent")
    host.check_output(" && ".join(commands))
    yield
    host.run("ip link delete fwtest0")


@pytest.mark.parametrize("name", ["input", "forward", "output"])
def test_chain_drops_what_no_rule_accepts(ruleset, name):
    assert find(ruleset, "chain", name)["policy"] == "drop"


def test_ssh_is_accepted_only_from_the_configured_sources(ruleset):
    ssh_rules = [
        exprs
        for exprs in rules(ruleset, "input")
        if match_value(exprs, "tcp", "dport") == 22 and {"accept": None} in exprs
    ]
    source_matches = [match_value(exprs, "ip", "saddr") or match_value(exprs, "ip6", "saddr") for exprs in ssh_rules]
    assert None not in source_matches, "an SSH rule accepts any source"
    assert set().union(*(addresses(right) for right in source_matches)) == SSH_SOURCES


def test_new_ssh_connections_are_throttled_per_source(ruleset):
    throttles = [
        exprs
        for exprs in rules(ruleset, "input")
        if match_value(exprs, "tcp", "dport") == 22 and {"drop": None} in exprs and any("set" in e for e in exprs)
    ]
    throttled_sets = {next(e["set"]["set"] for e in exprs if "set" in e) for exprs in throttles}
    assert throttled_sets == {"@ssh_flood", "@ssh_flood_v6"}


def test_ssh_replies_leave_only_towards_the_configured_sources(ruleset):
    replies = [exprs for exprs in rules(ruleset, "output") if match_value(exprs, "tcp", "sport") == 22]
    destinations = [match_value(exprs, "ip", "daddr") or match_value(exprs, "ip6", "daddr") for exprs in replies]
    assert None not in destinations
    assert set().union(*(addresses(right) for right in destinations)) == SSH_SOURCES


@pytest.mark.parametrize(("name", "address_type"), [("egress_window", "ipv4_addr"), ("egress_window_v6", "ipv6_addr")])
def test_egress_window_set_takes_address_protocol_port_with_timeouts(ruleset, name, address_type):
    nft_set = find(ruleset, "set", name)
    assert nft_set["type"] == [address_type, "inet_proto", "inet_service"]
    assert {"interval", "timeout"} <= set(nft_set["flags"])


def test_egress_window_element_expires_after_its_timeout(host):
    element = ["198.18.9.98", "tcp", 81]
    add = f"nft add element {TABLE} egress_window '{{ 198.18.9.98 . tcp . 81 timeout 2s }}'"
    assert element in set_elements(host, "egress_window", before=add)
    deadline = time.monotonic() + 6
    while element in set_elements(host, "egress_window") and time.monotonic() < deadline:
        time.sleep(0.5)
    assert element not in set_elements(host, "egress_window")


@pytest.mark.usefixtures("veth_link")
@pytest.mark.parametrize(
    ("address", "port", "protocol"),
    [("198.18.9.99", 80, "tcp"), ("fd00:198:18:9::99", 80, "tcp"), ("198.18.9.99", 53, "udp")],
)
def test_outbound_connection_to_an_unlisted_destination_fails_at_once(host, address, port, protocol):
    result, elapsed = probe(host, address, port, protocol)
    assert result in REFUSED
    assert elapsed < 2.5


@pytest.mark.usefixtures("veth_link")
@pytest.mark.parametrize(
    ("address", "port", "protocol"), [("198.18.9.50", 3128, "tcp"), ("fd00:198:18:9::53", 53, "udp")]
)
def test_outbound_connection_to_infrastructure_leaves_the_server(host, address, port, protocol):
    assert probe(host, address, port, protocol)[0] == "timeout"


@pytest.mark.usefixtures("veth_link")
@pytest.mark.parametrize(
    ("set_name", "address"), [("egress_window", "198.18.9.99"), ("egress_window_v6", "fd00:198:18:9::99")]
)
def test_egress_window_element_lets_the_connection_leave(host, set_name, address):
    before = window_counter(host, set_name)
    host.check_output(f"nft add element {TABLE} {set_name} '{{ {address} . tcp . 80 timeout 60s }}'")
    try:
        assert probe(host, address, 80)[0] == "timeout"
        assert window_counter(host, set_name) > before
    finally:
        host.run(f"nft delete element {TABLE} {set_name} '{{ {address} . tcp . 80 }}'")


def probe_as(host, user: str, address: str, port: int, protocol: str = "tcp") -> str:
    return host.check_output(
        "runuser -u %s -- python3 -c %s %s %s %s %s", user, PROBE, address, str(port), protocol, str(PROBE_TIMEOUT)
    ).split()[0]


@pytest.mark.usefixtures("veth_link")
@pytest.mark.parametrize(
    ("address", "port", "protocol"), [("198.18.9.50", 3128, "tcp"), ("fd00:198:18:9::53", 53, "udp")]
)
def test_infrastructure_is_closed_to_the_accounts_it_does_not_name(host, address, port, protocol):
    assert probe_as(host, "nobody", address, port, protocol) in REFUSED


@pytest.mark.usefixtures("veth_link")
def test_an_egress_window_admits_only_its_accounts(host):
    host.check_output(f"nft add element {TABLE} egress_window '{{ 198.18.9.99 . tcp . 80 timeout 60s }}'")
    try:
        assert probe_as(host, "nobody", "198.18.9.99", 80) in REFUSED
        assert probe(host, "198.18.9.99", 80)[0] == "timeout"  # root, the scenario's installer, left
    finally:
        host.run(f"nft delete element {TABLE} egress_window '{{ 198.18.9.99 . tcp . 80 }}'")


@pytest.mark.usefixtures("veth_link")
def test_a_refused_attempt_is_recorded_with_its_account(host):
    probe_as(host, "nobody", "198.18.9.99", 8443)
    listing = json.loads(host.check_output(f"nft -j list set {TABLE} egress_refused"))["nftables"]
    uid = int(host.check_output("id -u nobody"))
    recorded = [e["elem"]["val"]["concat"] for e in find(listing, "set", "egress_refused").get("elem", [])]
    assert [uid, "198.18.9.99", 6, 8443] in [[u, a, {"tcp": 6}.get(p, p), port] for u, a, p, port in recorded]


@pytest.mark.usefixtures("veth_link")
def test_a_single_accounts_destination_lets_only_that_account_out(host):
    as_nobody = host.check_output(
        "runuser -u nobody -- python3 -c %s %s %s %s %s", PROBE, "198.18.9.99", "443", "tcp", str(PROBE_TIMEOUT)
    ).split()[0]
    assert as_nobody == "timeout"  # left the server
    assert probe(host, "198.18.9.99", 443)[0] in REFUSED  # root is not that account


def test_ruleset_file_passes_the_nft_check(host):
    assert host.run("nft --check --file /etc/nftables.conf").rc == 0


def test_nftables_service_loads_the_ruleset_at_boot(host):
    assert host.service("nftables").is_enabled


def test_lockout_guard_was_confirmed_and_disarmed(host):
    assert host.run("systemctl is-active lockout-guard-firewall.timer").stdout.strip() != "active"


def test_the_revert_of_a_host_without_ruleset_closes_it(host):
    """The side effect flushed the ruleset before its last run, as a fresh host has none: the revert
    would not go back to none (every channel open) but load the closed ruleset, SSH in and nothing out."""
    previous = host.file("/var/lib/firewall/previous.nft").content_string
    assert "The closed ruleset" in previous
    output = previous[previous.index("chain output {") :]
    assert "policy drop;" in output and "policy accept" not in previous
    assert "@egress_window" not in previous
    assert host.run("nft --check --file /var/lib/firewall/previous.nft").rc == 0
    revert = host.file("/var/lib/firewall/revert.sh").content_string
    assert "cp /var/lib/firewall/previous.nft /etc/nftables.conf" in revert


@pytest.mark.parametrize("protocol", ["udp", "tcp"])
def test_a_resolver_on_loopback_answers_the_dns_accounts_only(host, protocol):
    """Nothing listens on 127.0.0.53 here: root's query meets the closed port, nobody's the firewall."""
    assert probe(host, "127.0.0.53", 53, protocol)[0] == "ECONNREFUSED"
    assert probe_as(host, "nobody", "127.0.0.53", 53, protocol) in REFUSED
