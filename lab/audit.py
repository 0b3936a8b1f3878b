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
The same file lists the host kernel's checks, which a container can neither pass
nor fail by itself: the index given (lynis_index) leaves them out and the report
lists them, with Lynis's own index (all checks) beside it.
The last line is machine-readable:
  lynis_index=<n> lynis_warnings=<n> ssh_audit_fail=<n> ssh_audit_warn=<n>
"""

from __future__ import annotations

import argparse
import fnmatch
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

PATCH_COMMAND = "make patch (playbooks/patch.yml against the lab)"

BASELINE = labctl.extra_node("alab-audit-baseline", "unhardened", "198.18.1.99")


@dataclass
class Findings:
    """What the auditors said about one host."""

    lynis_index: int = 0
    lynis_warnings: list[str] = field(default_factory=list)  # "ID text"
    lynis_suggestions: list[tuple[str, str]] = field(default_factory=list)  # (ID, text)
    ssh_fail: list[str] = field(default_factory=list)
    ssh_warn: list[str] = field(default_factory=list)
    # Every award of points: (item, earned, possible); see parse_lynis_items.
    lynis_items: list[tuple[str, int, int]] = field(default_factory=list)
    # Packages with an update in a -security suite (Lynis's PKGS-7392).
    vulnerable_packages: list[str] = field(default_factory=list)


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


def parse_vulnerable_packages(report: str) -> list[str]:
    """The packages Lynis found a security update for (PKGS-7392), from its report file's text."""
    return sorted(
        {
            value
            for key, _, value in (line.partition("=") for line in report.splitlines())
            if key == "vulnerable_package[]"
        }
    )


def parse_lynis_items(log: str) -> list[tuple[str, int, int]]:
    """Every award of points in Lynis's log, in order: (item, earned, possible).

    The item is the test ID; for the sysctl keys of KRNL-6000 it is
    "KRNL-6000:<key>", so that the host kernel's keys can be told from the
    container's own.
    """
    items = []
    test_id, sysctl_key = "?", ""
    for line in log.splitlines():
        if match := re.search(r"Performing test ID (\S+)", line):
            test_id, sysctl_key = match.group(1), ""
        elif match := re.search(r"Result: sysctl key (\S+) ", line):
            sysctl_key = match.group(1)
        elif match := re.search(r"partial number of hardening points \((\d+) of (\d+)\)", line):
            item = f"{test_id}:{sysctl_key}" if sysctl_key else test_id
            items.append((item, int(match.group(1)), int(match.group(2))))
        elif match := re.search(r"maximum number of hardening points for this item \((\d+)\)", line):
            item = f"{test_id}:{sysctl_key}" if sysctl_key else test_id
            items.append((item, int(match.group(1)), int(match.group(1))))
    return items


def hardening_index(items: list[tuple[str, int, int]]) -> int:
    """The index as Lynis works it out (include/report): earned * 100 // possible."""
    earned = sum(e for _, e, _ in items)
    possible = sum(p for _, _, p in items)
    return earned * 100 // possible if earned else 0


def host_kernel_reason(item: str, host_kernel: dict[str, str]) -> str | None:
    """Why an item ("TEST" or "TEST:key") is the host kernel's check, or None if it is not one."""
    return next((reason for pattern, reason in host_kernel.items() if fnmatch.fnmatchcase(item, pattern)), None)


def container_index(items: list[tuple[str, int, int]], host_kernel: dict[str, str]) -> int:
    """The index of what the container itself can pass: the host kernel's checks left out."""
    return hardening_index([row for row in items if host_kernel_reason(row[0], host_kernel) is None])


def host_kernel_items(
    items: list[tuple[str, int, int]], host_kernel: dict[str, str]
) -> list[tuple[str, int, int, str]]:
    """The host kernel's checks, as the container scored them, with the reason each is left out."""
    rows = [(item, earned, possible, host_kernel_reason(item, host_kernel)) for item, earned, possible in items]
    return [(item, earned, possible, reason) for item, earned, possible, reason in rows if reason is not None]


def suggestion_reason(
    test_id: str, text: str, findings: Findings, waivers: dict[str, str], host_kernel: dict[str, str]
) -> str | None:
    """Why a suggestion is not followed: its waiver, or the host kernel when only its checks fell short."""
    reason = waiver_for(test_id, text, waivers)
    if reason is not None:
        return reason
    short = [item for item, earned, possible in findings.lynis_items if earned < possible]
    short = [item for item in short if item.split(":")[0] == test_id]
    reasons = [host_kernel_reason(item, host_kernel) for item in short]
    if short and None not in reasons:
        return "host kernel: " + reasons[0]
    return None


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


def load_host_kernel(path: Path = WAIVERS) -> dict[str, str]:
    """Item pattern ("TEST" or "TEST:key", shell-style) -> why it is the host kernel's check."""
    data = yaml.safe_load(path.read_text()) or {}
    entries = data.get("host_kernel", [])
    host_kernel = {}
    for entry in entries:
        reason = str(entry.get("reason") or "").strip()
        if not reason or not entry.get("items"):
            raise SystemExit(f"audit: {path}: every host_kernel entry needs items and a reason; not {entry}")
        host_kernel.update(dict.fromkeys(entry["items"], reason))
    return host_kernel


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
    # Not under /tmp: podman cannot write into a node's tmpfs mounts, which
    # belong to the node's user namespace (labctl.create_node).
    labctl.podman("exec", bastion, "mkdir", "-p", "/root/ssh-audit")
    labctl.podman("cp", str(package), f"{bastion}:/root/ssh-audit/")
    try:
        proc = labctl.podman(
            "exec", "--env", "PYTHONPATH=/root/ssh-audit", bastion,
            "python3", "-m", "ssh_audit", "--json", "--timeout", "10", target,
            check=False,
        )  # fmt: skip
    finally:
        labctl.podman("exec", bastion, "rm", "-rf", "/root/ssh-audit", check=False)
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
    findings.lynis_items = parse_lynis_items(log)
    findings.vulnerable_packages = parse_vulnerable_packages(report)
    if hardening_index(findings.lynis_items) != findings.lynis_index:
        raise SystemExit(
            f"audit: the points in Lynis's log on {node.hostname} give an index of"
            f" {hardening_index(findings.lynis_items)}, its report says {findings.lynis_index};"
            " the log's format changed (parse_lynis_items)"
        )
    findings.ssh_fail, findings.ssh_warn = run_ssh_audit(node.addresses[0][1])
    return findings


# --------------------------------------------------------------------------- report


def report(server: Findings, baseline: Findings, waivers: dict[str, str], host_kernel: dict[str, str]) -> str:
    reasons = [(i, t, suggestion_reason(i, t, server, waivers, host_kernel)) for i, t in server.lynis_suggestions]
    open_suggestions = [(i, t) for i, t, reason in reasons if reason is None]
    waived = [(i, t, reason) for i, t, reason in reasons if reason is not None]
    short = unearned_points(server, waivers, host_kernel)
    left_out = host_kernel_items(server.lynis_items, host_kernel)
    server_index = container_index(server.lynis_items, host_kernel)
    rows = [
        ("Lynis hardening index", container_index(baseline.lynis_items, host_kernel), server_index),
        ("  host kernel's counted", baseline.lynis_index, server.lynis_index),
        ("Lynis warnings", len(baseline.lynis_warnings), len(server.lynis_warnings)),
        ("  security updates pending", len(baseline.vulnerable_packages), len(server.vulnerable_packages)),
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
        (
            "The host kernel's checks, left out of the index (check: earned/possible, why)",
            [f"{i}: {earned}/{possible} -- {why.split('. ')[0]}" for i, earned, possible, why in left_out],
        ),
        ("ssh-audit failures", server.ssh_fail),
        ("ssh-audit warnings", server.ssh_warn),
    ]
    for title, items in sections:
        lines += ["", f"{title} on analytics-server: {len(items)}"] + [f"  {item}" for item in items]
        if title == "Lynis warnings" and server.vulnerable_packages:
            lines += [
                f"  security updates pending for: {', '.join(server.vulnerable_packages)}",
                f"  apply them: {PATCH_COMMAND}",
            ]
    lines += [
        "",
        f"lynis_index={server_index} lynis_warnings={len(server.lynis_warnings)} "
        f"ssh_audit_fail={len(server.ssh_fail)} ssh_audit_warn={len(server.ssh_warn)}",
    ]
    return "\n".join(lines)


def unearned_points(
    findings: Findings, waivers: dict[str, str], host_kernel: dict[str, str]
) -> list[tuple[str, int, int, str]]:
    """Each test that gave fewer points than it could, with the waiver that explains it.

    The host kernel's checks are not counted here (see host_kernel_items). "open"
    marks a test without a waiver: points lost that nobody has explained.
    """
    points: dict[str, list[int]] = {}
    for item, earned, possible in findings.lynis_items:
        if host_kernel_reason(item, host_kernel) is None:
            total = points.setdefault(item.split(":")[0], [0, 0])
            total[0] += earned
            total[1] += possible
    short = []
    for test_id, (earned, possible) in sorted(points.items()):
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
    host_kernel = load_host_kernel()
    deb = lynis_package()
    start_baseline()
    started = time.monotonic()
    try:
        baseline = audit(BASELINE, deb)
        server = audit(labctl.SERVER, deb)
    finally:
        labctl.podman("rm", "--force", BASELINE.container, check=False)
    print(f"(audited both hosts in {time.monotonic() - started:.0f} s)")
    print(report(server, baseline, waivers, host_kernel))
    if args.json:
        args.json.write_text(json.dumps({"server": server.__dict__, "baseline": baseline.__dict__}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
