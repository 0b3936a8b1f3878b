"""What each kind of account can do at a bastion that the bastion_jump role made a jump host.

The container is both the bastion and the jump target: every test runs its own
ssh client against its sshd over loopback (it has no other network).
prepare.yml made, each with an authorised Ed25519 key: analyst (group
analysts), sysadmin (analysts and analytics-admins, as the users role makes an
admin analyst), outsider (neither), and the operator admin (neither, but in
bastion_jump_admin_users). The scenario allows jumps to 127.0.0.1:22 and
[::1]:22. A second service on 127.0.0.1:2222 shows that a refused jump is
refused by sshd, not for want of a listener.
"""

import shlex

import pytest

KNOWN_HOSTS = "/tmp/bastion-jump-known_hosts"
SSH = (
    "timeout 30 ssh -F /dev/null -o BatchMode=yes -o IdentitiesOnly=yes -o ConnectTimeout=10"
    f" -o StrictHostKeyChecking=accept-new -o UserKnownHostsFile={KNOWN_HOSTS}"
)
MESSAGE = "This bastion only forwards to the analytics server: use ssh -J (ProxyJump)."
REFUSED = "administratively prohibited"
OTHER_SERVICE = "127.0.0.1:2222"
OTHER_BANNER = "OTHER-SERVICE"
# One connection at a time on this port, each answered with a line, then closed.
OTHER_SERVER = (
    "import socket\n"
    "server = socket.create_server(('127.0.0.1', 2222))\n"
    "while True:\n"
    "    connection, _ = server.accept()\n"
    f"    connection.sendall(b'{OTHER_BANNER}\\r\\n')\n"
    "    connection.close()\n"
)
ANALYST_MATCH = {
    "allowtcpforwarding": "local",
    "permitopen": "127.0.0.1:22 [::1]:22",
    "permitlisten": "none",
    "permittty": "no",
    "forcecommand": f"printf '%s\\n' '{MESSAGE}' >&2; exit 1",
    "allowagentforwarding": "no",
    "x11forwarding": "no",
    "permittunnel": "no",
    "allowstreamlocalforwarding": "no",
}
ADMIN_MATCH = {
    "allowtcpforwarding": "local",
    "permitopen": "any",
    "permittty": "yes",
    "forcecommand": "none",
    "allowagentforwarding": "no",
    "x11forwarding": "no",
}
OTHERS = {
    "allowtcpforwarding": "no",
    "forcecommand": "none",
    "allowagentforwarding": "no",
    "x11forwarding": "no",
    "permittunnel": "no",
    "allowstreamlocalforwarding": "no",
    "gatewayports": "no",
}
EFFECTIVE = [
    pytest.param(user, keyword, value, id=f"{user}-{keyword}")
    for user, settings in [
        ("analyst", ANALYST_MATCH),
        ("sysadmin", ADMIN_MATCH),
        ("admin", ADMIN_MATCH),
        ("outsider", OTHERS),
    ]
    for keyword, value in settings.items()
]


def ssh(host, user, command="", options=""):
    """Connect to 127.0.0.1 as user with the user's own key; the result of the ssh client."""
    key = f"/home/{user}/.ssh/id_ed25519"
    remote = shlex.quote(command) if command else ""
    return host.run(f"{SSH} -i {key} {options} {user}@127.0.0.1 {remote} < /dev/null")


def jump(host, user, target):
    """ssh -W, as ssh -J does it: the stream from target through the bastion."""
    return ssh(host, user, options=f"-W {target}")


@pytest.fixture(scope="module")
def other_service(host):
    unit = "bastion-jump-test-other-service"
    host.run_test(f"systemd-run --unit={unit} /usr/bin/python3 -c {shlex.quote(OTHER_SERVER)}")
    host.run_test("for i in $(seq 50); do ss -Hltn 'sport = :2222' | grep -q . && exit 0; sleep 0.1; done; exit 1")
    yield OTHER_SERVICE
    host.run(f"systemctl stop {unit}")


@pytest.mark.parametrize(("user", "keyword", "value"), EFFECTIVE)
def test_effective_setting(host, user, keyword, value):
    settings = host.check_output(f"sshd -T -C user={user},host=localhost,addr=127.0.0.1").splitlines()
    assert f"{keyword} {value}" in settings


@pytest.mark.parametrize("target", ["127.0.0.1:22", "[::1]:22"])
def test_analyst_jumps_to_a_target(host, target):
    result = jump(host, "analyst", target)
    assert result.stdout.startswith("SSH-2.0-"), result.stderr


@pytest.mark.parametrize("target", ["other_port", "127.0.0.2:22", "[::1]:2222"])
def test_analyst_jump_elsewhere_is_refused(host, other_service, target):
    result = jump(host, "analyst", other_service if target == "other_port" else target)
    assert result.rc == 255
    assert REFUSED in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("user", ["sysadmin", "admin"])
@pytest.mark.parametrize(("target", "banner"), [("other_port", OTHER_BANNER), ("127.0.0.2:22", "SSH-2.0-")])
def test_admin_jumps_anywhere(host, other_service, user, target, banner):
    result = jump(host, user, other_service if target == "other_port" else target)
    assert result.stdout.startswith(banner), result.stderr


def test_outsider_cannot_jump(host):
    result = jump(host, "outsider", "127.0.0.1:22")
    assert result.rc == 255
    assert REFUSED in result.stderr


def test_analyst_gets_the_message_instead_of_a_shell(host):
    result = ssh(host, "analyst", "id")
    assert result.rc == 1
    assert result.stderr.strip().endswith(MESSAGE)
    assert "uid=" not in result.stdout


def test_analyst_gets_no_terminal(host):
    result = ssh(host, "analyst", "id", options="-tt")
    assert "PTY allocation request failed" in result.stderr
    assert "uid=" not in result.stdout


@pytest.mark.parametrize("user", ["sysadmin", "admin", "outsider"])
def test_others_get_a_shell(host, user):
    result = ssh(host, user, "id -un")
    assert result.rc == 0, result.stderr
    assert result.stdout.strip() == user


@pytest.mark.parametrize(("target", "reached"), [("127.0.0.1:22", True), ("127.0.0.2:22", False)])
def test_analyst_local_forward_reaches_only_a_target(host, target, reached):
    # ssh -N -L in the background, one connection through the forwarded port, then stop ssh.
    key = "/home/analyst/.ssh/id_ed25519"
    script = f"""
        {SSH} -i {key} -o ExitOnForwardFailure=yes -N -L 127.0.0.1:10022:{target} analyst@127.0.0.1 \
            < /dev/null 2> /tmp/bastion-jump-L.err & pid=$!
        for i in $(seq 100); do ss -Hltn 'sport = :10022' | grep -q . && break; sleep 0.1; done
        timeout 10 bash -c 'exec 3<>/dev/tcp/127.0.0.1/10022; head -c 8 <&3'
        sleep 0.5; kill $pid; wait $pid; cat /tmp/bastion-jump-L.err >&2
    """
    result = host.run(f"bash -c {shlex.quote(script)}")
    assert (result.stdout == "SSH-2.0-") is reached
    assert (REFUSED in result.stderr) is not reached


def test_analyst_remote_forward_is_refused(host):
    result = ssh(host, "analyst", options="-N -o ExitOnForwardFailure=yes -R 2223:127.0.0.1:22")
    assert result.rc == 255
    assert "remote port forwarding failed" in result.stderr


@pytest.mark.parametrize("user", ["analyst", "sysadmin"])
def test_agent_is_not_forwarded(host, user):
    # The client asks for agent forwarding without waiting for an answer, so
    # the server's side tells: a second sshd, in debug mode, with the same
    # configuration, for this one connection.
    key = f"/home/{user}/.ssh/id_ed25519"
    login = f"{SSH} -p 2022 -A -i {key} {user}@127.0.0.1 true < /dev/null"
    script = f"""
        timeout 40 /usr/sbin/sshd -d -p 2022 -o PidFile=none 2> /tmp/bastion-jump-sshd-d.log & pid=$!
        for i in $(seq 100); do ss -Hltn 'sport = :2022' | grep -q . && break; sleep 0.1; done
        ssh-agent sh -c {shlex.quote(f"ssh-add -q {key} && {login}")}
        wait $pid; cat /tmp/bastion-jump-sshd-d.log
    """
    log = host.run(f"bash -c {shlex.quote(script)}").stdout
    assert "auth-agent-req@openssh.com" in log
    assert "session_auth_agent_req: agent forwarding disabled" in log


def test_lockout_guard_is_disarmed(host):
    assert not host.service("lockout-guard-bastion_jump.timer").is_running
