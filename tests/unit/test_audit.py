"""The audit report's parsing and the waiver file: what `make audit` counts is what the auditors said."""

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
"""


def test_lynis_log_gives_points_per_test_summed_over_its_items():
    assert audit.parse_lynis_points(LYNIS_LOG) == {"USB-1000": (3, 3), "USB-3000": (0, 8), "SSH-7408": (4, 6)}


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
        lynis_points={"USB-1000": (3, 3), "USB-3000": (0, 8), "SSH-7408": (4, 6), "KRNL-6000": (15, 33)},
        lynis_suggestions=[("SSH-7408", "Consider hardening SSH configuration (Port (set 22 to ))")],
    )
    waivers = {"USB-3000": "No USB bus. Really.", "SSH-7408:Port": "Port 22 on purpose"}
    assert audit.unearned_points(findings, waivers) == [
        ("KRNL-6000", 15, 33, "open"),
        ("SSH-7408", 4, 6, "Port 22 on purpose"),
        ("USB-3000", 0, 8, "No USB bus"),
    ]
