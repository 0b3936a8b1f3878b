"""playbooks/patch.yml patches through an egress window that is closed again, even when the run fails."""

from __future__ import annotations

import hashlib
import json
import urllib.request
from pathlib import Path

import pytest

from lab import labctl
from lab.harness import container_exec, run_playbook, tcp_connects

MIRROR = "deb.debian.org"
# Libraries that Debian's security archive has updated, that the lab image has,
# and that their users depend on loosely enough to take an older version for
# a moment: one of them is set back to detect that patching brings it forward.
SET_BACK_CANDIDATES = ("libexpat1", "liblzma5", "libgnutls30")


def window_elements() -> str:
    listing = container_exec(labctl.SERVER.container, "nft", "list", "set", "inet", "firewall", "egress_window")
    return listing.partition("elements = ")[2]


def pending_security_updates() -> list[str]:
    """The packages an upgrade would bring from a -security suite (what Lynis's PKGS-7392 reports)."""
    simulation = container_exec(labctl.SERVER.container, "apt-get", "--simulate", "--quiet", "upgrade")
    inst = [line.split() for line in simulation.splitlines() if line.startswith("Inst ")]
    return sorted({words[1] for words in inst if any(word.endswith("-security") for word in words)})


def installed_version(package: str) -> str:
    show = ("dpkg-query", "--show", "--showformat=${Version}", package)
    return container_exec(labctl.SERVER.container, *show, check=False)


def archive_versions(package: str) -> list[tuple[str, str]]:
    """(version, the archive URL and suite that offers it), as the server's package lists give them."""
    madison = container_exec(labctl.SERVER.container, "apt-cache", "madison", package)
    rows = [[cell.strip() for cell in line.split("|")] for line in madison.splitlines()]
    return [(version, source) for _, version, source in rows]


def older_version(package: str) -> str | None:
    """An older version from the main archive, where the installed one came from -security."""
    installed, versions = installed_version(package), archive_versions(package)
    security = [version for version, source in versions if "-security/" in source]
    main = [version for version, source in versions if not ("-security/" in source or "-updates/" in source)]
    older = [version for version in main if version != installed]
    return older[0] if security and security[0] == installed and older else None


def set_back(package: str, version: str, workdir: Path) -> None:
    """Install an older version of package on the server, fetched from the mirror its lists name, hash checked."""
    server = labctl.SERVER.container
    record = container_exec(server, "apt-cache", "show", f"{package}={version}")
    fields = dict(line.split(": ", 1) for line in record.splitlines() if ": " in line and not line.startswith(" "))
    base = next(source.split()[0] for offered, source in archive_versions(package) if offered == version)
    with urllib.request.urlopen(f"{base}/{fields['Filename']}", timeout=60) as response:
        data = response.read()
    assert hashlib.sha256(data).hexdigest() == fields["SHA256"], f"{fields['Filename']} does not match its list"
    deb = workdir / Path(fields["Filename"]).name
    deb.write_bytes(data)
    labctl.podman("cp", str(deb), f"{server}:/root/{deb.name}")
    try:
        container_exec(server, "dpkg", "--install", f"/root/{deb.name}")
    finally:
        container_exec(server, "rm", "-f", f"/root/{deb.name}", check=False)


def mirror_reachable() -> bool:
    """Whether the server can open a connection to the mirror (bounded to 5 s)."""
    return tcp_connects(labctl.SERVER.container, MIRROR, 80)


# The server as site.yml leaves it, shared with the other modules (tests/lab/conftest.py).
pytestmark = pytest.mark.usefixtures("provisioned")


def test_outside_a_window_the_server_cannot_reach_the_mirror():
    assert not mirror_reachable()


def test_patching_reports_the_updates_and_the_reboot_need():
    run = run_playbook("playbooks/patch.yml")
    assert run.returncode == 0, run.output[-3000:]
    assert "security update(s) installed" in run.output
    assert "reboot needed: " in run.output


def test_patching_installs_a_pending_security_update(tmp_path):
    """A server one security update behind is brought level, and Lynis's check finds nothing left."""
    older = {package: older_version(package) for package in SET_BACK_CANDIDATES}
    package = next((p for p, version in older.items() if version), None)
    if package is None:
        pytest.skip(f"none of {', '.join(SET_BACK_CANDIDATES)} has an older version in the main archive to set back to")
    current = installed_version(package)
    set_back(package, older[package], tmp_path)
    assert installed_version(package) == older[package]
    assert package in pending_security_updates()

    run = run_playbook("playbooks/patch.yml")
    assert run.returncode == 0, run.output[-3000:]
    installed = run.output.partition(" security update(s) installed (")[2].partition(")")[0].split(", ")
    assert package in installed
    assert installed_version(package) == current
    assert pending_security_updates() == []


def test_the_window_is_closed_after_patching():
    assert window_elements() == ""
    assert not mirror_reachable()


def test_the_window_is_closed_when_patching_fails():
    wrong_port = {"patch_mirrors": [{"host": MIRROR, "protocol": "tcp", "port": 8080}]}
    run = run_playbook("playbooks/patch.yml", "--extra-vars", json.dumps(wrong_port))
    assert run.returncode != 0
    assert "TASK [Close the egress window]" in run.output
    assert window_elements() == ""
