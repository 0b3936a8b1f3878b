"""The audit report's parsing and the waiver file: what `make audit` counts is what the auditors said."""

# ruff: noqa: E501 - LYNIS_LOG holds whole lines as Lynis writes them.

import pytest

from lab import audit

LYNIS_REPORT = """\
# Lynis Report
lynis_version=3.0.8
hardening_index=87
warning[]=SSH-7412|Root can log in|-|-|
suggestion[]=SSH-7408|Consider hardening SSH configuration|AllowTcpForwarding (set YES to NO)|-|
suggestion[]=FILE-6310|To decrease the impact of a full /home file system, place /home on a separate partition|-|-|
"""


def test_lynis_report_gives_index_warnings_and_suggestions():
    index, warnings, suggestions = audit.parse_lynis_report(LYNIS_REPORT)
    assert index == 87
    assert warnings == ["SSH-7412 Root can log in"]
    assert suggestions == [
        ("SSH-7408", "Consider hardening SSH configuration (AllowTcpForwarding (set YES to NO))"),
        ("FILE-6310", "To decrease the impact of a full /home file system, place /home on a separate partition"),
    ]


def test_a_report_without_index_counts_as_zero():
    assert audit.parse_lynis_report("lynis_version=3.0.8\n") == (0, [], [])


def test_the_packages_behind_a_pending_security_update_are_named():
    report = (
        LYNIS_REPORT + "vulnerable_package[]=libssl3\nvulnerable_package[]=libexpat1\nvulnerable_package[]=libssl3\n"
    )
    assert audit.parse_vulnerable_packages(report) == ["libexpat1", "libssl3"]
    assert audit.parse_vulnerable_packages(LYNIS_REPORT) == []


def test_the_report_names_pending_security_updates_and_how_to_apply_them():
    server = audit.Findings(
        lynis_warnings=["PKGS-7392 Found one or more vulnerable packages."], vulnerable_packages=["libexpat1"]
    )
    text = audit.report(server, audit.Findings(), {}, {})
    assert "security updates pending for: libexpat1" in text
    assert f"apply them: {audit.PATCH_COMMAND}" in text
    assert "security updates pending for" not in audit.report(audit.Findings(), audit.Findings(), {}, {})


SSH_AUDIT = {
    "kex": [
        {"algorithm": "sntrup761x25519-sha512@openssh.com", "notes": {"info": ["default"]}},
        {"algorithm": "curve25519-sha256", "notes": {"warn": ["no post-quantum protection"]}},
        {"algorithm": "ecdh-sha2-nistp256", "notes": {"fail": ["NSA curves"], "warn": ["weak"]}},
    ],
    "key": [],
    "enc": [{"algorithm": "aes256-gcm@openssh.com", "notes": {}}],
    "mac": [{"algorithm": "hmac-sha1", "notes": {"fail": ["SHA-1"]}}],
    "cves": [{"name": "CVE-2099-0001", "description": "made up"}],
    "additional_notes": [
        "Potentially insufficient connection throttling detected ...",
        "Terrapin: all peers must support strict kex",
    ],
}


def test_ssh_audit_counts_each_algorithm_once_at_its_worst_level():
    fail, warn = audit.parse_ssh_audit(SSH_AUDIT)
    assert [item.split(":")[0] for item in fail] == ["kex ecdh-sha2-nistp256", "mac hmac-sha1", "CVE CVE-2099-0001"]
    assert [item.split(":")[0] for item in warn] == ["kex curve25519-sha256", "throttling"]


def test_a_clean_ssh_audit_report_has_no_findings():
    clean = {"kex": [{"algorithm": "sntrup761x25519-sha512@openssh.com", "notes": {"info": ["ok"]}}]}
    assert audit.parse_ssh_audit(clean) == ([], [])


def test_every_waiver_in_the_repository_has_a_reason():
    waivers = audit.load_waivers()
    assert waivers
    assert all(len(reason) > 20 for reason in waivers.values())


def test_a_waiver_without_a_reason_is_refused(tmp_path):
    waivers = tmp_path / "waivers.yml"
    waivers.write_text("waivers:\n  FILE-6310: ''\n  LYNIS: pinned on purpose\n")
    with pytest.raises(SystemExit, match="FILE-6310"):
        audit.load_waivers(waivers)


# Lines as Lynis 3.0.8 logs them (the "Currently having" totals cut off).
LYNIS_LOG = """\
2026-11-28 00:53:43 Performing test ID USB-1000 (Check if USB storage is disabled)
2026-11-28 00:53:43 Hardening: assigned maximum number of hardening points for this item (3)
2026-11-28 00:53:43 Performing test ID USB-3000 (Check for presence of USBGuard)
2026-11-28 00:53:43 Hardening: assigned partial number of hardening points (0 of 8)
2026-11-28 00:54:01 Performing test ID SSH-7408 (Check SSH specific defined options)
2026-11-28 00:54:01 Hardening: assigned maximum number of hardening points for this item (3)
2026-11-28 00:54:01 Hardening: assigned partial number of hardening points (1 of 3)
2026-11-28 00:54:02 Performing test ID SSH-7440 (Check OpenSSH option: AllowUsers and AllowGroups)
2026-11-28 00:54:05 Performing test ID KRNL-6000 (Check sysctl key pairs in scan profile)
2026-11-28 00:54:06 Result: sysctl key fs.protected_fifos has a different value than expected in scan profile. Expected=2, Real=0
2026-11-28 00:54:06 Hardening: assigned partial number of hardening points (0 of 1)
2026-11-28 00:54:06 Result: key kernel.sysrq does not exist on this machine
2026-11-28 00:54:06 Result: sysctl key net.ipv4.conf.all.rp_filter contains equal expected and current value (1)
2026-11-28 00:54:06 Hardening: assigned maximum number of hardening points for this item (1)
2026-11-28 00:54:06 Result: sysctl key net.ipv4.conf.all.accept_redirects has a different value than expected in scan profile. Expected=0, Real=1
2026-11-28 00:54:06 Hardening: assigned partial number of hardening points (0 of 1)
2026-11-28 00:54:06 Performing test ID HRDN-7230 (Check for malware scanner)
2026-11-28 00:54:06 Hardening: assigned partial number of hardening points (1 of 3)
"""

LYNIS_ITEMS = [
    ("USB-1000", 3, 3),
    ("USB-3000", 0, 8),
    ("SSH-7408", 3, 3),
    ("SSH-7408", 1, 3),
    ("KRNL-6000:fs.protected_fifos", 0, 1),
    ("KRNL-6000:net.ipv4.conf.all.rp_filter", 1, 1),
    ("KRNL-6000:net.ipv4.conf.all.accept_redirects", 0, 1),
    ("HRDN-7230", 1, 3),
]

HOST_KERNEL = {"KRNL-6000:fs.*": "The host's. Really.", "ACCT-9628": "No audit subsystem of its own."}


def test_lynis_log_gives_every_award_of_points_and_names_the_sysctl_key():
    assert audit.parse_lynis_items(LYNIS_LOG) == LYNIS_ITEMS


def test_the_index_is_worked_out_as_lynis_does():
    # 9 of 23 points: Lynis's integer arithmetic gives 39, not 39.1 rounded.
    assert audit.hardening_index(LYNIS_ITEMS) == 9 * 100 // 23 == 39
    assert audit.hardening_index([]) == 0


def test_the_container_index_leaves_out_the_host_kernels_checks_and_nothing_else():
    # fs.protected_fifos (0 of 1) goes; the container's own net.* keys stay.
    assert audit.container_index(LYNIS_ITEMS, HOST_KERNEL) == 9 * 100 // 22
    assert audit.host_kernel_items(LYNIS_ITEMS, HOST_KERNEL) == [
        ("KRNL-6000:fs.protected_fifos", 0, 1, "The host's. Really.")
    ]
    assert audit.container_index(LYNIS_ITEMS, {}) == audit.hardening_index(LYNIS_ITEMS)


def test_the_repository_lists_the_host_kernels_checks_with_reasons_and_no_network_key():
    host_kernel = audit.load_host_kernel()
    assert audit.host_kernel_reason("KRNL-6000:kernel.kptr_restrict", host_kernel)
    assert audit.host_kernel_reason("ACCT-9628", host_kernel)
    assert audit.host_kernel_reason("KRNL-6000:net.ipv4.conf.all.rp_filter", host_kernel) is None
    assert audit.host_kernel_reason("SSH-7408", host_kernel) is None


def test_a_host_kernel_entry_without_a_reason_is_refused(tmp_path):
    waivers = tmp_path / "waivers.yml"
    waivers.write_text("host_kernel:\n  - items: [ACCT-9628]\n")
    with pytest.raises(SystemExit, match="ACCT-9628"):
        audit.load_host_kernel(waivers)


@pytest.mark.parametrize(
    ("test_id", "text", "expected"),
    [
        ("FILE-6310", "place /home on a separate partition", "whole test"),
        ("SSH-7408", "Consider hardening SSH configuration (MaxSessions (set 4 to 2))", "one option"),
        ("SSH-7408", "Consider hardening SSH configuration (Compression (set YES to NO))", None),
        ("SSH-7440", "Consider hardening SSH configuration (MaxSessions (set 4 to 2))", None),
    ],
)
def test_a_waiver_names_a_whole_test_or_one_option_of_it(test_id, text, expected):
    waivers = {"FILE-6310": "whole test", "SSH-7408:MaxSessions": "one option"}
    assert audit.waiver_for(test_id, text, waivers) == expected


def test_points_not_earned_are_listed_with_their_reason_or_as_open():
    findings = audit.Findings(
        lynis_items=LYNIS_ITEMS,
        lynis_suggestions=[("SSH-7408", "Consider hardening SSH configuration (Port (set 22 to ))")],
    )
    waivers = {"USB-3000": "No USB bus. Really.", "SSH-7408:Port": "Port 22 on purpose"}
    # KRNL-6000 is open for its network key; its host kernel key is not counted here.
    assert audit.unearned_points(findings, waivers, HOST_KERNEL) == [
        ("HRDN-7230", 1, 3, "open"),
        ("KRNL-6000", 1, 2, "open"),
        ("SSH-7408", 4, 6, "Port 22 on purpose"),
        ("USB-3000", 0, 8, "No USB bus"),
    ]


def test_a_suggestion_is_explained_by_the_host_kernel_only_when_only_its_checks_fell_short():
    suggestion = ("KRNL-6000", "One or more sysctl values differ from the scan profile and could be tweaked")
    only_host = audit.Findings(lynis_items=LYNIS_ITEMS[4:6], lynis_suggestions=[suggestion])
    also_own = audit.Findings(lynis_items=LYNIS_ITEMS, lynis_suggestions=[suggestion])
    assert audit.suggestion_reason(*suggestion, only_host, {}, HOST_KERNEL) == "host kernel: The host's. Really."
    assert audit.suggestion_reason(*suggestion, also_own, {}, HOST_KERNEL) is None
