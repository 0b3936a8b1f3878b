"""What an analyst sees on a server the server_base role has set up."""

import pytest


def test_clock_uses_the_configured_time_zone(host):
    assert host.check_output("date +%Z") in ("CET", "CEST")
    assert host.file("/etc/timezone").content_string.strip() == "Europe/Berlin"


def test_scratch_folder_is_shared_by_the_analysts_group_only(host):
    scratch = host.file("/srv/analytics")
    assert scratch.is_directory
    assert (scratch.user, scratch.group) == ("root", "analysts")
    assert scratch.mode == 0o3770


def test_an_analyst_cannot_delete_or_replace_a_colleagues_file_in_scratch(host):
    """Two members of the group: the second's process tries what a library of hers could."""
    with host.sudo():
        for name in ("scratch-a", "scratch-b"):
            host.run(f"useradd --no-create-home --groups analysts {name}")
        host.run_test("runuser -u scratch-a -- sh -c 'echo results > /srv/analytics/results.csv'")
        try:
            for attempt in ("rm -f /srv/analytics/results.csv", "mv /srv/analytics/results.csv /srv/analytics/x"):
                assert host.run(f"runuser -u scratch-b -- {attempt}").rc != 0, attempt
            assert host.file("/srv/analytics/results.csv").content_string == "results\n"
            # Positive control: the owner may remove her own file.
            host.run_test("runuser -u scratch-a -- rm /srv/analytics/results.csv")
        finally:
            host.run("rm -f /srv/analytics/results.csv /srv/analytics/x; userdel scratch-a; userdel scratch-b")


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
