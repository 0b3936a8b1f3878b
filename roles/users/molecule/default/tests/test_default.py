"""Who can log in, with which key, and who gets sudo, on a server the users role has set up.

prepare.yml left an earlier state: alice an admin with a key she no longer
uses and an admin account alice-admin (she is no admin now), bob an admin on
his own account (now on bob-admin, users_admin_separate_account's default),
carol (now removed) with a key, an admin account, a file and a running job,
erin (now purged) with an admin account, ghost added to the SSH group by hand.
sshd runs in the container, so the login tests are real SSH logins to
127.0.0.1 with the test keys.
"""

import os
from pathlib import Path

import pytest

KEY_DIR = Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent")) / "keys"
SSH = (
    "ssh -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"
    " -o ConnectTimeout=10 -i /root/test-keys/{key} {user}@127.0.0.1 {command}"
)


def ssh(host, user, key, command="id -un"):
    return host.run(SSH.format(user=user, key=key, command=command))


def shadow(host, user):
    """The /etc/shadow fields of a user: name, password, ..., expiry (days since 1970) at index 7."""
    with host.sudo():
        return host.check_output(f"getent shadow {user}").split(":")


@pytest.mark.parametrize(
    ("user", "groups"),
    [
        ("alice", {"alice", "analysts", "ssh-login"}),
        # The admin analyst's own account, which runs her code, gets no sudo...
        ("bob", {"bob", "analysts", "ssh-login"}),
        # ...her admin account does, and is no analyst.
        ("bob-admin", {"bob-admin", "ssh-login", "analytics-admins"}),
        ("analytics-jobs", {"analytics-jobs", "analysts"}),
        ("workspace-sync", {"workspace-sync"}),
    ],
)
def test_account_has_exactly_its_groups(host, user, groups):
    assert set(host.user(user).groups) == groups


@pytest.mark.parametrize(
    ("group", "members"), [("ssh-login", {"admin", "alice", "bob", "bob-admin"}), ("analytics-admins", {"bob-admin"})]
)
def test_login_and_sudo_groups_hold_only_the_declared_accounts(host, group, members):
    assert set(host.group(group).members) == members


@pytest.mark.parametrize("user", ["alice", "bob", "bob-admin"])
def test_analyst_logs_in_with_bash_and_no_password(host, user):
    account = host.user(user)
    assert account.shell == "/bin/bash"
    assert account.group == user
    # "*": no password can match, yet the account is not locked ("!") and does not expire.
    assert shadow(host, user)[1] == "*"
    assert shadow(host, user)[7] == ""


@pytest.mark.parametrize(("user", "key"), [("alice", "alice"), ("bob", "bob"), ("bob-admin", "bob")])
def test_authorized_keys_hold_exactly_the_listed_key(host, user, key):
    keys = host.file(f"/home/{user}/.ssh/authorized_keys")
    lines = [line for line in keys.content_string.splitlines() if line and not line.startswith("#")]
    assert lines == [(KEY_DIR / f"{key}.pub").read_text().strip()]


@pytest.mark.parametrize(
    ("path", "mode"),
    [
        ("/home/{user}", 0o750),
        ("/home/{user}/.ssh", 0o700),
        ("/home/{user}/.ssh/authorized_keys", 0o600),
    ],
    ids=["home", "ssh-folder", "authorized-keys"],
)
@pytest.mark.parametrize("user", ["alice", "bob", "bob-admin"])
def test_analyst_files_are_private_to_the_analyst(host, user, path, mode):
    item = host.file(path.format(user=user))
    assert (item.user, item.group, item.mode) == (user, user, mode)


@pytest.mark.parametrize(("user", "key"), [("alice", "alice"), ("bob", "bob"), ("bob-admin", "bob")])
def test_analyst_logs_in_with_their_key(host, user, key):
    login = ssh(host, user, key)
    assert login.rc == 0, login.stderr
    assert login.stdout.strip() == user


@pytest.mark.parametrize(
    ("user", "key"),
    [
        ("alice", "alice-old"),  # a key taken off the list
        ("carol", "carol"),  # a removed analyst with her old key
        ("analytics-jobs", "alice"),  # the service account has no keys
        ("alice", "bob"),  # a key of another analyst
        ("bob-admin", "alice"),  # an admin account takes its analyst's keys only
        ("alice-admin", "alice"),  # the admin account of an analyst no longer admin
        ("carol-admin", "carol"),  # the admin account of a removed analyst
    ],
)
def test_login_is_refused(host, user, key):
    login = ssh(host, user, key)
    assert login.rc == 255
    assert "Permission denied" in login.stderr


@pytest.mark.parametrize(
    ("user", "key", "allowed"), [("bob-admin", "bob", True), ("bob", "bob", False), ("alice", "alice", False)]
)
def test_only_admin_accounts_can_sudo(host, user, key, allowed):
    sudo = ssh(host, user, key, "sudo -n true")
    assert (sudo.rc == 0) is allowed, sudo.stderr


@pytest.mark.parametrize(
    "command",
    [
        "sudo -n -u bob-admin true",  # no sudo to it
        "su -c true bob-admin < /dev/null",  # no password that works
        "ls /home/bob-admin",  # no way into its home
    ],
)
def test_code_run_by_the_admin_analyst_cannot_become_her_admin_account(host, command):
    # bob's login works; the command in it fails.
    attempt = ssh(host, "bob", "bob", f"'{command} || echo refused'")
    assert (attempt.rc, attempt.stdout.strip()) == (0, "refused"), attempt.stderr


def test_operator_keeps_passwordless_sudo(host):
    assert host.run("runuser -u admin -- sudo -n true").rc == 0
    assert "admin ALL=(ALL:ALL) NOPASSWD: ALL" in host.file("/etc/sudoers.d/50-analytics-operator").content_string


@pytest.mark.parametrize("name", ["50-analytics-admins", "50-analytics-operator"])
def test_sudo_drop_ins_are_root_only(host, name):
    drop_in = host.file(f"/etc/sudoers.d/{name}")
    assert (drop_in.user, drop_in.group, drop_in.mode) == ("root", "root", 0o440)


def test_cloud_image_sudo_entry_is_left_alone(host):
    assert host.file("/etc/sudoers.d/90-cloud-init-users").content_string.strip() == "admin ALL=(ALL) NOPASSWD:ALL"


def test_sudo_configuration_is_valid(host):
    with host.sudo():
        check = host.run("visudo -c")
    assert check.rc == 0, check.stdout + check.stderr


# A removed analyst, her admin account, and the admin account of an analyst no longer admin.
LOCKED = ["carol", "carol-admin", "alice-admin"]


@pytest.mark.parametrize("user", LOCKED)
def test_removed_analyst_is_locked_and_expired(host, user):
    assert host.check_output(f"passwd -S {user}").split()[1] == "L"
    fields = shadow(host, user)
    assert fields[1].startswith("!")
    assert fields[7] == "1"  # expired on 1970-01-02
    # PAM refuses the expired account even where no password is asked (root's su).
    assert "Your account has expired" in host.run(f"su -s /bin/sh {user} -c true").stderr


@pytest.mark.parametrize("user", LOCKED)
def test_removed_analyst_has_no_shell_no_keys_and_no_groups(host, user):
    account = host.user(user)
    assert account.shell == "/usr/sbin/nologin"
    assert not host.file(f"/home/{user}/.ssh/authorized_keys").exists
    assert set(account.groups) == {user}


def test_removed_analyst_keeps_home_and_running_job(host):
    assert host.file("/home/carol/notes.txt").content_string.strip() == "results of a long analysis"
    assert host.run("pgrep -u carol -x sleep").rc == 0


@pytest.mark.parametrize("user", ["erin", "erin-admin"])
def test_purged_analyst_and_home_are_gone(host, user):
    assert not host.user(user).exists
    assert not host.file(f"/home/{user}").exists


def test_service_account_cannot_log_in(host):
    account = host.user("analytics-jobs")
    assert account.shell == "/usr/sbin/nologin"
    assert account.home == "/var/lib/analytics-jobs"
    assert account.uid < 1000
    assert shadow(host, "analytics-jobs")[1] == "!"
    assert not host.file("/var/lib/analytics-jobs/.ssh/authorized_keys").exists


def test_service_account_can_write_to_an_analysts_folder(host):
    with host.sudo():
        host.run_test("install -d -o root -g analysts -m 2770 /tmp/shared")
        try:
            assert host.run("runuser -u analytics-jobs -- touch /tmp/shared/probe").rc == 0
        finally:
            host.run_test("rm -rf /tmp/shared")


def test_system_account_cannot_log_in(host):
    account = host.user("workspace-sync")
    assert (account.shell, account.home, account.gecos) == (
        "/usr/sbin/nologin",
        "/var/lib/workspace-sync",
        "Workspace copies",
    )
    assert account.uid < 1000
    assert shadow(host, "workspace-sync")[1] == "!"


@pytest.mark.parametrize("user", ["alice", "bob"])
def test_analyst_has_a_private_work_folder(host, user):
    work = host.file(f"/home/{user}/work")
    assert work.is_directory
    assert (work.user, work.group, work.mode) == (user, user, 0o700)


def test_admin_account_has_no_work_folder(host):
    # Analysis work, which the workspace copies keep, belongs in the analyst's own account.
    assert not host.file("/home/bob-admin/work").exists
