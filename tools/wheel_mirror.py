#!/usr/bin/env python3
"""Fill the wheel mirror with exactly the files of the analysts' lock, each checked against its hash.

The analytics server has no route to PyPI; its pip installs from this mirror with

    pip install --require-hashes --no-index --only-binary=:all: \\
        --find-links <mirror URL>/find-links.html -r requirements.txt

Usage:

    python -m tools.wheel_mirror sync   --lock python-env/pylock.toml --dest /srv/mirror [--cache DIR] [--prune]
    python -m tools.wheel_mirror sync   --lock python-env/pylock.toml --dest s3://bucket/prefix [--endpoint-url URL]
    python -m tools.wheel_mirror verify --lock python-env/pylock.toml --dest /srv/mirror   (or s3://...)

A destination holds:

* ``files/<filename>``: every file of the lock, byte for byte what the lock's sha256 names;
* ``simple/index.html`` and ``simple/<normalized-name>/index.html``: a PEP 503 simple index
  (with PEP 629's ``pypi:repository-version``), for ``pip --index-url <mirror>/simple``;
* ``find-links.html``: one flat page linking every file, for ``pip --no-index --find-links``,
  which ignores any index URL. Every link carries a ``#sha256=`` fragment.

How a sync goes: the files the destination already holds are re-hashed first, and one whose
hash is not the lock's stops the sync before anything changes (exit 1); it is never
overwritten. Missing files are downloaded into a content-addressed cache
(``<cache>/sha256/<hash>``, default ``.cache/wheels`` under the repository root), hashed while
they stream and kept only when hash and size match the lock; then they are copied (or
uploaded) into the destination, then the pages are written where their content changed.
A second sync changes nothing. Files the lock does not name are reported, and removed only
with ``--prune``. ``verify`` downloads nothing: it re-hashes what the destination holds.

On S3 (boto3; ``--endpoint-url`` or ``AWS_ENDPOINT_URL`` for moto), each object carries its
sha256 in the ``sha256`` metadata; pip reaches the flat page from any static host, while the
``simple/<name>/`` URLs need a host that serves ``index.html`` for a folder (S3 website
hosting, CloudFront, nginx).

Exit status: 0 done, 1 a file refused (its hash differs from the lock's), 2 bad usage, a lock
this tool cannot mirror, or a source or destination that cannot be reached.

From Python (an Ansible task, a lab helper): ``sync_directory(lock, dest, cache)``,
``sync_s3(lock, bucket, prefix, cache, client=...)``, ``verify_directory`` and ``verify_s3``,
with ``lock = tools.pylock.load(path)``. Standard library, plus boto3 for S3 only.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import html
import http.client
import os
import re
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote, urlsplit

if __package__ in (None, ""):  # run as a script: make `tools` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tools import pylock

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CACHE = ROOT / ".cache" / "wheels"

# urllib applies one timeout to the connection and to every read on it: a stalled
# server fails the request after this long without data, however big the file.
TIMEOUT = 30
ATTEMPTS = 3  # tries per download, on connection errors only (never on a hash mismatch)
RETRY_DELAY = 2.0  # seconds, times the attempt number
CHUNK = 1 << 20

FILE_MODE = 0o644  # readable by the web server that serves the mirror
DIR_MODE = 0o755
SHA256 = re.compile(r"^[0-9a-f]{64}$")
# A file name of the lock becomes a path in the destination: no separators, no dot files.
SAFE_FILENAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+!-]*$")

FILES = "files"
SIMPLE = "simple"
FIND_LINKS = "find-links.html"
HTML_TYPE = "text/html; charset=utf-8"
FILE_TYPE = "application/octet-stream"


class MirrorError(RuntimeError):
    """Bad usage, a lock this tool cannot mirror, or an unreachable source or destination (exit 2)."""

    exit_code = 2


class RefusedFile(MirrorError):
    """A file whose hash is not the lock's: in the destination, in a download or in the cache (exit 1)."""

    exit_code = 1


@dataclass(frozen=True)
class MirrorFile:
    """One file of the lock, with the project (PEP 503 name) whose page links it."""

    project: str
    filename: str
    url: str
    sha256: str
    size: int | None


@dataclass(frozen=True)
class Digest:
    sha256: str
    md5: str
    size: int


@dataclass
class Report:
    """What a sync or a verify found and did; ``summary()`` is what the CLI prints."""

    destination: str
    files: int = 0
    size: int = 0
    kept: list[str] = field(default_factory=list)  # already in the destination with the lock's hash
    fetched: list[str] = field(default_factory=list)  # downloaded from the lock's URL into the cache
    uploaded: list[str] = field(default_factory=list)  # written into the destination
    extra: list[str] = field(default_factory=list)  # in the destination, not in the lock
    removed: list[str] = field(default_factory=list)  # extras removed by --prune
    pages: list[str] = field(default_factory=list)  # index pages (re)written
    problems: list[str] = field(default_factory=list)  # verify: what differs from the lock
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        lines = [
            f"mirror {self.destination}: {self.files} files, {self.size / 1e6:.1f} MB: "
            f"{len(self.kept)} kept, {len(self.fetched)} fetched, {len(self.uploaded)} uploaded, "
            f"{len(self.extra)} extra, {len(self.removed)} removed; {len(self.pages)} pages written"
        ]
        lines += [f"  note: {note}" for note in self.notes]
        hint = "removed" if self.removed else "not in the lock; --prune removes them"
        lines += [f"  extra ({hint}): {name}" for name in self.extra]
        lines += [f"  problem: {problem}" for problem in self.problems]
        return "\n".join(lines)


# --------------------------------------------------------------------------- the lock's files


def mirror_files(lock: pylock.Lock, report: Report | None = None) -> list[MirrorFile]:
    """Every file of the lock, sorted by name; refuses what cannot be mirrored safely."""
    by_name: dict[str, MirrorFile] = {}
    for package in lock.packages:
        if not package.files and report is not None:
            report.notes.append(f"{package.name} has no file to mirror ({package.direct or 'no wheels'})")
        for locked in package.files:
            where = f"{package.name}: {locked.filename}"
            if not SAFE_FILENAME.match(locked.filename):
                raise MirrorError(f"{where}: not a file name this mirror can hold")
            if not locked.url:
                raise MirrorError(f"{where}: the lock gives no url to download it from")
            if not locked.sha256 or not SHA256.match(locked.sha256):
                raise MirrorError(f"{where}: the lock gives no sha256 (64 lowercase hex digits) to check it against")
            entry = MirrorFile(package.key, locked.filename, locked.url, locked.sha256, locked.size)
            seen = by_name.setdefault(locked.filename, entry)
            if seen.sha256 != entry.sha256:
                raise MirrorError(f"{where}: the lock names this file twice with different hashes")
    return [by_name[name] for name in sorted(by_name)]


# --------------------------------------------------------------------------- download cache


def cache_path(cache: Path, sha256: str) -> Path:
    return cache / "sha256" / sha256


def hash_stream(source: IO[bytes], sink: IO[bytes] | None = None, limit: int | None = None) -> Digest:
    """sha256, md5 and size of a stream, copied to ``sink`` on the way; stops once past ``limit`` bytes."""
    sha, md5, size = hashlib.sha256(), hashlib.md5(usedforsecurity=False), 0
    while chunk := source.read(CHUNK):
        sha.update(chunk)
        md5.update(chunk)
        size += len(chunk)
        if sink is not None:
            sink.write(chunk)
        if limit is not None and size > limit:
            break
    return Digest(sha.hexdigest(), md5.hexdigest(), size)


def hash_file(path: Path) -> Digest:
    with path.open("rb") as handle:
        return hash_stream(handle)


def _mismatch(file: MirrorFile, got: Digest, origin: str, outcome: str) -> str | None:
    """Why ``got`` is not the lock's file, or None when it is."""
    if file.size is not None and got.size != file.size:
        amount = f"over {file.size}" if got.size > file.size else str(got.size)
        return f"{file.filename}: size {amount} bytes does not match the lock's {file.size} ({origin}); {outcome}"
    if got.sha256 != file.sha256:
        return f"{file.filename}: sha256 {got.sha256} does not match the lock's {file.sha256} ({origin}); {outcome}"
    return None


def _retryable(error: BaseException, url: str) -> bool:
    """Connection errors only: an HTTP status, a local file or a hash mismatch will not change."""
    if isinstance(error, urllib.error.HTTPError) or urlsplit(url).scheme == "file":
        return False
    return isinstance(error, urllib.error.URLError | ConnectionError | TimeoutError | http.client.HTTPException)


def _download(file: MirrorFile, target: IO[bytes]) -> Digest:
    """Stream the lock's URL into ``target``, hashing it; retries a few times on connection errors."""
    request = urllib.request.Request(file.url, headers={"User-Agent": "wheel-mirror (tools/wheel_mirror.py)"})
    for attempt in range(1, ATTEMPTS + 1):
        target.seek(0)
        target.truncate()
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
                return hash_stream(response, target, limit=file.size)
        except (OSError, http.client.HTTPException) as error:
            reason = getattr(error, "reason", None) or error
            if not _retryable(error, file.url) or attempt == ATTEMPTS:
                tries = f" after {attempt} tries" if attempt > 1 else ""
                raise MirrorError(f"{file.filename}: cannot download {file.url}{tries}: {reason}") from None
            time.sleep(RETRY_DELAY * attempt)
    raise AssertionError("unreachable")


def fetch(file: MirrorFile, cache: Path, report: Report | None = None) -> Path:
    """The cached copy of a file of the lock, downloaded first if the cache does not hold it.

    A download lands in a temporary file beside the cache entry and is renamed into
    place only when its sha256 and size match the lock; otherwise it is deleted.
    """
    cached = cache_path(cache, file.sha256)
    if cached.is_file():
        return cached
    cached.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=cached.parent, prefix=f".{file.sha256}.", delete=False) as temp:
        try:
            got = _download(file, temp)
        except BaseException:
            Path(temp.name).unlink(missing_ok=True)
            raise
    problem = _mismatch(file, got, f"downloaded from {file.url}", "the download was discarded")
    if problem:
        Path(temp.name).unlink(missing_ok=True)
        raise RefusedFile(problem)
    Path(temp.name).replace(cached)
    if report is not None:
        report.fetched.append(file.filename)
    return cached


def _copy_checked(file: MirrorFile, cached: Path, target: IO[bytes]) -> Digest:
    """Copy a cache entry, hashing it again: a cache entry changed since its download is refused and removed."""
    with cached.open("rb") as source:
        got = hash_stream(source, target)
    problem = _mismatch(file, got, f"cache entry {cached}", "the cache entry was removed: sync again")
    if problem:
        cached.unlink(missing_ok=True)
        raise RefusedFile(problem)
    return got


# --------------------------------------------------------------------------- index pages


def _page(title: str, links: Iterable[tuple[str, str]]) -> bytes:
    anchors = "".join(f'    <a href="{html.escape(href)}">{html.escape(text)}</a><br>\n' for href, text in links)
    return (
        "<!DOCTYPE html>\n<html>\n  <head>\n"
        '    <meta name="pypi:repository-version" content="1.0">\n'
        f"    <title>{html.escape(title)}</title>\n  </head>\n  <body>\n"
        f"    <h1>{html.escape(title)}</h1>\n{anchors}  </body>\n</html>\n"
    ).encode()


def _file_href(prefix: str, file: MirrorFile) -> str:
    return f"{prefix}{FILES}/{quote(file.filename)}#sha256={file.sha256}"


def index_pages(files: list[MirrorFile]) -> dict[str, bytes]:
    """The pages of the mirror by relative path: the PEP 503 index and the flat find-links page."""
    projects: dict[str, list[MirrorFile]] = {}
    for file in files:
        projects.setdefault(file.project, []).append(file)
    pages = {f"{SIMPLE}/index.html": _page("Simple index", ((f"{name}/", name) for name in sorted(projects)))}
    for name, project_files in sorted(projects.items()):
        links = ((_file_href("../../", file), file.filename) for file in project_files)
        pages[f"{SIMPLE}/{name}/index.html"] = _page(f"Links for {name}", links)
    pages[FIND_LINKS] = _page("Wheel mirror", ((_file_href("", file), file.filename) for file in files))
    return pages


# --------------------------------------------------------------------------- directory destination


def _mkdir(path: Path) -> None:
    """Create a folder of the mirror (and its parents), world-readable whatever the umask."""
    if not path.is_dir():
        _mkdir(path.parent)
        path.mkdir(exist_ok=True)
        path.chmod(DIR_MODE)


def _write_atomic(path: Path, write: Callable[[IO[bytes]], Any]) -> Any:
    """Write through a temporary file in the same folder, then rename it over ``path``."""
    _mkdir(path.parent)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".part", delete=False) as temp:
        try:
            result = write(temp)
            temp.flush()
            os.fchmod(temp.fileno(), FILE_MODE)
        except BaseException:
            Path(temp.name).unlink(missing_ok=True)
            raise
    Path(temp.name).replace(path)
    return result


def _write_page(page: Path, content: bytes) -> bool:
    """Replace a page only when its content changes; True when it was written."""
    if page.is_file() and page.read_bytes() == content:
        return False
    _write_atomic(page, lambda target: target.write(content))
    return True


def _tamper_message(name: str, got: str, want: str) -> str:
    return (
        f"{name}: the mirror holds sha256 {got}, the lock says {want}; it was not overwritten. "
        "Someone changed the mirror's file, or the lock changed this file in place: "
        "investigate, then remove it from the mirror and sync again"
    )


def _check_held(
    files: list[MirrorFile], report: Report, held: Callable[[MirrorFile], tuple[str, str | None] | None]
) -> set[str]:
    """Check every file the mirror already holds, before anything changes; the names it may keep.

    held(file) is None when the mirror lacks the file, else where it is and the sha256
    it holds when that is not the lock's (None when it is). Any such file stops the
    sync, all of them named at once, and none is overwritten.
    """
    refused = []
    for file in files:
        found = held(file)
        if found is None:
            continue
        where, mismatch = found
        if mismatch is None:
            report.kept.append(file.filename)
        else:
            refused.append(_tamper_message(where, mismatch, file.sha256))
    if refused:
        raise RefusedFile("\n".join(refused))
    return set(report.kept)


def _directory_extras(dest: Path, files: list[MirrorFile]) -> list[Path]:
    """Files in ``files/`` and project pages in ``simple/`` that the lock does not name."""
    names = {file.filename for file in files}
    projects = {file.project for file in files}
    extras = [path for path in sorted((dest / FILES).glob("*")) if path.name not in names]
    extras += [path for path in sorted((dest / SIMPLE).glob("*")) if path.is_dir() and path.name not in projects]
    return extras


def sync_directory(lock: pylock.Lock, dest: Path, cache: Path = DEFAULT_CACHE, *, prune: bool = False) -> Report:
    """Make ``dest`` hold the lock's files and pages; refuses (RefusedFile) a present file with another hash."""
    dest = Path(dest)
    report = Report(str(dest))
    files = mirror_files(lock, report)

    def held(file: MirrorFile) -> tuple[str, str | None] | None:
        path = dest / FILES / file.filename
        if not path.is_file():
            return None
        got = hash_file(path).sha256
        return str(path), None if got == file.sha256 else got

    kept = _check_held(files, report, held)
    for file in files:
        report.files += 1
        report.size += file.size or 0
        if file.filename in kept:
            continue
        cached = fetch(file, Path(cache), report)
        _write_atomic(dest / FILES / file.filename, partial(_copy_checked, file, cached))
        report.uploaded.append(file.filename)

    for relative, content in index_pages(files).items():
        if _write_page(dest / relative, content):
            report.pages.append(relative)

    for extra in _directory_extras(dest, files):
        report.extra.append(extra.relative_to(dest).as_posix())
        if prune:
            shutil.rmtree(extra) if extra.is_dir() else extra.unlink()
            report.removed.append(extra.relative_to(dest).as_posix())
    return report


def verify_directory(lock: pylock.Lock, dest: Path) -> Report:
    """Re-hash every file ``dest`` holds against the lock and compare its pages; downloads nothing."""
    dest = Path(dest)
    report = Report(str(dest))
    files = mirror_files(lock, report)
    for file in files:
        report.files += 1
        report.size += file.size or 0
        path = dest / FILES / file.filename
        if not path.is_file():
            report.problems.append(f"{FILES}/{file.filename} is missing")
        elif (got := hash_file(path).sha256) != file.sha256:
            report.problems.append(_tamper_message(str(path), got, file.sha256))
        else:
            report.kept.append(file.filename)
    for relative, content in index_pages(files).items():
        page = dest / relative
        if not page.is_file() or page.read_bytes() != content:
            report.problems.append(f"{relative} is missing or not the page this lock gives: sync again")
    report.extra = [extra.relative_to(dest).as_posix() for extra in _directory_extras(dest, files)]
    return report


# --------------------------------------------------------------------------- S3 destination


def _s3_errors() -> tuple[type[Exception], ...]:
    """boto3's errors, imported only when S3 is used (the directory mirror needs no boto3)."""
    from botocore.exceptions import BotoCoreError, ClientError

    return (BotoCoreError, ClientError)


def s3_client(endpoint_url: str | None = None):
    """An S3 client with bounded timeouts and retries; region and credentials come from the usual AWS settings."""
    import boto3
    from botocore.config import Config

    config = Config(
        connect_timeout=TIMEOUT,
        read_timeout=TIMEOUT,
        retries={"max_attempts": ATTEMPTS, "mode": "standard"},
        # moto and other S3 look-alikes answer on one host name, not on <bucket>.<host>.
        s3={"addressing_style": "path"} if endpoint_url else None,
    )
    try:
        return boto3.client("s3", endpoint_url=endpoint_url, config=config)
    except _s3_errors() as error:
        raise MirrorError(f"cannot make an S3 client: {error}") from None


def _key(prefix: str, relative: str) -> str:
    return f"{prefix.strip('/')}/{relative}" if prefix.strip("/") else relative


def _check_bucket(client, bucket: str) -> None:
    from botocore.exceptions import ClientError

    try:
        client.head_bucket(Bucket=bucket)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code in ("404", "NoSuchBucket"):
            raise MirrorError(
                f"the bucket {bucket} does not exist: create it first (amazon.aws.s3_bucket, or "
                f"`aws s3api create-bucket --bucket {bucket}`), or fix --dest; nothing was uploaded"
            ) from None
        if code in ("403", "AccessDenied"):
            raise MirrorError(
                f"access to the bucket {bucket} is denied: check the AWS credentials in use and the bucket's "
                "policy (s3:ListBucket, s3:GetObject, s3:PutObject); nothing was uploaded"
            ) from None
        raise


def _list_objects(client, bucket: str, prefix: str) -> dict[str, dict]:
    """Every object under the prefix by key (with Size and ETag)."""
    listing = {}
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=_key(prefix, "")):
        for item in page.get("Contents", []):
            listing[item["Key"]] = item
    return listing


def _etag(value: str) -> str:
    return value.strip('"')


def _object_sha256(client, bucket: str, key: str) -> str:
    """The sha256 of an object's content, read back in full."""
    body = client.get_object(Bucket=bucket, Key=key)["Body"]
    with body:
        return hash_stream(body).sha256


def _s3_state(client, bucket: str, key: str, file: MirrorFile, size: int) -> str | None:
    """The sha256 the object holds when it is not the lock's; None when it is the lock's file.

    The sha256 metadata is trusted when the size agrees (a sync must not download the
    whole mirror); an object without it is read back and hashed.
    """
    recorded = client.head_object(Bucket=bucket, Key=key).get("Metadata", {}).get("sha256")
    if recorded is None:
        got = _object_sha256(client, bucket, key)
        return None if got == file.sha256 else got
    if recorded != file.sha256:
        return recorded
    if file.size is not None and size != file.size:
        return f"{recorded} (as its metadata says, but {size} bytes instead of the lock's {file.size})"
    return None


def _upload(client, bucket: str, key: str, file: MirrorFile, cached: Path) -> None:
    """Put one file with its sha256 in the metadata, and check that S3 stored these bytes.

    put_object sends the file in one request, so the ETag S3 answers is the MD5 of
    what it stored (a multipart upload, as upload_file does above 8 MB, would give an
    ETag that is not). ContentMD5 lets S3 refuse a body damaged on the way; comparing
    the ETag proves it stored the body we hashed. Under SSE-KMS or SSE-C the ETag is
    not the MD5, so there ContentMD5 is the check.
    """
    digest = hash_file(cached)
    problem = _mismatch(file, digest, f"cache entry {cached}", "the cache entry was removed: sync again")
    if problem:
        cached.unlink(missing_ok=True)
        raise RefusedFile(problem)
    with cached.open("rb") as body:
        answer = client.put_object(
            Bucket=bucket,
            Key=key,
            Body=body,
            ContentType=FILE_TYPE,
            ContentMD5=base64.b64encode(bytes.fromhex(digest.md5)).decode(),
            Metadata={"sha256": file.sha256},
        )
    encrypted = answer.get("ServerSideEncryption", "").startswith("aws:kms") or "SSECustomerAlgorithm" in answer
    if not encrypted and _etag(answer.get("ETag", "")) != digest.md5:
        raise RefusedFile(f"s3://{bucket}/{key}: S3 stored a body whose MD5 {answer.get('ETag')} is not ours")


def sync_s3(
    lock: pylock.Lock,
    bucket: str,
    prefix: str = "",
    cache: Path = DEFAULT_CACHE,
    *,
    client=None,
    prune: bool = False,
) -> Report:
    """Make ``s3://bucket/prefix`` hold the lock's files and pages; refuses an object with another hash."""
    client = client or s3_client()
    report = Report(f"s3://{bucket}/{prefix.strip('/')}")
    files = mirror_files(lock, report)
    try:
        _check_bucket(client, bucket)
        listing = _list_objects(client, bucket, prefix)

        def held(file: MirrorFile) -> tuple[str, str | None] | None:
            key = _key(prefix, f"{FILES}/{file.filename}")
            if key not in listing:
                return None
            return f"s3://{bucket}/{key}", _s3_state(client, bucket, key, file, listing[key]["Size"])

        kept = _check_held(files, report, held)
        for file in files:
            report.files += 1
            report.size += file.size or 0
            if file.filename not in kept:
                _upload(client, bucket, _key(prefix, f"{FILES}/{file.filename}"), file, fetch(file, cache, report))
                report.uploaded.append(file.filename)

        for relative, content in index_pages(files).items():
            key = _key(prefix, relative)
            if key not in listing or _etag(listing[key]["ETag"]) != hashlib.md5(content).hexdigest():
                client.put_object(Bucket=bucket, Key=key, Body=content, ContentType=HTML_TYPE)
                report.pages.append(relative)

        for key in _s3_extras(listing, prefix, files):
            report.extra.append(key)
            if prune:
                client.delete_object(Bucket=bucket, Key=key)
                report.removed.append(key)
    except _s3_errors() as error:
        raise MirrorError(f"s3://{bucket}: {error}") from None
    return report


def _s3_extras(listing: dict[str, dict], prefix: str, files: list[MirrorFile]) -> list[str]:
    wanted = {_key(prefix, f"{FILES}/{file.filename}") for file in files}
    wanted |= {_key(prefix, f"{SIMPLE}/{file.project}/index.html") for file in files}
    ours = (_key(prefix, f"{FILES}/"), _key(prefix, f"{SIMPLE}/"))
    pages = {_key(prefix, f"{SIMPLE}/index.html")}
    return sorted(key for key in listing if key.startswith(ours) and key not in wanted | pages)


def verify_s3(lock: pylock.Lock, bucket: str, prefix: str = "", *, client=None) -> Report:
    """Read back and re-hash every object of the mirror; compare the pages. Downloads the whole mirror."""
    client = client or s3_client()
    report = Report(f"s3://{bucket}/{prefix.strip('/')}")
    files = mirror_files(lock, report)
    try:
        _check_bucket(client, bucket)
        listing = _list_objects(client, bucket, prefix)
        for file in files:
            report.files += 1
            report.size += file.size or 0
            key = _key(prefix, f"{FILES}/{file.filename}")
            if key not in listing:
                report.problems.append(f"s3://{bucket}/{key} is missing")
            elif (got := _object_sha256(client, bucket, key)) != file.sha256:
                report.problems.append(_tamper_message(f"s3://{bucket}/{key}", got, file.sha256))
            else:
                report.kept.append(file.filename)
        for relative, content in index_pages(files).items():
            key = _key(prefix, relative)
            if key not in listing or client.get_object(Bucket=bucket, Key=key)["Body"].read() != content:
                report.problems.append(f"s3://{bucket}/{key} is missing or not the page this lock gives: sync again")
        report.extra = _s3_extras(listing, prefix, files)
    except _s3_errors() as error:
        raise MirrorError(f"s3://{bucket}: {error}") from None
    return report


# --------------------------------------------------------------------------- command line


def parse_s3(dest: str) -> tuple[str, str] | None:
    """``s3://bucket/prefix`` as (bucket, prefix); None for a folder."""
    if not dest.startswith("s3://"):
        return None
    bucket, _, prefix = dest.removeprefix("s3://").partition("/")
    if not bucket:
        raise MirrorError(f"{dest}: name the bucket, as in s3://bucket/prefix")
    return bucket, prefix.strip("/")


def run(args: argparse.Namespace) -> Report:
    """Carry out one parsed command line."""
    lock = pylock.load(args.lock)
    s3 = parse_s3(args.dest)
    if s3 is None:
        if args.endpoint_url:
            raise MirrorError("--endpoint-url is for an s3:// destination")
        if args.command == "verify":
            return verify_directory(lock, Path(args.dest))
        return sync_directory(lock, Path(args.dest), args.cache, prune=args.prune)
    bucket, prefix = s3
    client = s3_client(args.endpoint_url)
    if args.command == "verify":
        return verify_s3(lock, bucket, prefix, client=client)
    return sync_s3(lock, bucket, prefix, args.cache, client=client, prune=args.prune)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.wheel_mirror", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("sync", "download, check and copy the lock's files and pages into the mirror"),
        ("verify", "re-hash what the mirror holds against the lock (downloads nothing)"),
    ):
        command = sub.add_parser(name, help=text, description=text)
        command.add_argument("--lock", type=Path, required=True, help="the pylock.toml")
        command.add_argument("--dest", required=True, help="a folder, or s3://bucket/prefix")
        command.add_argument("--endpoint-url", help="S3 endpoint (moto, an S3 look-alike); AWS_ENDPOINT_URL works too")
        if name == "sync":
            command.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="download cache (%(default)s)")
            command.add_argument("--prune", action="store_true", help="remove files and pages the lock does not name")
    args = parser.parse_args(argv)
    try:
        report = run(args)
    except pylock.LockError as error:
        print(f"wheel-mirror: error: {error}", file=sys.stderr)
        return 2
    except MirrorError as error:
        print(f"wheel-mirror: error: {error}", file=sys.stderr)
        return error.exit_code
    print(report.summary())
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
