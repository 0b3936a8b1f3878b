"""What the GPU host looks like after the role: the driver held at its version for apt and for
unattended-upgrades, nouveau kept off, the non-free components in apt's sources, the daemon running.

The driver packages are stand-ins built by prepare.yml (no driver loads in a container); they carry
the real names and source package, which is all that dpkg, apt and unattended-upgrades go by. What
the role does on hosts without a GPU, in check mode and with bad inputs is checked by check
(converge.yml with --check) and side_effect.yml, each against a snapshot of the host.
"""

import re

import pytest

# What nvidia-driver brought in (prepare.yml) and the role installs by name.
DRIVER_PACKAGES = ["nvidia-driver", "nvidia-kernel-dkms", "libcuda1", "nvidia-smi", "nvidia-persistenced"]
# The newer versions in the tests' local repository.
NEWER = ["nvidia-driver", "nvidia-kernel-dkms", "libcuda1"]
# apt on the tests' repository alone, with lists of its own: the host's sources stay out of it.
NEWER_REPO = (
    "-o Dir::Etc::SourceList=/srv/nvidia-gpu-test/newer.list -o Dir::Etc::SourceParts=/nonexistent"
    " -o Dir::State::Lists=/srv/nvidia-gpu-test/lists"
)


def want(host, package):
    return host.check_output(f"dpkg-query --show --showformat='${{db:Status-Want}}' {package}")


def blacklist(host):
    """The entries unattended-upgrades reads, through apt's configuration as it does."""
    return host.check_output(
        "apt-config dump --no-empty --format '%v%n' Unattended-Upgrade::Package-Blacklist"
    ).splitlines()


def headers(host):
    return f"linux-headers-{host.check_output('uname -r')}"


# --------------------------------------------------------------------------- holds


@pytest.mark.parametrize("package", DRIVER_PACKAGES)
def test_driver_package_is_held(host, package):
    assert want(host, package) == "hold"


def test_kernel_headers_are_not_held(host):
    assert want(host, headers(host)) == "install"


def test_apt_keeps_the_held_driver_back_when_a_newer_one_is_offered(host):
    host.run_test(f"mkdir -p /srv/nvidia-gpu-test/lists/partial && apt-get {NEWER_REPO} update")
    upgrade = host.check_output(f"apt-get {NEWER_REPO} --simulate upgrade")
    kept_back = upgrade.partition("kept back:")[2].partition("\nThe following")[0].split()
    assert sorted(kept_back) == sorted(NEWER), upgrade
    # The same repository's newer headers are not held, so apt upgrades them: the repository works.
    assert f"Inst {headers(host)} " in upgrade, upgrade


# --------------------------------------------------------------------------- unattended-upgrades


@pytest.mark.parametrize("package", DRIVER_PACKAGES)
def test_unattended_upgrades_skips_the_driver_package(host, package):
    # unattended-upgrades matches each entry with re.match against the package name.
    assert any(re.match(entry, package) for entry in blacklist(host)), blacklist(host)


@pytest.mark.parametrize("package", ["nvidia-driver-full", "libcuda1-i386", "linux-headers-cloud-amd64", "nvidia"])
def test_unattended_upgrades_still_upgrades_other_packages(host, package):
    assert not any(re.match(entry, package) for entry in blacklist(host)), blacklist(host)


# --------------------------------------------------------------------------- nouveau


def test_nouveau_may_neither_bind_nor_set_a_mode(host):
    lines = host.file("/etc/modprobe.d/60-nvidia-gpu-nouveau.conf").content_string.splitlines()
    assert "blacklist nouveau" in lines
    assert "options nouveau modeset=0" in lines


# --------------------------------------------------------------------------- apt sources


@pytest.mark.parametrize("suite", ["bookworm", "bookworm-updates", "bookworm-security"])
def test_apt_reads_main_and_the_non_free_components_for_the_suite(host, suite):
    targets = host.check_output(
        "apt-get indextargets --no-release-info --format '$(RELEASE) $(COMPONENT)' 'Identifier: Packages'"
    ).splitlines()
    components = {line.split()[1] for line in targets if line.split()[0] == suite}
    assert components == {"main", "contrib", "non-free", "non-free-firmware"}


# --------------------------------------------------------------------------- persistence daemon


def test_the_persistence_daemon_runs_and_starts_at_boot(host):
    daemon = host.service("nvidia-persistenced")
    assert daemon.is_enabled
    assert daemon.is_running
