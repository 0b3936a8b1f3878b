"""What a user, an intruder and an auditor meet on a server the os_hardening role has set up.

The scenario runs in a podman container, as the lab does. Where a container
cannot do what an instance does (kernel settings outside its network namespace,
auditd, process accounting), the tests say so by skipping, with the reason.
The AIDE test comes first: the tests after it log in and leave traces.
"""

import re
import shlex

import pytest

PROBE_PASSWORD = "Probe-Pass-1"  # set by prepare.yml for the probe accounts
SYSCTL_FILE = "/etc/sysctl.d/60-os-hardening.conf"
NETWORK_SETTINGS = {
    "net.ipv4.conf.all.accept_redirects": "0",
    "net.ipv4.conf.default.accept_redirects": "0",
    "net.ipv4.conf.all.send_redirects": "0",
    "net.ipv4.conf.all.accept_source_route": "0",
    "net.ipv4.conf.default.accept_source_route": "0",
    "net.ipv4.conf.all.rp_filter": "1",
    "net.ipv4.conf.all.log_martians": "1",
    "net.ipv4.conf.all.forwarding": "0",
    "net.ipv4.tcp_syncookies": "1",
    "net.ipv4.icmp_echo_ignore_broadcasts": "1",
    "net.ipv6.conf.all.accept_redirects": "0",
    "net.ipv6.conf.default.accept_ra": "0",
}
BLACKLISTED_MODULES = [
    "usb-storage", "firewire-core", "dccp", "sctp", "rds", "tipc",
    "cramfs", "freevxfs", "hfs", "hfsplus", "jffs2", "udf",
]  # fmt: skip


def login_shell(host, user, command):
    """Run a command in a login shell of a user, as an SSH login would get it."""
    return host.run(f"su - {user} -c {shlex.quote(command)}")


def in_container(host):
    return host.run("systemd-detect-virt --container").rc == 0


def proc_sys_writable(host):
    options = host.check_output("findmnt --noheadings --output OPTIONS --target /proc/sys/net")
    return "ro" not in options.split(",")


# --------------------------------------------------------------------------- file integrity (first)


def test_aide_finds_no_change_on_the_unchanged_system(host):
    assert host.file("/var/lib/aide/aide.db").exists
    check = host.run("cd / && aide --config=/etc/aide/aide.conf --check")
    assert check.rc == 0, check.stdout[:3000]


def test_aide_computes_sha256_and_sha512_only(host):
    config = host.file("/etc/aide/aide.conf").content_string
    assert re.findall(r"^Checksums\s*=.*$", config, re.MULTILINE) == ["Checksums = sha256+sha512"]


def test_aide_checks_daily(host):
    timer = host.service("dailyaidecheck.timer")
    assert timer.is_enabled
    assert timer.is_running


def test_aide_would_report_a_changed_system_file(host):
    report = host.run("cd / && aide --config=/etc/aide/aide.conf --check --limit /etc/issue.net")
    assert report.rc == 0
    host.run_test("cp -p /etc/issue.net /root/issue.net.keep && echo tampered >> /etc/issue.net")
    try:
        tampered = host.run("cd / && aide --config=/etc/aide/aide.conf --check --limit /etc/issue.net")
    finally:
        host.run_test("mv /root/issue.net.keep /etc/issue.net")
    assert tampered.rc != 0
    assert "/etc/issue.net" in tampered.stdout


# --------------------------------------------------------------------------- kernel settings


@pytest.mark.parametrize(("key", "value"), NETWORK_SETTINGS.items())
def test_network_setting_is_written(host, key, value):
    assert f"{key} = {value}" in host.file(SYSCTL_FILE).content_string.splitlines()


@pytest.mark.parametrize(("key", "value"), NETWORK_SETTINGS.items())
def test_network_setting_is_in_effect(host, key, value):
    if not proc_sys_writable(host):
        pytest.skip("the container runtime mounts /proc/sys read-only; the role reports these settings instead")
    assert host.sysctl(key) == int(value)


def test_a_container_leaves_the_host_kernel_settings_alone(host):
    if not in_container(host):
        pytest.skip("not a container: every setting applies")
    keys = [line.split(" = ")[0] for line in host.file(SYSCTL_FILE).content_string.splitlines() if " = " in line]
    assert keys
    assert [key for key in keys if not key.startswith("net.")] == []


# --------------------------------------------------------------------------- logins


def test_a_login_shell_may_not_dump_core(host):
    assert login_shell(host, "probe-analyst", "ulimit -H -c").stdout.strip() == "0"


def test_systemd_coredump_stores_nothing(host):
    config = host.check_output("systemd-analyze cat-config systemd/coredump.conf")
    assert "Storage=none" in config
    assert "ProcessSizeMax=0" in config


def test_a_file_made_in_a_login_shell_is_closed_to_others(host):
    login_shell(host, "probe-analyst", "rm -f ~/umask-probe && touch ~/umask-probe")
    try:
        assert host.file("/home/probe-analyst/umask-probe").mode == 0o640
    finally:
        host.run("rm -f /home/probe-analyst/umask-probe")


def test_an_idle_login_shell_ends(host):
    assert login_shell(host, "probe-analyst", "echo $TMOUT").stdout.strip() == "900"


def test_a_login_gets_a_private_temporary_folder(host):
    uid = host.user("probe-analyst").uid
    assert login_shell(host, "probe-analyst", "echo $TMPDIR").stdout.strip() == f"/tmp/user/{uid}"


def test_password_hashing_rounds_are_raised(host):
    login_defs = host.file("/etc/login.defs").content_string
    assert re.search(r"^SHA_CRYPT_MIN_ROUNDS\s+5000$", login_defs, re.MULTILINE)
    assert re.search(r"^SHA_CRYPT_MAX_ROUNDS\s+100000$", login_defs, re.MULTILINE)


def test_sshd_pam_stack_does_not_read_the_users_pam_environment(host):
    pam_env = [line for line in host.file("/etc/pam.d/sshd").content_string.splitlines() if "pam_env.so" in line]
    assert pam_env, "Debian's sshd PAM stack has pam_env lines"
    assert not [line for line in pam_env if "user_readenv=1" in line]


@pytest.mark.parametrize(
    ("user", "allowed"),
    [("probe-analyst", False), ("probe-admin", True)],
    ids=["outside-the-su-group", "member-of-the-su-group"],
)
def test_su_needs_the_su_group(host, user, allowed):
    # Both know probe-target's password; only the group decides.
    attempt = f"echo {PROBE_PASSWORD} | su probe-target -c 'id -un'"
    result = host.run(f"su {user} -c {shlex.quote(attempt)}")
    if allowed:
        assert (result.rc, result.stdout.strip()) == (0, "probe-target"), result.stderr
    else:
        assert result.rc != 0
        assert "Permission denied" in result.stderr


# --------------------------------------------------------------------------- file permissions


@pytest.mark.parametrize(
    ("path", "mode", "group"),
    [
        ("/etc/shadow", 0o640, "shadow"),
        ("/etc/gshadow", 0o640, "shadow"),
        ("/etc/ssh/sshd_config", 0o600, "root"),
        ("/etc/crontab", 0o600, "root"),
        ("/etc/cron.d", 0o700, "root"),
        ("/etc/cron.daily", 0o700, "root"),
        ("/etc/cron.hourly", 0o700, "root"),
        ("/etc/cron.weekly", 0o700, "root"),
        ("/etc/cron.monthly", 0o700, "root"),
    ],
)
def test_sensitive_file_is_restricted(host, path, mode, group):
    item = host.file(path)
    assert (item.user, item.group, item.mode) == ("root", group, mode)


@pytest.mark.parametrize("path", ["/etc/shadow", "/etc/ssh/sshd_config", "/etc/cron.d"])
def test_a_user_cannot_read_what_is_restricted(host, path):
    assert host.run(f"su probe-analyst -c {shlex.quote(f'ls -l {path} && cat {path}')}").rc != 0


def test_a_user_cannot_look_into_another_users_home(host):
    assert host.file("/home/probe-target").mode == 0o750
    assert host.run("su probe-analyst -c 'ls /home/probe-target'").rc != 0


def test_nothing_runs_from_dev_shm(host):
    assert "noexec" in host.check_output("findmnt --noheadings --output OPTIONS /dev/shm").split(",")
    host.run_test("printf '#!/bin/sh\\necho ran\\n' > /dev/shm/probe.sh && chmod 0755 /dev/shm/probe.sh")
    try:
        result = host.run("/dev/shm/probe.sh")
    finally:
        host.run("rm -f /dev/shm/probe.sh")
    assert result.rc != 0
    assert "ran" not in result.stdout


def test_dev_shm_options_survive_a_reboot(host):
    fstab = host.file("/etc/fstab").content_string
    assert re.search(r"^tmpfs\s+/dev/shm\s+tmpfs\s+defaults,nodev,nosuid,noexec\s", fstab, re.MULTILINE)


def test_proc_is_left_to_a_containers_runtime_and_hidden_on_an_instance(host):
    fstab = host.file("/etc/fstab").content_string
    options = host.check_output("findmnt --noheadings --output OPTIONS --mountpoint /proc").split(",")
    if in_container(host):
        # No fstab line: systemd would try to remount /proc at boot and fail there.
        assert not re.search(r"^\S+\s+/proc\s", fstab, re.MULTILINE)
    else:
        assert re.search(r"^proc\s+/proc\s+proc\s+defaults,hidepid=invisible\s", fstab, re.MULTILINE)
        assert "hidepid=invisible" in options


# --------------------------------------------------------------------------- kernel modules


@pytest.mark.parametrize("module", BLACKLISTED_MODULES)
def test_blacklisted_module_cannot_load(host, module):
    if host.exists("modprobe"):
        assert "install /bin/false" in host.run(f"modprobe --dry-run --verbose {module}").stdout
    else:  # a container has no modprobe: the configuration a host would read
        lines = host.file("/etc/modprobe.d/60-os-hardening.conf").content_string.splitlines()
        assert f"install {module} /bin/false" in lines
        assert f"blacklist {module}" in lines


# --------------------------------------------------------------------------- services and tools


@pytest.mark.parametrize("package", ["telnet", "telnetd", "rsh-client", "rsh-server", "nis", "xinetd", "tftpd-hpa"])
def test_legacy_network_service_is_absent(host, package):
    assert not host.package(package).is_installed


@pytest.mark.parametrize("path", ["/etc/issue", "/etc/issue.net"])
def test_login_banner_warns(host, path):
    assert "Authorised access only" in host.file(path).content_string


@pytest.mark.parametrize("unit", ["acct.service", "sysstat.service", "sysstat-collect.timer"])
def test_accounting_unit_is_enabled(host, unit):
    assert host.service(unit).is_enabled


def test_sysstat_records_todays_statistics(host):
    assert host.run("sar -f /var/log/sysstat/sa$(date +%d)").rc == 0


def test_process_accounting_records_commands(host):
    if in_container(host):
        pytest.skip("accton needs CAP_SYS_PACCT, which a container lacks; the unit is skipped there")
    assert host.service("acct.service").is_running
    host.run_test("/bin/true")
    assert host.run("lastcomm --command true").stdout.strip()


@pytest.mark.parametrize(
    "rule",
    [
        "-w /etc/passwd -p wa -k identity",
        "-w /etc/group -p wa -k identity",
        "-w /etc/shadow -p wa -k identity",
        "-w /etc/gshadow -p wa -k identity",
        "-w /etc/sudoers -p wa -k sudoers",
        "-w /etc/sudoers.d -p wa -k sudoers",
        "-w /etc/ssh -p wa -k sshd",
    ],
)
def test_audit_rule_watches(host, rule):
    assert rule in host.file("/etc/audit/rules.d/60-os-hardening.rules").content_string.splitlines()


def test_auditd_runs_only_outside_a_container(host):
    auditd = host.service("auditd.service")
    if in_container(host):
        assert not auditd.is_enabled
        assert not auditd.is_running
    else:
        assert auditd.is_enabled
        assert auditd.is_running
        assert "-k identity" in host.check_output("auditctl -l")


def test_debsums_finds_package_files_unchanged(host):
    assert host.run("debsums --silent sudo").rc == 0


def test_apt_show_versions_tells_whether_a_package_is_up_to_date(host):
    report = host.check_output("apt-show-versions needrestart")
    assert re.match(r"^needrestart:\S+ \S+ (uptodate|upgradeable)", report), report


def test_needrestart_only_lists_restarts(host):
    result = host.run("needrestart -b")
    assert result.rc == 0
    assert "NEEDRESTART-VER" in result.stdout
    assert "$nrconf{restart} = 'l';" in host.file("/etc/needrestart/conf.d/60-os-hardening.conf").content_string
