"""What an analyst sees on a server the server_base role has set up."""

import pytest


def test_clock_uses_the_configured_time_zone(host):
    assert host.check_output("date +%Z") in ("CET", "CEST")
    assert host.file("/etc/timezone").content_string.strip() == "Europe/Berlin"


def test_scratch_folder_is_shared_by_the_analysts_group_only(host):
    scratch = host.file("/srv/analytics")
    assert scratch.is_directory
    assert (scratch.user, scratch.group) == ("root", "analysts")
    assert scratch.mode == 0o2770


def test_a_file_created_in_scratch_belongs_to_the_analysts_group(host):
    with host.sudo():
        host.run_test("touch /srv/analytics/.probe")
        try:
            assert host.file("/srv/analytics/.probe").group == "analysts"
        finally:
            host.run_test("rm -f /srv/analytics/.probe")


def test_others_cannot_read_the_scratch_folder(host):
    with host.sudo("nobody"):
        assert host.run("ls /srv/analytics").rc != 0


@pytest.mark.parametrize(
    "phrase",
    ["Storage here is temporary", "/srv/analytics", "Outbound traffic is closed", "the molecule test"],
)
def test_login_message_warns_about_temporary_storage(host, phrase):
    assert phrase in host.file("/etc/motd").content_string


def test_journald_runs_with_the_cap(host):
    assert "SystemMaxUse=500M" in host.file("/etc/systemd/journald.conf.d/50-server-base.conf").content_string
    assert host.service("systemd-journald").is_running
