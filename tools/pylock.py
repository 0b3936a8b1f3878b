"""Read the analysts' lock: a PEP 751 ``pylock.toml`` as ``uv pip compile`` writes it.

The lock is the one source of truth for what may run on the analytics server:
the review tools check it, the wheel mirror holds exactly its files, and the
python_env role installs exactly them. This module only *reads*: it turns the
TOML into plain records and never judges them (``tools/lockctl.py`` does).

Standard library only, so that any Python 3.11+ can read a lock.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

__all__ = ["Lock", "LockError", "LockedFile", "LockedPackage", "load", "loads", "normalize", "requirements"]


class LockError(ValueError):
    """The file is not a lock this project can read (bad TOML, missing keys)."""


def normalize(name: str) -> str:
    """A project name as PEP 503 spells it (``Foo_Bar.baz`` -> ``foo-bar-baz``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class LockedFile:
    """One distribution file of a package: a wheel or an sdist."""

    filename: str
    url: str | None
    sha256: str | None
    size: int | None = None
    upload_time: dt.datetime | None = None

    @property
    def is_wheel(self) -> bool:
        return self.filename.endswith(".whl")


@dataclass(frozen=True)
class LockedPackage:
    name: str
    version: str | None
    wheels: tuple[LockedFile, ...] = ()
    sdist: LockedFile | None = None
    # A direct source instead of an index: "vcs git+https://...", "archive ...", "directory ...".
    direct: str | None = None
    marker: str | None = None

    @property
    def key(self) -> str:
        return normalize(self.name)

    @property
    def files(self) -> tuple[LockedFile, ...]:
        return self.wheels + ((self.sdist,) if self.sdist else ())


@dataclass(frozen=True)
class Lock:
    packages: tuple[LockedPackage, ...]
    requires_python: str | None = None
    created_by: str | None = None
    header: str = field(default="", repr=False)

    def by_key(self) -> dict[str, LockedPackage]:
        return {package.key: package for package in self.packages}


def _when(value: object, where: str) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    raise LockError(f"{where}: upload-time must be a TOML date-time, not {value!r}")


def _file(entry: object, where: str) -> LockedFile:
    if not isinstance(entry, dict):
        raise LockError(f"{where}: expected a table, got {entry!r}")
    url = entry.get("url")
    name = entry.get("name") or (unquote(urlsplit(url).path.rsplit("/", 1)[-1]) if url else None)
    if not name:
        raise LockError(f"{where}: a file needs a url or a name")
    hashes = entry.get("hashes") or {}
    if not isinstance(hashes, dict):
        raise LockError(f'{where} ({name}): hashes must be a table like {{ sha256 = "..." }}')
    return LockedFile(
        filename=name,
        url=url,
        sha256=hashes.get("sha256"),
        size=entry.get("size"),
        upload_time=_when(entry.get("upload-time"), f"{where} ({name})"),
    )


def _direct(package: dict) -> str | None:
    for kind in ("vcs", "archive", "directory"):
        source = package.get(kind)
        if source is not None:
            detail = source.get("url") or source.get("path") if isinstance(source, dict) else source
            return f"{kind} {detail}"
    return None


def loads(text: str, source: str = "lock") -> Lock:
    """Parse a lock from its text; ``source`` names it in error messages."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise LockError(f"{source} is not valid TOML: {error}") from None
    entries = data.get("packages")
    if not isinstance(entries, list):
        raise LockError(f"{source} has no [[packages]] entries: is it a PEP 751 pylock.toml?")
    packages = []
    for index, entry in enumerate(entries, start=1):
        where = f"{source}, package #{index}"
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise LockError(f"{where}: every [[packages]] entry needs a name")
        where = f"{source}, {entry['name']}"
        wheels = entry.get("wheels") or []
        if not isinstance(wheels, list):
            raise LockError(f"{where}: wheels must be an array of tables")
        sdist = entry.get("sdist")
        packages.append(
            LockedPackage(
                name=entry["name"],
                version=entry.get("version"),
                wheels=tuple(_file(wheel, where) for wheel in wheels),
                sdist=_file(sdist, where) if sdist is not None else None,
                direct=_direct(entry),
                marker=entry.get("marker"),
            )
        )
    header = "".join(line + "\n" for line in text.splitlines() if line.startswith("#"))
    return Lock(
        packages=tuple(packages),
        requires_python=data.get("requires-python"),
        created_by=data.get("created-by"),
        header=header,
    )


def load(path: str | Path) -> Lock:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise LockError(f"cannot read the lock {path}: {error.strerror}") from None
    return loads(text, source=str(path))


def requirements(lock: Lock) -> str:
    """The lock as pip requirements, one pinned line with its wheels' hashes per package.

    This is what the server's pip installs with ``--require-hashes --no-index
    --only-binary=:all:``; only wheels are listed, so an sdist can never be built.
    """
    lines = []
    for package in sorted(lock.packages, key=lambda package: package.key):
        hashes = " ".join(f"--hash=sha256:{wheel.sha256}" for wheel in package.wheels if wheel.sha256)
        marker = f" ; {package.marker}" if package.marker else ""
        lines.append(f"{package.key}=={package.version}{marker} {hashes}".rstrip())
    return "".join(line + "\n" for line in lines)
