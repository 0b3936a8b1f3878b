#!/usr/bin/env python3
"""Audit the lab's analytics server with Lynis and ssh-audit, beside the unhardened image.

* Lynis: Debian's package at a pinned version and hash, installed on the audited
  host for the run and purged afterwards (the host keeps nothing of it).
* ssh-audit: the pinned release from the controller lock, run from the bastion,
  the only place the server's firewall admits SSH from.
* The unhardened baseline is a container of the same lab image with Debian's
  default host keys (what the openssh-server package would generate).

Lynis suggestions the project chose not to follow are listed with their reasons
in audit/lynis-waivers.yml; the report shows them apart from the open ones.
The last line is machine-readable:
  lynis_index=<n> lynis_warnings=<n> ssh_audit_fail=<n> ssh_audit_warn=<n>
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lab import labctl  # noqa: E402 - needs ROOT on sys.path

LYNIS_VERSION = "3.0.8-1.1"
LYNIS_DEB = f"lynis_{LYNIS_VERSION}_all.deb"
LYNIS_SHA256 = "9df0cedc27c4dd32478ad901103a0ac87efd9eedfd6ce313a70a650ae6883bb9"
CACHE = ROOT / ".cache" / "audit"
WAIVERS = ROOT / "audit" / "lynis-waivers.yml"

BASELINE = labctl.extra_node("alab-audit-baseline", "unhardened", "198.18.1.99")


@dataclass
class Findings:
    """What the auditors said about one host."""

    lynis_index: int = 0
    lynis_warnings: list[str] = field(default_factory=list)  # "ID text"
    lynis_suggestions: list[tuple[str, str]] = field(default_factory=list)  # (ID, text)
    ssh_fail: list[str] = field(default_factory=list)
    ssh_warn: list[str] = field(default_factory=list)
    # Test ID -> (points earned, points possible), for the tests that award points.
    lynis_points: dict[str, tuple[int, int]] = field(default_factory=dict)


# --------------------------------------------------------------------------- parsing (pure)


def parse_lynis_report(report: str) -> tuple[int, list[str], list[tuple[str, str]]]:
    """Hardening index, warnings and suggestions from a Lynis report file's text."""
    index, warnings, suggestions = 0, [], []
    for line in report.splitlines():
        key, _, value = line.partition("=")
        if key == "hardening_index":
            index = int(value)
        elif key in ("warning[]", "suggestion[]"):
            test_id, text, detail = [*value.split("|"), "", "", ""][:3]
            if detail and detail != "-":
                text = f"{text} ({detail})"
            if key == "warning[]":
                warnings.append(f"{test_id} {text}")
            else:
                suggestions.append((test_id, text))
    return index, warnings, suggestions


def parse_lynis_points(log: str) -> dict[str, tuple[int, int]]:
    """Points earned and possible per test, from Lynis's log (the report has only the total)."""
    points: dict[str, list[int]] = {}
    test_id = "?"
    for line in log.splitlines():
        if match := re.search(r"Performing test ID (\S+)", line):
            test_id = match.group(1)
        elif match := re.search(r"partial number of hardening points \((\d+) of (\d+)\)", line):
            earned, possible = int(match.group(1)), int(match.group(2))
        elif match := re.search(r"maximum number of hardening points for this item \((\d+)\)", line):
            earned = possible = int(match.group(1))
        else:
            continue
        if "hardening points" in line:
            total = points.setdefault(test_id, [0, 0])
            total[0] += earned
            total[1] += possible
    return {test_id: (earned, possible) for test_id, (earned, possible) in points.items()}


def waiver_for(test_id: str, text: str, waivers: dict[str, str]) -> str | None:
    """The reason a suggestion is waived, or None.

    A waiver names a test ID, or a test ID and the option its suggestion is about
    ("SSH-7408:MaxSessions" waives "Consider hardening SSH configuration
    (MaxSessions (set 4 to 2))" and nothing else of SSH-7408).
    """
    if test_id in waivers:
        return waivers[test_id]
    for key, reason in waivers.items():
        waived_id, _, option = key.partition(":")
        if option and waived_id == test_id and f"({option} " in text:
            return reason
    return None


def parse_ssh_audit(report: dict) -> tuple[list[str], list[str]]:
    """Failures and warnings of ssh-audit's JSON output, one entry per algorithm.

    An algorithm counts once, at its worst level, as ssh-audit's own text output
    shows it; CVEs count as failures and a DHEat throttling notice as a warning.
    """
    fail, warn = [], []
    for kind in ("kex", "key", "enc", "mac"):
        for algorithm in report.get(kind, []):
            notes = algorithm.get("notes", {})
            label = f"{kind} {algorithm['algorithm']}"
            if notes.get("fail"):
                fail.append(f"{label}: {'; '.join(notes['fail'])}")
            elif notes.get("warn"):
                warn.append(f"{label}: {'; '.join(notes['warn'])}")
    fail += [f"CVE {cve.get('name', '?')}: {cve.get('description', '')}" for cve in report.get("cves", [])]
    warn += [f"throttling: {note}" for note in report.get("additional_notes", []) if "connection throttling" in note]
    return fail, warn


def load_waivers(path: Path = WAIVERS) -> dict[str, str]:
    """Lynis test ID -> why the project does not follow that suggestion."""
    data = yaml.safe_load(path.read_text()) or {}
    waivers = data.get("waivers", {})
    missing = sorted(test_id for test_id, reason in waivers.items() if not str(reason or "").strip())
    if missing:
        raise SystemExit(f"audit: {path} needs a reason for every waiver; none for {', '.join(missing)}")
    return {test_id: str(reason).strip() for test_id, reason in waivers.items()}


# --------------------------------------------------------------------------- running the auditors


def lynis_package() -> Path:
    """Debian's Lynis package at the pinned version, checked against the pinned hash."""
    deb = CACHE / LYNIS_DEB
    if not deb.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        download = ["apt-get", "download", f"lynis={LYNIS_VERSION}"]
        if subprocess.run(download, cwd=CACHE, capture_output=True).returncode != 0:
            subprocess.run(["apt-get", "update", "-qq"], check=True)
            subprocess.run(download, cwd=CACHE, check=True, capture_output=True)
    digest = hashlib.sha256(deb.read_bytes()).hexdigest()
    if digest != LYNIS_SHA256:
        deb.unlink()
        raise SystemExit(f"audit: {LYNIS_DEB} has sha256 {digest}, expected {LYNIS_SHA256}; refusing to run it")
    return deb


def run_lynis(node: labctl.Node, deb: Path) -> tuple[str, str]:
    """Install Lynis for one run on the node, audit, and purge it again: its report and log."""
    name = node.container
    labctl.podman("cp", str(deb), f"{name}:/root/{LYNIS_DEB}")
    try:
        labctl.podman("exec", name, "dpkg", "--install", f"/root/{LYNIS_DEB}")
        labctl.podman(
            "exec", name, "lynis", "audit", "system", "--quick", "--no-colors",
            "--report-file", "/root/lynis-report.dat", "--logfile", "/root/lynis.log",
        )  # fmt: skip
        report = labctl.podman("exec", name, "cat", "/root/lynis-report.dat").stdout
        log = labctl.podman("exec", name, "cat", "/root/lynis.log").stdout
    finally:
        labctl.podman("exec", name, "dpkg", "--purge", "lynis", check=False)
        labctl.podman(
            "exec", name, "rm", "-f", f"/root/{LYNIS_DEB}", "/root/lynis-report.dat", "/root/lynis.log", check=False
        )
    return report, log


def run_ssh_audit(target: str) -> tuple[list[str], list[str]]:
    """ssh-audit from the bastion (the controller lock's copy, removed afterwards)."""
    import ssh_audit  # controller lock

    package = Path(ssh_audit.__file__).parent
    bastion = labctl.BASTION.container
    labctl.podman("exec", bastion, "mkdir", "-p", "/tmp/ssh-audit")
    labctl.podman("cp", str(package), f"{bastion}:/tmp/ssh-audit/")
    try:
        proc = labctl.podman(
            "exec", "--env", "PYTHONPATH=/tmp/ssh-audit", bastion,
            "python3", "-m", "ssh_audit", "--json", "--timeout", "10", target,
            check=False,
        )  # fmt: skip
    finally:
        labctl.podman("exec", bastion, "rm", "-rf", "/tmp/ssh-audit", check=False)
    try:
        return parse_ssh_audit(json.loads(proc.stdout))
    except json.JSONDecodeError as err:
        output = (proc.stdout + proc.stderr)[-1000:]
        raise SystemExit(f"audit: ssh-audit gave no report for {target}: {output}") from err


def start_baseline() -> None:
    """An unhardened container of the lab image, with Debian's default host keys."""
    labctl.run_extra(BASELINE, "/sbin/init", options=("--systemd=always",))
    labctl.podman("exec", BASELINE.container, "ssh-keygen", "-A")
    # sshd may have given up before the keys existed: clear its start limit.
    labctl.podman("exec", BASELINE.container, "systemctl", "reset-failed", "ssh", check=False)
    labctl.podman("exec", BASELINE.container, "systemctl", "restart", "ssh")
    labctl.wait_for_sshd(BASELINE)


def audit(node: labctl.Node, deb: Path) -> Findings:
    findings = Findings()
    report, log = run_lynis(node, deb)
    findings.lynis_index, findings.lynis_warnings, findings.lynis_suggestions = parse_lynis_report(report)
    findings.lynis_points = parse_lynis_points(log)
    findings.ssh_fail, findings.ssh_warn = run_ssh_audit(node.addresses[0][1])
    return findings


# --------------------------------------------------------------------------- report


def report(server: Findings, baseline: Findings, waivers: dict[str, str]) -> str:
    open_suggestions = [(i, t) for i, t in server.lynis_suggestions if waiver_for(i, t, waivers) is None]
    waived = [(i, t, waiver_for(i, t, waivers)) for i, t in server.lynis_suggestions]
    waived = [(i, t, reason) for i, t, reason in waived if reason is not None]
    short = unearned_points(server, waivers)
    rows = [
        ("Lynis hardening index", baseline.lynis_index, server.lynis_index),
        ("Lynis warnings", len(baseline.lynis_warnings), len(server.lynis_warnings)),
        ("Lynis suggestions", len(baseline.lynis_suggestions), len(server.lynis_suggestions)),
        ("  of them waived", "-", len(waived)),
        ("ssh-audit failures", len(baseline.ssh_fail), len(server.ssh_fail)),
        ("ssh-audit warnings", len(baseline.ssh_warn), len(server.ssh_warn)),
    ]
    lines = [f"{'':<26}{'unhardened image':>18}{'analytics-server':>18}"]
    lines += [f"{label:<26}{before!s:>18}{after!s:>18}" for label, before, after in rows]
    sections = [
        ("Lynis warnings", server.lynis_warnings),
        ("Lynis suggestions, open", [f"{i} {t}" for i, t in open_suggestions]),
        ("Lynis suggestions, waived (audit/lynis-waivers.yml)", [f"{i} {t} -- {r}" for i, t, r in waived]),
        (
            "Lynis points not earned (test: earned/possible, why)",
            [f"{i}: {earned}/{possible} -- {why}" for i, earned, possible, why in short],
        ),
        ("ssh-audit failures", server.ssh_fail),
        ("ssh-audit warnings", server.ssh_warn),
    ]
    for title, items in sections:
        lines += ["", f"{title} on analytics-server: {len(items)}"] + [f"  {item}" for item in items]
    lines += [
        "",
        f"lynis_index={server.lynis_index} lynis_warnings={len(server.lynis_warnings)} "
        f"ssh_audit_fail={len(server.ssh_fail)} ssh_audit_warn={len(server.ssh_warn)}",
    ]
    return "\n".join(lines)


def unearned_points(findings: Findings, waivers: dict[str, str]) -> list[tuple[str, int, int, str]]:
    """Each test that gave fewer points than it could, with the waiver that explains it.

    "open" marks a test without a waiver: points lost that nobody has explained.
    """
    short = []
    for test_id, (earned, possible) in sorted(findings.lynis_points.items()):
        if earned < possible:
            reasons = {waiver_for(i, t, waivers) for i, t in findings.lynis_suggestions if i == test_id}
            reasons.discard(None)
            reason = waivers.get(test_id) or "; ".join(sorted(reasons)) or "open"
            short.append((test_id, earned, possible, reason.split(". ")[0]))
    return short


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, help="also write the findings as JSON to this file")
    args = parser.parse_args(argv)
    problems = labctl.healthy(labctl.image_name())
    if problems:
        raise SystemExit("audit: the lab is not up (" + "; ".join(problems) + "); run `make lab` first")
    waivers = load_waivers()
    deb = lynis_package()
    start_baseline()
    started = time.monotonic()
    try:
        baseline = audit(BASELINE, deb)
        server = audit(labctl.SERVER, deb)
    finally:
        labctl.podman("rm", "--force", BASELINE.container, check=False)
    print(f"(audited both hosts in {time.monotonic() - started:.0f} s)")
    print(report(server, baseline, waivers))
    if args.json:
        args.json.write_text(json.dumps({"server": server.__dict__, "baseline": baseline.__dict__}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
