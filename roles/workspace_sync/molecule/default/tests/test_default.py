"""The workspace copies' role in a container without a network (and without boto3).

Checked here: the units, their schedule and sandbox, the settings' modes, and that
the service really starts as its account and reaches the program, which then
stops with the message for a missing boto3. The copies themselves run against an
S3 stand-in in the lab (tests/lab/test_93_workspace_sync.py).
"""

import json

SCRIPT = "/usr/local/libexec/analytics/workspace_sync.py"


def test_timer_and_power_off_copy_are_enabled_and_running(host):
    timer = host.service("workspace-sync.timer")
    assert timer.is_enabled and timer.is_running
    shutdown = host.service("workspace-sync-shutdown.service")
    assert shutdown.is_enabled
    assert host.check_output("systemctl show -P ActiveState workspace-sync-shutdown.service") == "active"


def test_settings_are_readable_by_the_account_only(host):
    config = host.file("/etc/workspace-sync/config.json")
    assert (config.user, config.group, config.mode) == ("root", "workspace-sync", 0o640)
    settings = json.loads(config.content_string)
    assert settings["bucket"] == "molecule-workspace"
    assert settings["folders"] == ["/home/*/work"]
    assert settings["delete_remote"] is False
    environment = host.file("/etc/workspace-sync/environment")
    assert (environment.user, environment.mode) == ("root", 0o600)
    assert host.run(f"/usr/bin/python3 -I {SCRIPT} --check-config /etc/workspace-sync/config.json").rc == 0


def test_the_service_runs_as_its_account_with_read_access_only(host):
    show = host.check_output(
        "systemctl show --property=User,AmbientCapabilities,ProtectSystem,ProtectHome workspace-sync.service"
    )
    properties = dict(line.split("=", 1) for line in show.splitlines())
    assert properties == {
        "User": "workspace-sync",
        "AmbientCapabilities": "cap_dac_read_search",
        "ProtectSystem": "strict",
        "ProtectHome": "read-only",
    }


def test_a_copy_without_boto3_fails_with_the_fix(host):
    with host.sudo():
        run = host.run("systemctl start workspace-sync.service")
        journal = host.check_output("journalctl -u workspace-sync.service --output=cat --no-pager")
    assert run.rc != 0
    assert "boto3 is missing: install Debian's python3-boto3" in journal
