#!/usr/bin/env python3
"""Make, check and review the analysts' lock (python-env/pylock.toml).

- ``lock``: regenerate the lock from requirements.in with uv for the server
  (CPython 3.11, manylinux_2_36 x86_64, wheels only), leaving out every file
  uploaded in the last ``--cooldown-days`` days.
- ``check``: is the lock acceptable? Every field parses (``tools/pylock.py``),
  every package approved, every file a wheel for the server with a sha256 and a
  URL on the index's file host, no direct or VCS source, nothing inside the
  cooldown unless approved with ``recent_ok``. Offline.
- ``review --base REF``: a Markdown report of the lock against a git ref for
  the pull request: the same problems, what was added, removed, upgraded and
  downgraded, what pulls each new package in, and known vulnerabilities (from
  PyPI's JSON API, bounded and cached; ``--offline`` skips it).

Exit status: 0 acceptable, 1 problems found, 2 usage error or unreadable input.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import re
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit

from packaging.markers import InvalidMarker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.tags import Tag, compatible_tags, cpython_tags
from packaging.utils import InvalidWheelFilename, parse_wheel_filename
from packaging.version import InvalidVersion, Version

if __package__ in (None, ""):  # run as a script: make tools.pylock importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tools.pylock import Lock, LockedPackage, LockError, load, loads, normalize

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DIR = ROOT / "python-env"
DEFAULT_UV = ROOT / ".cache" / "lock-tools" / "bin" / "uv"
DEFAULT_CACHE = ROOT / ".cache" / "pypi-json"
COOLDOWN_DAYS = 7
INDEX_URL = "https://pypi.org/simple"
JSON_API = "https://pypi.org/pypi"
# Where the index (INDEX_URL) serves its files from: uv writes these URLs into the lock,
# and the wheel mirror downloads from them. A file anywhere else was put there by hand.
FILE_ORIGINS = ("https://files.pythonhosted.org",)

# ------------------------------------------------------------------ the server

# Debian 12: CPython 3.11 (3.11.2), glibc 2.36, x86_64. uv names the platform
# x86_64-manylinux_2_36; it accepts manylinux_2_17 up to 2_40.
TARGET_PYTHON = "3.11"
TARGET_PLATFORM = "x86_64-manylinux_2_36"
TARGET_TEXT = "CPython 3.11 on manylinux_2_36 x86_64 (Debian 12)"
_GLIBC_MINOR = 36
_LEGACY_MANYLINUX = {"manylinux2014_x86_64": 17, "manylinux2010_x86_64": 12, "manylinux1_x86_64": 5}
TARGET_PLATFORMS = [f"manylinux_2_{minor}_x86_64" for minor in range(_GLIBC_MINOR, 4, -1)] + [
    tag for tag, minor in _LEGACY_MANYLINUX.items() if minor <= _GLIBC_MINOR
]
# Every tag pip on the server accepts, but linux_x86_64 (not portable; PyPI refuses it).
TARGET_TAGS: frozenset[Tag] = frozenset(
    (
        *cpython_tags((3, 11), abis=["cp311"], platforms=TARGET_PLATFORMS),
        *compatible_tags((3, 11), interpreter="cp311", platforms=TARGET_PLATFORMS),
    )
)
# For requires_dist markers: what the server's interpreter reports.
TARGET_ENV = {
    "implementation_name": "cpython",
    "implementation_version": "3.11.2",
    "os_name": "posix",
    "platform_machine": "x86_64",
    "platform_python_implementation": "CPython",
    "platform_release": "",
    "platform_system": "Linux",
    "platform_version": "",
    "python_full_version": "3.11.2",
    "python_version": TARGET_PYTHON,
    "sys_platform": "linux",
}
APPROVAL_KEYS = ("approved_by", "reason", "via", "recent_ok")


class InputError(Exception):
    """An input that cannot be read at all (exit status 2)."""


@dataclass(frozen=True)
class Problem:
    """Why the lock is not acceptable: what is wrong with what, and how to fix it."""

    subject: str
    what: str
    fix: str

    def __str__(self) -> str:
        return f"{self.subject}: {self.what}. Fix: {self.fix}."


def shown(path: Path) -> str:
    """A path as the user would type it: relative to the current folder when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def label(package: LockedPackage) -> str:
    return f"{package.name} {package.version}" if package.version else package.name


# ------------------------------------------------------------------ inputs


@dataclass(frozen=True)
class Approval:
    key: str
    approved_by: str | None = None
    reason: str | None = None
    via: str | None = None
    recent_ok: str | None = None


@dataclass
class Inputs:
    """The lock, the approvals and requirements.in, read, with what is wrong in the latter two."""

    lock: Lock
    approvals: dict[str, Approval]
    requirements: list[Requirement]
    approvals_path: Path
    requirements_path: Path
    problems: list[Problem] = field(default_factory=list)

    @property
    def direct(self) -> dict[str, set[str]]:
        """The top-level libraries with the extras requirements.in asks for."""
        wanted: dict[str, set[str]] = {}
        for requirement in self.requirements:
            wanted.setdefault(normalize(requirement.name), set()).update(requirement.extras)
        return wanted


def parse_approvals(text: str, source: str) -> tuple[dict[str, Approval], list[Problem]]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise InputError(f"{source} is not valid TOML: {error}") from None
    tables = data.get("packages", {})
    if not isinstance(tables, dict) or set(data) - {"packages"}:
        raise InputError(f"{source}: write each approval as a [packages.<name>] table, and nothing else")
    approvals: dict[str, Approval] = {}
    problems = []
    for name, entry in tables.items():
        subject = f"{source} [packages.{name}]"
        key = normalize(name)
        if not isinstance(entry, dict):
            problems.append(Problem(subject, "is not a table", f"write it as [packages.{name}] with approved_by"))
            continue
        if key in approvals:
            problems.append(Problem(subject, f"approves {key} a second time", "keep one table per package"))
            continue
        for unknown in sorted(set(entry) - set(APPROVAL_KEYS)):
            problems.append(Problem(subject, f"has an unknown key {unknown!r}", f"use only {', '.join(APPROVAL_KEYS)}"))
        values = {}
        for item in APPROVAL_KEYS:
            value = entry.get(item)
            if value is not None and not isinstance(value, str):
                problems.append(Problem(subject, f"{item} must be a string, not {value!r}", f'write {item} = "..."'))
                value = None
            values[item] = (value.strip() or None) if value is not None else None
        if values["via"]:
            values["via"] = normalize(values["via"])
        approvals[key] = Approval(key=key, **values)
    return approvals, problems


def parse_requirements(text: str, source: str) -> tuple[list[Requirement], list[Problem]]:
    """requirements.in: one requirement a line; no options, no URLs (the index is make lock's)."""
    requirements, problems = [], []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        subject = f"{source}:{number}"
        if line.startswith("-"):
            problems.append(
                Problem(subject, f"{line!r} is an option", "list only package names; make lock sets the index")
            )
            continue
        try:
            requirement = Requirement(line)
        except InvalidRequirement as error:
            if "://" in line or line.startswith(("git+", "hg+", "svn+", "bzr+")):
                what = f"{line!r} is a direct URL or VCS reference"
            else:
                what = f"{line!r} is not a requirement ({error})"
            problems.append(Problem(subject, what, "name a package released on PyPI, e.g. pandas>=2.2"))
            continue
        if requirement.url:
            problems.append(
                Problem(
                    subject,
                    f"{requirement.name} comes from a direct URL or VCS reference ({requirement.url})",
                    f"depend on a release from PyPI instead: {requirement.name}>=VERSION",
                )
            )
            continue
        requirements.append(requirement)
    return requirements, problems


def read_text(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as error:
        raise InputError(f"cannot read the {what} {shown(path)}: {error.strerror}") from None


def read_inputs(lock_path: Path, approvals_path: Path, requirements_path: Path) -> Inputs:
    """Read the three files; raise InputError when one cannot be read at all."""
    try:
        lock = load(lock_path)
    except LockError as error:
        raise InputError(str(error)) from None
    approvals, problems = parse_approvals(read_text(approvals_path, "approvals"), shown(approvals_path))
    requirements, more = parse_requirements(read_text(requirements_path, "requirements"), shown(requirements_path))
    return Inputs(lock, approvals, requirements, approvals_path, requirements_path, problems + more)


# ------------------------------------------------------------------ check


@dataclass
class Findings:
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def wheel_problem(package: LockedPackage, filename: str) -> str | None:
    """Why this wheel cannot be the package's file on the server, or None."""
    try:
        name, version, _build, tags = parse_wheel_filename(filename)
    except InvalidWheelFilename as error:
        return f"{filename} is not a valid wheel file name ({error})"
    if name != package.key or (package.version and _version_key(str(version)) != _version_key(package.version)):
        return f"wheel {filename} is for {name} {version}, not {label(package)}"
    if not tags & TARGET_TAGS:
        return f"wheel {filename} does not install on the server ({TARGET_TEXT})"
    return None


def url_problem(url: str) -> str | None:
    """Why a file may not come from this URL, or None: only the index's file hosts (FILE_ORIGINS) serve the lock."""
    parts = urlsplit(url)
    if f"{parts.scheme}://{parts.netloc}".lower() in FILE_ORIGINS:
        return None
    return f"is not on the index's file host ({', '.join(FILE_ORIGINS)})"


def _version_key(text: str) -> Version | str:
    try:
        return Version(text)
    except InvalidVersion:
        return text


def _ago(when: dt.datetime, now: dt.datetime) -> str:
    days = (now - when).total_seconds() / 86400
    return f"{days:.1f} days ago" if days >= 0 else "in the future"


def check_package(package: LockedPackage, inputs: Inputs, now: dt.datetime, cooldown_days: int) -> list[Problem]:
    """What makes one locked package unacceptable on its own."""
    subject = label(package)
    regenerate = "regenerate with make lock"
    problems = []
    if package.direct:
        return [
            Problem(
                subject,
                f"comes from a direct source ({package.direct}) instead of the index; "
                "it has no release on PyPI whose files the mirror can check",
                f"depend on a release from PyPI in {shown(inputs.requirements_path)}, then {regenerate}",
            )
        ]
    if not package.wheels:
        what = f"has no wheel, only an sdist ({package.sdist.filename})" if package.sdist else "has no file"
        return [
            Problem(
                subject,
                f"{what}; the server installs wheels only and never builds from source",
                f"choose a version with a wheel for {TARGET_TEXT} (pin it in {shown(inputs.requirements_path)}) "
                "or drop the library",
            )
        ]
    if package.sdist:
        problems.append(
            Problem(
                subject,
                f"lists an sdist ({package.sdist.filename}) besides its wheels",
                f"{regenerate}: it resolves with --only-binary :all:",
            )
        )
    for file in package.files:
        if not file.sha256:
            problems.append(
                Problem(
                    subject,
                    f"file {file.filename} has no sha256 hash",
                    f"{regenerate}: uv writes a hash for every file",
                )
            )
        if not file.url:
            problems.append(
                Problem(
                    subject, f"file {file.filename} has no URL on the index", f"{regenerate}: uv records the index URL"
                )
            )
        elif (why := url_problem(file.url)) is not None:
            problems.append(
                Problem(
                    subject,
                    f"file {file.filename} has the url {file.url!r}, which {why}",
                    f"{regenerate} (uv writes the index's URL: the lock was edited by hand)",
                )
            )
        if file.upload_time is None:
            problems.append(
                Problem(
                    subject,
                    f"file {file.filename} has no upload-time, so the cooldown cannot be judged",
                    f"{regenerate}: uv records PyPI's upload-time",
                )
            )
    for wheel in package.wheels:
        if (why := wheel_problem(package, wheel.filename)) is not None:
            target = "does not install on the server" in why
            fix = (
                f"{regenerate}: it resolves for {TARGET_PLATFORM}"
                if target
                else f"{regenerate} (uv never writes that: the lock was edited by hand)"
            )
            problems.append(Problem(subject, why, fix))
    times = [file.upload_time for file in package.files if file.upload_time is not None]
    if cooldown_days > 0 and times and max(times) > now - dt.timedelta(days=cooldown_days):
        newest = max(times)
        approval = inputs.approvals.get(package.key)
        recent_ok = approval.recent_ok if approval else None
        if recent_ok is None or package.version is None or _version_key(recent_ok) != _version_key(package.version):
            other = f' (recent_ok is "{recent_ok}", not this version)' if recent_ok else ""
            until = (newest + dt.timedelta(days=cooldown_days)).date().isoformat()
            problems.append(
                Problem(
                    subject,
                    f"uploaded {newest:%Y-%m-%d %H:%M} UTC ({_ago(newest, now)}), inside the {cooldown_days}-day "
                    f"cooldown{other}",
                    f"wait until {until} and run make lock again, or, once someone has checked this release, "
                    f'set recent_ok = "{package.version}" in [packages.{package.key}] of '
                    f"{shown(inputs.approvals_path)}",
                )
            )
    return problems


def check_approvals(inputs: Inputs) -> Findings:
    """Each locked package approved, by someone, for a reason or via an approved package."""
    findings = Findings()
    locked = inputs.lock.by_key()
    where = shown(inputs.approvals_path)
    direct = inputs.direct

    def grounded(key: str) -> bool:
        seen = set()
        while key not in seen:
            seen.add(key)
            approval = inputs.approvals.get(key)
            if approval is None or not approval.approved_by or key not in locked:
                return False
            if approval.reason:
                return True
            if not approval.via:
                return False
            key = approval.via
        return False

    for key, package in sorted(locked.items()):
        subject = label(package)
        approval = inputs.approvals.get(key)
        if approval is None:
            fix = f"add [packages.{key}] to {where} with approved_by and reason"
            if key not in direct:
                fix += " (or via = the approved package that brings it in; make lock-review shows it)"
            findings.problems.append(Problem(subject, "is in the lock but not approved", fix))
            continue
        table = f"[packages.{key}] in {where}"
        if not approval.approved_by:
            findings.problems.append(
                Problem(subject, f"{table} has no approved_by", 'add approved_by = "<who approved it>"')
            )
        if not approval.reason and not approval.via:
            findings.problems.append(
                Problem(
                    subject,
                    f"{table} has neither reason nor via",
                    'add reason = "<why the team needs it>", or via = "<the approved package that brings it in>"',
                )
            )
            continue
        if key in direct and not approval.reason:
            findings.problems.append(
                Problem(
                    subject,
                    f"is a top-level library in {shown(inputs.requirements_path)} but {table} gives only via",
                    'add reason = "<why the team needs it>"',
                )
            )
        if approval.via and not approval.reason:
            via = approval.via
            if via == key or via not in locked:
                what = "itself" if via == key else "a package that is not in the lock"
                findings.problems.append(
                    Problem(
                        subject,
                        f'{table} says via = "{via}", {what}',
                        "set via to the approved package that brings it in (make lock-review shows it)",
                    )
                )
            elif not grounded(via):
                findings.problems.append(
                    Problem(
                        subject,
                        f'{table} says via = "{via}", which is not approved itself '
                        "(every via chain must end at a package approved with a reason)",
                        f"approve {via} with approved_by and reason in {where}",
                    )
                )
    for key in sorted(set(inputs.approvals) - set(locked)):
        findings.notes.append(f"{where} approves {key}, which is not in the lock: remove [packages.{key}] if unneeded")
    return findings


def check_requirements(inputs: Inputs) -> list[Problem]:
    """Each top-level library in the lock at a version requirements.in allows."""
    problems = []
    locked = inputs.lock.by_key()
    for requirement in inputs.requirements:
        package = locked.get(normalize(requirement.name))
        if requirement.marker and not requirement.marker.evaluate(TARGET_ENV | {"extra": ""}):
            continue
        subject = f"{shown(inputs.requirements_path)}: {requirement}"
        if package is None:
            problems.append(Problem(subject, "the lock has no such package", "run make lock"))
        elif package.version and not requirement.specifier.contains(package.version, prereleases=True):
            problems.append(Problem(subject, f"the lock has {label(package)}", "run make lock"))
    return problems


def check(inputs: Inputs, now: dt.datetime, cooldown_days: int = COOLDOWN_DAYS) -> Findings:
    """Every reason the lock is not acceptable, and notes that do not make it so."""
    findings = check_approvals(inputs)
    problems = list(inputs.problems) + check_requirements(inputs)
    seen = set()
    for package in inputs.lock.packages:
        if package.key in seen:
            problems.append(Problem(label(package), "appears twice in the lock", "regenerate with make lock"))
        seen.add(package.key)
        problems += check_package(package, inputs, now, cooldown_days)
    findings.problems = problems + findings.problems
    return findings


# ------------------------------------------------------------------ the index (PyPI's JSON API)


class IndexUnavailable(Exception):
    """The index could not be asked (network, server error)."""


# A fetcher returns PyPI's JSON document for name==version (``info.requires_dist``,
# ``vulnerabilities``), None when the index has no such document, or raises
# IndexUnavailable. Tests pass their own.
Fetcher = Callable[[str, str], dict | None]


class PyPIJson:
    """PyPI's JSON API: bounded (timeout, a short retry), cached per name and version for a day."""

    def __init__(
        self,
        base: str = JSON_API,
        cache_dir: Path | None = DEFAULT_CACHE,
        timeout: float = 10.0,
        attempts: int = 2,
        max_age: dt.timedelta = dt.timedelta(hours=24),
    ) -> None:
        self.base, self.cache_dir, self.timeout, self.attempts, self.max_age = (
            base.rstrip("/"),
            cache_dir,
            timeout,
            attempts,
            max_age,
        )

    def __call__(self, name: str, version: str) -> dict | None:
        path = self.cache_dir / normalize(name) / f"{quote(version, safe='')}.json" if self.cache_dir else None
        if path is not None:
            try:
                cached = json.loads(path.read_text(encoding="utf-8"))
                fetched = dt.datetime.fromisoformat(cached["fetched"])
                if dt.datetime.now(dt.UTC) - fetched < self.max_age:
                    return cached["document"]
            except (OSError, ValueError, KeyError, TypeError):
                pass
        document = self._get(f"{self.base}/{quote(name)}/{quote(version)}/json")
        if document is None:  # some mirrors serve only the latest release's document
            latest = self._get(f"{self.base}/{quote(name)}/json")
            if latest and _version_key(str(latest.get("info", {}).get("version"))) == _version_key(version):
                document = latest
        document = _trim(document)
        if path is not None:
            now = dt.datetime.now(dt.UTC).isoformat()
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps({"fetched": now, "document": document}, indent=1), encoding="utf-8")
            except OSError:
                pass  # a cache that cannot be written only costs a request next time
        return document

    def _get(self, url: str) -> dict | None:
        request = urllib.request.Request(url, headers={"Accept": "application/json", "User-Agent": "lockctl"})
        error: Exception | None = None
        for attempt in range(self.attempts):
            if attempt:
                time.sleep(1.0)
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    return json.loads(response.read())
            except urllib.error.HTTPError as failure:
                if failure.code == 404:
                    return None
                error = failure
                if failure.code < 500 and failure.code != 429:
                    break
            except (OSError, ValueError, http.client.HTTPException) as failure:  # URLError, timeouts, bad bodies
                error = failure
        raise IndexUnavailable(f"{url}: {error}")


def _trim(document: dict | None) -> dict | None:
    """Only what the review reads: the cache stays small."""
    if not isinstance(document, dict):
        return None
    info = document.get("info") or {}
    return {
        "info": {key: info.get(key) for key in ("name", "version", "requires_dist")},
        "vulnerabilities": document.get("vulnerabilities"),
    }


@dataclass(frozen=True)
class Release:
    """What the index says about one locked version; None where it is not known."""

    requires_dist: tuple[str, ...] | None = None
    vulnerabilities: tuple[dict, ...] | None = None
    unknown: str = ""  # why the fields are None


UNREACHABLE = "unknown (index unreachable)"


def ask_index(fetch: Fetcher, packages: Iterable[LockedPackage]) -> dict[str, Release]:
    """The index's word on each package; after one unreachable answer, stop asking."""
    releases: dict[str, Release] = {}
    reachable = True
    for package in packages:
        if not package.version or package.direct:
            releases[package.key] = Release(unknown="unknown (not a release on the index)")
            continue
        if not reachable:
            releases[package.key] = Release(unknown=UNREACHABLE)
            continue
        try:
            document = fetch(package.key, package.version)
        except IndexUnavailable:
            reachable = False
            releases[package.key] = Release(unknown=UNREACHABLE)
            continue
        info = (document or {}).get("info") or {}
        if document is None or _version_key(str(info.get("version"))) != _version_key(package.version):
            releases[package.key] = Release(unknown=f"unknown (the index has no JSON for {label(package)})")
            continue
        vulnerabilities = document.get("vulnerabilities")
        releases[package.key] = Release(
            requires_dist=tuple(info.get("requires_dist") or ()),
            vulnerabilities=tuple(v for v in vulnerabilities if not v.get("withdrawn"))
            if isinstance(vulnerabilities, list)
            else None,
            unknown="" if isinstance(vulnerabilities, list) else "unknown (the index reports no vulnerability data)",
        )
    return releases


def required_by(lock: Lock, releases: dict[str, Release], direct: dict[str, set[str]]) -> dict[str, set[str]]:
    """For each locked package, the locked packages whose requirements name it on the server.

    Requirements come from requires_dist, with markers evaluated for the server
    and the extras asked for by requirements.in or by another requirement.
    """
    locked = lock.by_key()
    extras = {key: set(direct.get(key, ())) for key in locked}
    parents: dict[str, set[str]] = {key: set() for key in locked}
    changed = True
    while changed:
        changed = False
        for key in locked:
            for line in releases.get(key, Release()).requires_dist or ():
                try:
                    requirement = Requirement(line)
                except InvalidRequirement:
                    continue
                child = normalize(requirement.name)
                if child not in locked or child == key:
                    continue
                if requirement.marker is not None:
                    try:
                        wanted = any(
                            requirement.marker.evaluate(TARGET_ENV | {"extra": extra}) for extra in ({""} | extras[key])
                        )
                    except (InvalidMarker, ValueError):
                        wanted = True  # cannot tell: show the edge rather than hide it
                    if not wanted:
                        continue
                parents[child].add(key)
                if not {normalize(e) for e in requirement.extras} <= extras[child]:
                    extras[child] |= {normalize(e) for e in requirement.extras}
                    changed = True
    return parents


# ------------------------------------------------------------------ review


@dataclass(frozen=True)
class Change:
    key: str
    kind: str  # added, removed, upgraded, downgraded, changed, unchanged
    old: LockedPackage | None
    new: LockedPackage | None


def diff(base: Lock | None, head: Lock) -> list[Change]:
    """What happened to each package between two locks, by PEP 440 version order."""
    old, new = (base.by_key() if base else {}), head.by_key()
    changes = []
    for key in sorted(set(old) | set(new)):
        before, after = old.get(key), new.get(key)
        if before is None:
            kind = "added"
        elif after is None:
            kind = "removed"
        else:
            a, b = _version_key(before.version or ""), _version_key(after.version or "")
            if isinstance(a, Version) and isinstance(b, Version) and a != b:
                kind = "upgraded" if b > a else "downgraded"
            elif a != b or _sources(before) != _sources(after):
                kind = "changed"
            else:
                kind = "unchanged"
        changes.append(Change(key, kind, before, after))
    return changes


def _sources(package: LockedPackage) -> set[tuple[str | None, str | None]]:
    """Where each file comes from and what it must hash to: a file moved to another URL is a change."""
    return {(file.url, file.sha256) for file in package.files}


def git_base_lock(lock_path: Path, ref: str) -> tuple[str | None, str]:
    """The lock's text at ``ref`` (None when the lock did not exist there) and the ref's short hash."""
    folder = lock_path.resolve().parent

    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True, check=False)

    commit = git("rev-parse", "--verify", "--quiet", "--short", f"{ref}^{{commit}}")
    if commit.returncode != 0:
        inside = git("rev-parse", "--is-inside-work-tree")
        if inside.returncode != 0:
            raise InputError(f"{shown(folder)} is not inside a git work tree: cannot read the lock at {ref}")
        raise InputError(f"{ref!r} is not a git commit here (for origin/main: git fetch origin)")
    shown_at = git("show", f"{ref}:./{lock_path.name}")
    return (shown_at.stdout if shown_at.returncode == 0 else None), commit.stdout.strip()


def _size(size: int | None) -> str:
    if size is None:
        return "?"
    if size < 1024:
        return f"{size} B"
    return f"{size / 1024:.1f} KiB" if size < 1024 * 1024 else f"{size / 1024 / 1024:.1f} MiB"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _approval(inputs: Inputs, key: str) -> str:
    approval = inputs.approvals.get(key)
    if approval is None:
        return "**not approved**"
    why = approval.reason or (f"via {approval.via}" if approval.via else "**no reason**")
    if approval.reason and approval.via:
        why += f" (via {approval.via})"
    if approval.recent_ok:
        why += f"; recent_ok {approval.recent_ok}"
    return _cell(f"{approval.approved_by or '**nobody**'}: {why}")


def _files(package: LockedPackage) -> tuple[str, str, str]:
    files = package.files
    names = "<br>".join(f"`{file.filename}`" for file in files) or "none"
    dates = "<br>".join(f"{file.upload_time:%Y-%m-%d}" if file.upload_time else "**unknown**" for file in files)
    sizes = "<br>".join(_size(file.size) for file in files)
    return names, dates or "?", sizes or "?"


def _origin(key: str, inputs: Inputs, parents: dict[str, set[str]], unknown: list[LockedPackage]) -> str:
    found = sorted(parents.get(key, ()))
    if key in inputs.direct:
        return "direct" + (f"; also required by {', '.join(found)}" if found else "")
    if found:
        return ", ".join(found)
    return "unknown (see above)" if unknown else "**nothing in the lock**"


def _vulnerabilities(package: LockedPackage, release: Release) -> list[str]:
    if release.vulnerabilities is None:
        return [f"- {label(package)}: {release.unknown or 'unknown'}"]
    if not release.vulnerabilities:
        return [f"- {label(package)}: none reported"]
    lines = []
    for vulnerability in release.vulnerabilities:
        aliases = ", ".join(vulnerability.get("aliases") or ())
        fixed = ", ".join(vulnerability.get("fixed_in") or ()) or "no fixed version"
        link = vulnerability.get("link") or ""
        lines.append(
            f"- **{label(package)}: {vulnerability.get('id', '?')}**"
            + (f" ({aliases})" if aliases else "")
            + f", fixed in {fixed}"
            + (f": {link}" if link else "")
        )
    return lines


def render_review(
    inputs: Inputs,
    base: Lock | None,
    base_name: str,
    findings: Findings,
    releases: dict[str, Release],
    cooldown_days: int,
    lock_name: str,
) -> str:
    """The Markdown report for the pull request."""
    changes = diff(base, inputs.lock)
    by_kind: dict[str, list[Change]] = {}
    for change in changes:
        by_kind.setdefault(change.kind, []).append(change)
    parents = required_by(inputs.lock, releases, inputs.direct)
    unknown = [p for p in inputs.lock.packages if releases.get(p.key, Release()).requires_dist is None]
    problems = findings.problems
    counts = ", ".join(
        f"{len(by_kind.get(kind, []))} {kind}" for kind in ("added", "removed", "upgraded", "downgraded", "changed")
    )
    verdict = f"**Not acceptable: {len(problems)} problem(s).**" if problems else "**Acceptable.**"
    out = [
        f"## Lock review: `{lock_name}` against `{base_name}`",
        "",
        f"{verdict} {len(inputs.lock.packages)} packages: {counts}, "
        f"{len(by_kind.get('unchanged', []))} unchanged. Target: {TARGET_TEXT}, wheels only.",
    ]
    recorded = re.search(r"^# Cooldown: .*$", inputs.lock.header, re.MULTILINE)
    out.append(
        f"Cooldown checked: {cooldown_days} days. "
        + (f"Lock header: {recorded.group(0)[2:]}" if recorded else "The lock header records no cooldown.")
    )
    if base is None:
        out.append(f"No lock at `{base_name}`: every package counts as added.")
    out += ["", "### Problems", ""]
    out += [f"- {problem}" for problem in problems] or ["None."]

    def table(title: str | None, rows: list[Change], transitive: bool) -> None:
        if not rows:
            return
        out.extend(["", f"#### {title} ({len(rows)})"] if title else [])
        out.append("")
        origin = " pulled in by |" if transitive else ""
        out.append(f"| package | version |{origin} wheel | uploaded | size | approval |")
        out.append("|---|---|" + "---|" * (4 + transitive))
        for change in rows:
            package = change.new
            assert package is not None
            version = package.version or "?"
            if change.old is not None and change.kind != "added":
                version = f"{change.old.version} → {version}"
            names, dates, sizes = _files(package)
            cells = [f"`{package.name}`", version]
            if transitive:
                cells.append(_cell(_origin(change.key, inputs, parents, unknown)))
            cells += [names, dates, sizes, _approval(inputs, change.key)]
            out.append("| " + " | ".join(cells) + " |")

    added = by_kind.get("added", [])
    out += ["", f"### Added ({len(added)})"]
    if unknown and added:
        if len(unknown) == len(inputs.lock.packages):
            why = {releases.get(p.key, Release()).unknown for p in unknown}
            which = f"every package ({'; '.join(sorted(why))})"
        else:
            which = ", ".join(label(p) for p in unknown)
        out += ["", f"Dependency metadata is unknown for {which}: 'pulled in by' may be incomplete."]
    table("Direct (requirements.in)", [c for c in added if c.key in inputs.direct], transitive=False)
    table("Transitive", [c for c in added if c.key not in inputs.direct], transitive=True)
    if not added:
        out += ["", "None."]
    for kind, title in (("upgraded", "Upgraded"), ("downgraded", "Downgraded"), ("changed", "Changed files")):
        rows = by_kind.get(kind, [])
        out += ["", f"### {title} ({len(rows)})"]
        if kind == "changed" and rows:
            out += ["", "Same version with other files or file URLs, or versions that cannot be ordered: check why."]
        if rows:
            table(None, rows, transitive=True)
        else:
            out += ["", "None."]
    removed = by_kind.get("removed", [])
    out += ["", f"### Removed ({len(removed)})", ""]
    out += [f"- `{c.old.name}` {c.old.version}" for c in removed if c.old] or ["None."]
    out += ["", f"### Unchanged: {len(by_kind.get('unchanged', []))} packages"]
    out += ["", "### Known vulnerabilities (added and changed packages)", ""]
    touched = [c.new for c in changes if c.kind not in ("removed", "unchanged") and c.new is not None]
    for package in touched:
        out += _vulnerabilities(package, releases.get(package.key, Release(unknown="unknown (not asked)")))
    if not touched:
        out.append("None to report.")
    notes = list(findings.notes)
    for key, approval in sorted(inputs.approvals.items()):
        known = not unknown and key in parents
        if approval.via and not approval.reason and known and parents[key] and approval.via not in parents[key]:
            found = ", ".join(sorted(parents[key]))
            notes.append(f"approvals say {key} comes via {approval.via}; the index says it is required by {found}")
    out += ["", "### Notes", ""]
    out += [f"- {note}" for note in notes] or ["None."]
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------ lock


def exclude_newer(now: dt.datetime, cooldown_days: int) -> str:
    return (now - dt.timedelta(days=cooldown_days)).astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def uv_command(
    uv: Path, requirements: Path, lock_path: Path, cutoff: str | None, compile_command: str, upgrade: bool
) -> list[str]:
    command = [str(uv), "pip", "compile", str(requirements), "--format", "pylock.toml", "--no-config", "--quiet"]
    command += ["--python-version", TARGET_PYTHON, "--python-platform", TARGET_PLATFORM, "--only-binary", ":all:"]
    command += ["--index-url", INDEX_URL, "--custom-compile-command", compile_command, "-o", str(lock_path)]
    if cutoff:
        command += ["--exclude-newer", cutoff]
    if upgrade:
        command.append("--upgrade")
    return command


def record_header(text: str, cooldown_days: int, cutoff: str | None) -> str:
    """Add the cooldown and the target below uv's header, where a reviewer reads them."""
    lines = text.splitlines(keepends=True)
    end = next((index for index, line in enumerate(lines) if not line.startswith("#")), len(lines))
    cooldown = (
        f"# Cooldown: {cooldown_days} days: uv --exclude-newer {cutoff} (files uploaded later were not considered).\n"
        if cutoff
        else "# Cooldown: none (COOLDOWN_DAYS=0): files uploaded at any time were considered.\n"
    )
    target = f"# Target: {TARGET_TEXT}, uv --python-platform {TARGET_PLATFORM}, wheels only.\n"
    return "".join(lines[:end]) + cooldown + target + "".join(lines[end:])


def make_lock(
    requirements: Path,
    lock_path: Path,
    cooldown_days: int,
    uv: Path,
    compile_command: str,
    upgrade: bool,
    now: dt.datetime,
) -> int:
    if not re.fullmatch(r"pylock(\.[^.]+)?\.toml", lock_path.name):
        raise InputError(f"uv writes a lock only to pylock.toml or pylock.<name>.toml, not {lock_path.name}")
    _, problems = parse_requirements(read_text(requirements, "requirements"), shown(requirements))
    if problems:
        print("\n".join(str(problem) for problem in problems))
        return 1
    if not os.access(uv, os.X_OK):
        raise InputError(f"uv not found at {shown(uv)}: make lock installs it, hash-pinned, from requirements/")
    cutoff = exclude_newer(now, cooldown_days) if cooldown_days > 0 else None
    # The machine's uv settings (UV_INDEX_URL, UV_EXTRA_INDEX_URL, ...) play no part: one index, ours.
    environment = {key: value for key, value in os.environ.items() if not key.startswith("UV_")}
    environment["UV_CACHE_DIR"] = str(ROOT / ".cache" / "uv")
    command = uv_command(uv, requirements, lock_path, cutoff, compile_command, upgrade)
    result = subprocess.run(command, env=environment, check=False)
    if result.returncode != 0:
        print(f"lock: uv failed (exit {result.returncode}); {shown(lock_path)} is as it was", file=sys.stderr)
        return 1
    lock_path.write_text(record_header(lock_path.read_text(encoding="utf-8"), cooldown_days, cutoff), encoding="utf-8")
    count = len(load(lock_path).packages)
    held = f"nothing uploaded after {cutoff}" if cutoff else "no cooldown"
    print(
        f"lock: {shown(lock_path)} regenerated: {count} packages, {held}; approve new packages, then check and review"
    )
    return 0


# ------------------------------------------------------------------ command line


def _paths(args: argparse.Namespace) -> tuple[Path, Path, Path]:
    folder = Path(args.dir)
    return (
        Path(args.lock or folder / "pylock.toml"),
        Path(args.approvals or folder / "approvals.toml"),
        Path(args.requirements or folder / "requirements.in"),
    )


def _days(text: str) -> int:
    days = int(text)
    if days < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return days


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--dir", default=str(DEFAULT_DIR), help="folder of the three files (default: python-env)")
    common.add_argument("--lock", help="the lock (default: DIR/pylock.toml)")
    common.add_argument("--approvals", help="the approvals (default: DIR/approvals.toml)")
    common.add_argument("--requirements", help="the top-level libraries (default: DIR/requirements.in)")
    common.add_argument("--cooldown-days", type=_days, default=COOLDOWN_DAYS, help="default: %(default)s")
    lock = commands.add_parser("lock", parents=[common], help="regenerate the lock with uv")
    lock.add_argument("--upgrade", action="store_true", help="newest versions, not those of the current lock")
    lock.add_argument("--uv", default=str(DEFAULT_UV), help="the uv binary (default: %(default)s)")
    commands.add_parser("check", parents=[common], help="is the lock acceptable? (offline)")
    review = commands.add_parser("review", parents=[common], help="Markdown report against a git ref")
    review.add_argument("--base", required=True, help="git ref to compare with, e.g. origin/main")
    review.add_argument("--offline", action="store_true", help="do not ask PyPI's JSON API")
    return parser


def run_lock(args: argparse.Namespace, now: dt.datetime) -> int:
    lock_path, _, requirements_path = _paths(args)
    if (lock_path, requirements_path) == (DEFAULT_DIR / "pylock.toml", DEFAULT_DIR / "requirements.in"):
        again = "make lock"
    elif not (args.lock or args.requirements):
        again = f".venv/bin/python tools/lockctl.py lock --dir {args.dir}"
    else:
        again = f".venv/bin/python tools/lockctl.py lock --requirements {requirements_path} --lock {lock_path}"
    return make_lock(requirements_path, lock_path, args.cooldown_days, Path(args.uv), again, args.upgrade, now)


def run_check(args: argparse.Namespace, now: dt.datetime) -> int:
    lock_path = _paths(args)[0]
    inputs = read_inputs(*_paths(args))
    findings = check(inputs, now, args.cooldown_days)
    for note in findings.notes:
        print(f"note: {note}")
    for problem in findings.problems:
        print(f"problem: {problem}")
    if findings.problems:
        print(f"lock-check: {shown(lock_path)} is not acceptable: {len(findings.problems)} problem(s)")
        return 1
    print(
        f"lock-check: {shown(lock_path)} is acceptable: {len(inputs.lock.packages)} packages, each approved, "
        f"hashed, wheels only for {TARGET_TEXT}, none inside the {args.cooldown_days}-day cooldown "
        "unless approved with recent_ok"
    )
    return 0


def run_review(args: argparse.Namespace, now: dt.datetime, fetch: Fetcher | None) -> int:
    lock_path = _paths(args)[0]
    base_text, commit = git_base_lock(lock_path, args.base)
    try:
        base = loads(base_text, f"{args.base}:{lock_path.name}") if base_text is not None else None
    except LockError as error:
        raise InputError(str(error)) from None
    inputs = read_inputs(*_paths(args))
    findings = check(inputs, now, args.cooldown_days)
    if args.offline:
        releases = {package.key: Release(unknown="unknown (--offline)") for package in inputs.lock.packages}
    else:
        releases = ask_index(fetch or PyPIJson(), inputs.lock.packages)
    base_name = f"{args.base} ({commit})" if commit and commit != args.base else args.base
    print(render_review(inputs, base, base_name, findings, releases, args.cooldown_days, shown(lock_path)), end="")
    return 1 if findings.problems else 0


def main(argv: list[str] | None = None, fetch: Fetcher | None = None, now: dt.datetime | None = None) -> int:
    """``fetch`` and ``now`` stand in for PyPI and the clock in tests."""
    args = build_parser().parse_args(argv)
    now = now or dt.datetime.now(dt.UTC)
    try:
        if args.command == "lock":
            return run_lock(args, now)
        if args.command == "check":
            return run_check(args, now)
        return run_review(args, now, fetch)
    except InputError as error:
        print(f"lockctl {args.command}: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
