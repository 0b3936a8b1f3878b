"""The hardened server as the auditors see it: Lynis (pinned) and ssh-audit, as `make audit` runs them.

Every point Lynis does not award must be explained: fixed, or waived with a reason
in audit/lynis-waivers.yml (those that only a container fails start with
"container:"). A setting that regresses loses points nobody explained and fails here.
"""

from __future__ import annotations

import pytest

from lab import audit, labctl
from lab.harness import run_playbook

# The index this project's roles reach in the lab's container (77 on 2026-11-28).
# The issue asks for 85: the points between are listed by `make audit` under "points
# not earned"; most are checks a container cannot pass (kernel sysctls, auditd,
# /proc mount options, AppArmor, time sync), the rest waived with their reasons.
LYNIS_INDEX_FLOOR = 77


@pytest.fixture(scope="module")
def findings() -> audit.Findings:
    run = run_playbook()
    assert run.returncode == 0, run.output[-3000:]
    return audit.audit(labctl.SERVER, audit.lynis_package())


@pytest.fixture(scope="module")
def waivers() -> dict[str, str]:
    return audit.load_waivers()


def test_lynis_reports_no_warnings(findings):
    assert findings.lynis_warnings == []


def test_every_lynis_suggestion_is_followed_or_waived_with_a_reason(findings, waivers):
    open_suggestions = [f"{i} {t}" for i, t in findings.lynis_suggestions if audit.waiver_for(i, t, waivers) is None]
    assert open_suggestions == []


def test_every_point_lynis_withholds_is_explained(findings, waivers):
    assert findings.lynis_points, "no points parsed from Lynis's log"
    unexplained = [row for row in audit.unearned_points(findings, waivers) if row[3] == "open"]
    assert unexplained == []


def test_lynis_hardening_index_reaches_the_floor(findings):
    assert findings.lynis_index >= LYNIS_INDEX_FLOOR


def test_ssh_audit_finds_no_failures_and_no_warnings(findings):
    assert (findings.ssh_fail, findings.ssh_warn) == ([], [])
