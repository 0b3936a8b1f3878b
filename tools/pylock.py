"""Read the analysts' lock: a PEP 751 ``pylock.toml`` as ``uv pip compile`` writes it.

The lock is the one source of truth for what may run on the analytics server:
the review tools check it, the wheel mirror holds exactly its files, and the
python_env role installs exactly them. This module only *reads*: it turns the
TOML into plain records and never judges them (``tools/lockctl.py`` does).

Reading is parsing: ``loads`` refuses, with the package, the field and the fix,
any name, version, marker, hash, URL or file name that is not what uv writes, so
that no text of the lock reaches pip's requirements file without being parsed
(a marker or a version could otherwise carry pip options such as
``--find-links``). Names follow PEP 508's rule; versions and markers are parsed
with ``packaging``, the reference parser that pip itself uses (ansible-core
depends on it, so the controller's venv has it), and ``requirements`` renders
them from those parsed objects.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from packaging.markers import Marker
from packaging.specifiers import SpecifierSet
from packaging.version import Version

__all__ = ["Lock", "LockError", "LockedFile", "LockedPackage", "load", "loads", "normalize", "requirements"]


class LockError(ValueError):
    """The file is not a lock this project can read (bad TOML, missing keys, a field that does not parse)."""


# PEP 508's rule for a project name (re.fullmatch: "$" alone would let a final newline through).
NAME = re.compile(r"[A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9]", re.IGNORECASE)
SHA256 = re.compile(r"[0-9a-fA-F]{64}")
URL_SCHEMES = ("https", "http")
# uv never writes a field these checks refuse: such a lock was edited by hand.
FIX = "regenerate the lock with `make lock` and review the change (uv never writes this: the lock was edited by hand)"


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


def _refused(where: str, key: str, value: object, why: str) -> LockError:
    return LockError(f"{where}: {key} {value!r} {why}. Fix: {FIX}")


def _string(value: object, where: str, key: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise _refused(where, key, value, "must be a TOML string")


def _plain(value: str, where: str, key: str) -> str:
    """Text that must be one word: no white space, no control or invisible formatting character."""
    if any(char.isspace() or unicodedata.category(char).startswith("C") for char in value):
        raise _refused(where, key, value, "contains white space or a control character")
    return value


def _name(value: object, where: str) -> str:
    if not isinstance(value, str) or not NAME.fullmatch(value):
        rule = "is not a project name (PEP 508: letters, digits and . _ -, with a letter or digit at each end)"
        raise _refused(where, "name", value, rule)
    return value


def _parsed(value: object, where: str, key: str, parse: Callable[[str], object], rule: str) -> str | None:
    """The text of a field that ``parse`` (a ``packaging`` class) must accept, or None where it is absent."""
    text = _string(value, where, key)
    if text is not None:
        try:
            parse(text)
        except ValueError:  # InvalidVersion, InvalidMarker and InvalidSpecifier are ValueErrors
            raise _refused(where, key, text, rule) from None
    return text


def _url(value: object, where: str) -> str | None:
    text = _string(value, where, "url")
    if text is None:
        return None
    _plain(text, where, "url")
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as error:
        raise _refused(where, "url", text, f"is not a URL ({error})") from None
    if parts.scheme not in URL_SCHEMES or not parts.hostname:
        raise _refused(where, "url", text, "is not an https:// (or http://) URL with a host")
    return text


def _sha256(value: object, where: str) -> str | None:
    text = _string(value, where, "hashes.sha256")
    if text is not None and not SHA256.fullmatch(text):
        raise _refused(where, "hashes.sha256", text, f"is not 64 hexadecimal digits (it has {len(text)} characters)")
    return text.lower() if text is not None else None


def _when(value: object, where: str) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    raise _refused(where, "upload-time", value, "must be a TOML date-time")


def _size(value: object, where: str) -> int | None:
    if value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
        return value
    raise _refused(where, "size", value, "must be a whole number of bytes")


def _file(entry: object, where: str) -> LockedFile:
    if not isinstance(entry, dict):
        raise LockError(f"{where}: expected a table, got {entry!r}")
    url = _url(entry.get("url"), where)
    name = _string(entry.get("name"), where, "file name")
    if not name and url:
        name = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
    if not name:
        raise LockError(f"{where}: a file needs a url or a name")
    where = f"{where} ({name!r})"
    _plain(name, where, "file name")
    # The mirror stores each file under this name: it must stay a name, not a path.
    if "/" in name or "\\" in name or name in (".", ".."):
        raise _refused(where, "file name", name, "is a path, not a file name")
    hashes = entry.get("hashes") or {}
    if not isinstance(hashes, dict):
        raise LockError(f'{where}: hashes must be a table like {{ sha256 = "..." }}')
    return LockedFile(
        filename=name,
        url=url,
        sha256=_sha256(hashes.get("sha256"), where),
        size=_size(entry.get("size"), where),
        upload_time=_when(entry.get("upload-time"), where),
    )


def _direct(package: dict, where: str) -> str | None:
    for kind in ("vcs", "archive", "directory"):
        source = package.get(kind)
        if source is not None:
            detail = source.get("url") or source.get("path") if isinstance(source, dict) else source
            return f"{kind} {_plain(str(detail), where, kind)}"
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
        if not isinstance(entry, dict) or "name" not in entry:
            raise LockError(f"{where}: every [[packages]] entry needs a name")
        name = _name(entry["name"], where)
        where = f"{source}, {name}"
        wheels = entry.get("wheels") or []
        if not isinstance(wheels, list):
            raise LockError(f"{where}: wheels must be an array of tables")
        version = _parsed(entry.get("version"), where, "version", Version, "is not a PEP 440 version")
        if wheels and version is None:
            raise LockError(f"{where}: version is missing, and a package with wheels must pin one. Fix: {FIX}")
        sdist = entry.get("sdist")
        packages.append(
            LockedPackage(
                name=name,
                version=version,
                wheels=tuple(_file(wheel, where) for wheel in wheels),
                sdist=_file(sdist, where) if sdist is not None else None,
                direct=_direct(entry, where),
                marker=_parsed(entry.get("marker"), where, "marker", Marker, "is not a PEP 508 environment marker"),
            )
        )
    header = "".join(line + "\n" for line in text.splitlines() if line.startswith("#"))
    return Lock(
        packages=tuple(packages),
        requires_python=_parsed(
            data.get("requires-python"), source, "requires-python", SpecifierSet, "is not a PEP 440 version specifier"
        ),
        created_by=_string(data.get("created-by"), source, "created-by"),
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
    Version and marker are rendered from their parsed form (``packaging``), never
    pasted from the lock's text.
    """
    lines = []
    for package in sorted(lock.packages, key=lambda package: package.key):
        if package.version is None:
            raise LockError(f"{package.name}: has no version to pin. Fix: {FIX}")
        pin = f"{package.key}=={Version(package.version)}"
        marker = f" ; {Marker(package.marker)}" if package.marker else ""
        hashes = " ".join(f"--hash=sha256:{wheel.sha256}" for wheel in package.wheels if wheel.sha256)
        lines.append(f"{pin}{marker} {hashes}".rstrip())
    return "".join(line + "\n" for line in lines)
