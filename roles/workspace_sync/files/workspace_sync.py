#!/usr/bin/python3
"""Copy the analysts' chosen folders to an S3 bucket (roles/workspace_sync).

Run by workspace-sync.service (a timer) and workspace-sync-shutdown.service (at
power-off), as the workspace-sync account, whose traffic alone the firewall lets
through to S3. Each run:

* lists what the bucket holds under the server's prefix;
* walks the configured folders (shell patterns such as /home/*/work) by file
  descriptor: each folder is opened from / one name at a time and each folder
  below relative to its parent's descriptor, never through a symbolic link
  (O_NOFOLLOW), leaving out excluded names, links and anything that is not a
  regular file (FIFOs, sockets, devices);
* uploads what is new or changed: a file whose size differs from the object's, or
  whose size and modification time differ from the last upload this server
  recorded (state file) and whose MD5 differs from the object's ETag. The file is
  opened again the same way (non-blocking, so that a FIFO cannot hold the open),
  and must be the regular file the walk saw (fstat: the same st_dev and st_ino,
  as must each folder on the way); otherwise it is skipped with a line naming it.
  The MD5 and the upload read that one descriptor, and no more than the size
  fstat gave; a file that changed while it was read is not recorded as copied,
  so the next run copies it again;
* deletes objects whose file is gone only when delete_remote is true (default:
  nothing is ever deleted in the bucket; versioning on the bucket keeps old copies);
* prints one summary line for the journal.

An analyst owns her folder and may swap any name in it at any moment: the copy,
which may read every file (CAP_DAC_READ_SEARCH), reads only what it walked.

Exit status: 0 all copied (a skipped file does not count); 1 some files failed
(named above the summary); 2 the configuration or the bucket is wrong (nothing
was copied; the message says what to fix). The standard library does everything
but S3, which needs boto3 (Debian's python3-boto3), imported only when the bucket
is used, so `--check-config` works anywhere.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import fnmatch
import glob
import hashlib
import io
import json
import os
import stat
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, TypeVar

DEFAULT_CONFIG = "/etc/workspace-sync/config.json"
KEYS = {
    "bucket": str,
    "prefix": str,
    "region": str,
    "endpoint_url": (str, type(None)),
    "folders": list,
    "exclude": list,
    "delete_remote": bool,
    "server_side_encryption": (str, type(None)),
    "state_file": str,
    "timeout_seconds": int,
    "max_attempts": int,
}
ENCRYPTIONS = (None, "AES256", "aws:kms")


class ConfigError(Exception):
    """The configuration or the bucket is wrong; the message names the fix."""


@dataclass(frozen=True)
class Config:
    bucket: str
    prefix: str
    region: str
    endpoint_url: str | None
    folders: tuple[str, ...]
    exclude: tuple[str, ...]
    delete_remote: bool
    server_side_encryption: str | None
    state_file: str
    timeout_seconds: int
    max_attempts: int


def load_config(text: str, source: str = "configuration") -> Config:
    """Parse and check the JSON configuration; ConfigError names what is wrong."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ConfigError(f"{source} is not valid JSON: {err}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{source} must hold a JSON object")
    unknown = sorted(set(data) - set(KEYS))
    missing = sorted(set(KEYS) - set(data))
    if unknown or missing:
        raise ConfigError(f"{source}: unknown keys {unknown}, missing keys {missing}")
    for key, kind in KEYS.items():
        if not isinstance(data[key], kind) or (kind is int and isinstance(data[key], bool)):
            raise ConfigError(f"{source}: {key} has the wrong type ({type(data[key]).__name__})")
    if not data["bucket"] or "/" in data["bucket"]:
        raise ConfigError(f"{source}: bucket must be a bucket name, not {data['bucket']!r}")
    prefix = data["prefix"].strip("/")
    if not prefix:
        raise ConfigError(f"{source}: prefix must not be empty (it keeps each server's copies apart)")
    folders = data["folders"]
    if not folders or not all(isinstance(f, str) and f.startswith("/") and f != "/" for f in folders):
        raise ConfigError(f"{source}: folders must be absolute paths or patterns, not the root: {folders}")
    if not all(isinstance(p, str) and p and "/" not in p for p in data["exclude"]):
        raise ConfigError(f"{source}: exclude holds name patterns without '/': {data['exclude']}")
    if data["server_side_encryption"] not in ENCRYPTIONS:
        raise ConfigError(f"{source}: server_side_encryption must be one of {ENCRYPTIONS}")
    if data["timeout_seconds"] < 1 or not 1 <= data["max_attempts"] <= 10:
        raise ConfigError(f"{source}: timeout_seconds must be >= 1 and max_attempts 1 to 10")
    return Config(
        bucket=data["bucket"],
        prefix=prefix,
        region=data["region"],
        endpoint_url=data["endpoint_url"] or None,
        folders=tuple(folders),
        exclude=tuple(data["exclude"]),
        delete_remote=data["delete_remote"],
        server_side_encryption=data["server_side_encryption"],
        state_file=data["state_file"],
        timeout_seconds=data["timeout_seconds"],
        max_attempts=data["max_attempts"],
    )


# ----------------------------------------------------------------------------- what is where

# A folder, or a file, is opened one name at a time relative to the descriptor of the
# folder that holds it, never through a symbolic link (O_NOFOLLOW: the kernel refuses a
# link, with ELOOP, or ENOTDIR when a folder is asked for), and non-blocking, so that a
# FIFO put in a file's place cannot hold the open. An analyst owns her folder and may
# swap anything in it at any moment; what is opened is then checked (fstat) to be the
# very folder or file the walk saw.
FOLDER_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
# The walk holds one descriptor per level below a copied folder, and goes no deeper.
MAX_DEPTH = 128
# What an open's refusal means: the name is not what the walk saw there (not a failure).
REFUSALS = {
    errno.ELOOP: "a symbolic link, not followed",
    errno.ENOTDIR: "not a folder",
    errno.ENXIO: "not a regular file",  # a socket
}

Identity = tuple[int, int]  # (st_dev, st_ino)
T = TypeVar("T")


class Skipped(Exception):
    """A name is not what the walk saw, or not something to copy: left out with a line, not a failure."""


@dataclass(frozen=True)
class LocalFile:
    path: str
    size: int
    mtime_ns: int
    # Where the walk found it: the copied folder, the names below it down to the file,
    # and the identity of the folder, of each folder between and of the file.
    root: str = ""
    names: tuple[str, ...] = ()
    ids: tuple[Identity, ...] = ()


@dataclass(frozen=True)
class RemoteObject:
    size: int
    etag: str


@dataclass
class Walk:
    files: dict[str, LocalFile] = field(default_factory=dict)  # by object key
    roots: list[str] = field(default_factory=list)  # key prefixes of the folders walked
    problems: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "<path>: <why>"


def key_for(prefix: str, path: str) -> str:
    """The object key of a local path: <prefix>/<path without its leading slash>."""
    return f"{prefix}/{path.lstrip('/')}"


def excluded(name: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def identity(info: os.stat_result) -> Identity:
    return (info.st_dev, info.st_ino)


def _open(name: str, flags: int, dir_fd: int | None = None) -> int:
    try:
        return os.open(name, flags, dir_fd=dir_fd)
    except OSError as err:
        if err.errno not in REFUSALS:
            raise
        refused = err.errno
    # Linux refuses a link opened as a folder with ENOTDIR: say which it is (for the line only).
    with contextlib.suppress(OSError):
        if refused == errno.ENOTDIR and stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode):
            refused = errno.ELOOP
    raise Skipped(REFUSALS[refused])


def _open_again(name: str, flags: int, dir_fd: int, seen: Identity) -> tuple[int, os.stat_result]:
    """name in the folder dir_fd, opened with flags, and its fstat; Skipped unless it is what the walk saw."""
    fd = _open(name, flags, dir_fd)
    info = os.fstat(fd)
    wanted = stat.S_ISDIR if flags & os.O_DIRECTORY else stat.S_ISREG
    if wanted(info.st_mode) and identity(info) == seen:
        return fd, info
    os.close(fd)
    raise Skipped("not a regular file" if not wanted(info.st_mode) else "replaced since the walk")


# Debian 12's python3 is 3.11: no type parameters (def f[T]), which ruff's target of 3.12 asks for.
def opened_or_told(path: str, skipped: list[str], failed: list[str], opening: Callable[..., T], *args) -> T | None:  # noqa: UP047
    """opening(*args), or None with a line naming path: in skipped (no failure) or in failed."""
    try:
        return opening(*args)
    except Skipped as why:
        skipped.append(f"{path}: {why}")
    except OSError as err:
        failed.append(f"{path}: {err.strerror or err}")
    return None


def open_folder(path: str) -> int:
    """An absolute folder, opened from / one name at a time: Skipped when any name on the way is a link.

    /home is root's, but an analyst may swap her own ~/work, and everything in it, for a link.
    """
    names = [name for name in path.split("/") if name]
    fd = _open("/", FOLDER_FLAGS)
    try:
        for depth, name in enumerate(names, 1):
            try:
                child = _open(name, FOLDER_FLAGS, fd)
            except Skipped as why:
                if depth == len(names):
                    raise
                raise Skipped(f"on its path, /{'/'.join(names[:depth])} is {why}") from None
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_file(file: LocalFile) -> tuple[int, os.stat_result]:
    """The file the walk found, opened again name by name from its copied folder, and its fstat.

    Skipped when the folder, a folder between or the file is no longer the one the walk saw
    (a link, a FIFO, a socket, another file); OSError when it is gone or cannot be read.
    """
    fd = open_folder(file.root)
    try:
        if identity(os.fstat(fd)) != file.ids[0]:
            raise Skipped("replaced since the walk")
        for name, seen in zip(file.names[:-1], file.ids[1:-1], strict=True):
            child, _ = _open_again(name, FOLDER_FLAGS, fd, seen)
            os.close(fd)
            fd = child
        return _open_again(file.names[-1], FILE_FLAGS, fd, file.ids[-1])
    finally:
        os.close(fd)


class FirstBytes(io.RawIOBase):
    """The first size bytes of an open file, by pread: what the MD5 and the upload read.

    Bounded, so that a file that grows while it is read cannot hold the copy. Closing it
    leaves the descriptor open (s3transfer closes the object it uploads from; apply closes
    the descriptor once), so that a descriptor is never closed twice.
    """

    def __init__(self, fd: int, size: int) -> None:
        super().__init__()
        self._fd, self._size, self._offset = fd, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        want = min(len(buffer), self._size - self._offset)
        if want <= 0:
            return 0
        data = os.pread(self._fd, want, self._offset)
        if not data:
            raise OSError(f"shrank below {self._size} bytes while it was read")
        buffer[: len(data)] = data
        self._offset += len(data)
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._offset, io.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self._offset = base + offset
        return self._offset

    def tell(self) -> int:
        return self._offset


def walk(config: Config, before_open: Callable[[str], None] | None = None) -> Walk:
    """Every regular file under the configured folders, by object key, walked by descriptor.

    before_open, a seam for the tests, is called with the path of each folder below a
    copied one between the walk's look at it and its open.
    """
    result = Walk()
    for pattern in config.folders:
        # Path.glob takes relative patterns only; these are absolute. The matches are only
        # names: each is opened again from /, refusing links.
        for match in sorted(glob.glob(pattern)):  # noqa: PTH207
            folder = os.path.normpath(match)
            try:
                fd = open_folder(folder)
            except Skipped as why:
                result.skipped.append(f"{folder}: {why}")
                continue
            except FileNotFoundError:
                continue  # removed since the glob
            except OSError as err:
                result.problems.append(f"cannot read {folder}: {err.strerror}")
                continue
            try:
                entries = _entries(fd, config.exclude)
            except OSError as err:
                result.problems.append(f"cannot read {folder}: {err.strerror}")
            else:
                # Only a folder that could be listed deletes anything (delete_remote).
                result.roots.append(key_for(config.prefix, folder) + "/")
                _walk_below(fd, folder, entries, config, result, before_open)
            finally:
                os.close(fd)
    return result


def _entries(fd: int, exclude: tuple[str, ...]) -> Iterator[tuple[str, os.stat_result]]:
    """The names in an open folder but excluded ones, sorted, each with its lstat (fstatat on fd)."""
    found = []
    with os.scandir(fd) as listing:
        for entry in listing:
            if excluded(entry.name, exclude):
                continue
            try:
                found.append((entry.name, entry.stat(follow_symlinks=False)))
            except FileNotFoundError:
                continue  # removed while we walked
    return iter(sorted(found, key=lambda item: item[0]))


def _walk_below(top: int, folder: str, listing, config: Config, result: Walk, before_open) -> None:
    # Depth first, with one open descriptor per level: (fd, names below folder, identities, entries).
    levels = [(top, (), (identity(os.fstat(top)),), listing)]
    try:
        while levels:
            fd, names, ids, entries = levels[-1]
            entry = next(entries, None)
            if entry is None:
                levels.pop()
                if fd != top:
                    os.close(fd)
                continue
            name, info = entry
            here, path = (*names, name), "/".join((folder, *names, name))
            if stat.S_ISREG(info.st_mode):
                found = LocalFile(path, info.st_size, info.st_mtime_ns, folder, here, (*ids, identity(info)))
                result.files[key_for(config.prefix, path)] = found
            elif stat.S_ISDIR(info.st_mode):
                if len(here) > MAX_DEPTH:
                    result.skipped.append(f"{path}: more than {MAX_DEPTH} folders deep")
                    continue
                if before_open:
                    before_open(path)
                opened = opened_or_told(
                    path, result.skipped, result.problems, _open_again, name, FOLDER_FLAGS, fd, identity(info)
                )
                if opened is None:
                    continue
                child = opened[0]
                try:
                    levels.append((child, here, (*ids, identity(info)), _entries(child, config.exclude)))
                except OSError as err:
                    os.close(child)
                    result.problems.append(f"cannot read {path}: {err.strerror}")
            # Anything else (links, FIFOs, sockets, devices) is left out.
    finally:
        for fd, *_ in levels:
            if fd != top:
                os.close(fd)


# ----------------------------------------------------------------------------- the decision


@dataclass
class Plan:
    upload: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    compare: dict[str, str] = field(default_factory=dict)  # key: ETag; uploaded unless the file's MD5 is it
    delete: list[str] = field(default_factory=list)
    kept_remote: list[str] = field(default_factory=list)  # gone here, kept in the bucket


def md5_of(handle: BinaryIO) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    for block in iter(lambda: handle.read(1 << 20), b""):
        digest.update(block)
    return digest.hexdigest()


def plan(
    local: dict[str, LocalFile],
    remote: dict[str, RemoteObject],
    recorded: dict[str, list[int]],
    roots: list[str],
    delete_remote: bool,
) -> Plan:
    """What to upload, compare and delete; pure (apply reads the files to compare)."""
    result = Plan()
    for key, file in sorted(local.items()):
        obj = remote.get(key)
        if obj is None or obj.size != file.size:
            result.upload.append(key)
        elif recorded.get(key) == [file.size, file.mtime_ns]:
            result.unchanged.append(key)
        else:
            etag = obj.etag.strip('"')
            # A multipart upload's ETag is no MD5 of the content ("<md5>-<parts>").
            if len(etag) == 32 and "-" not in etag:
                result.compare[key] = etag
            else:
                result.upload.append(key)
    for key in sorted(remote):
        if key not in local and any(key.startswith(root) for root in roots):
            (result.delete if delete_remote else result.kept_remote).append(key)
    return result


# ----------------------------------------------------------------------------- the state


def read_state(path: str) -> dict[str, list[int]]:
    """What this server last uploaded: {key: [size, mtime_ns]}; empty when missing or unreadable."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}
    return data.get("uploaded", {}) if isinstance(data, dict) else {}


def write_state(path: str, uploaded: dict[str, list[int]]) -> None:
    """Written to a temporary file and renamed, so that a crash leaves the old state."""
    target = Path(path)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(json.dumps({"uploaded": uploaded}, sort_keys=True))
    tmp.replace(target)


# ----------------------------------------------------------------------------- S3


def s3_client(config: Config):
    try:
        import boto3
        from botocore.config import Config as BotoConfig
    except ImportError:
        raise ConfigError("boto3 is missing: install Debian's python3-boto3 (the workspace_sync role does)") from None
    options = {
        "connect_timeout": config.timeout_seconds,
        "read_timeout": config.timeout_seconds,
        "retries": {"max_attempts": config.max_attempts, "mode": "standard"},
    }
    if config.endpoint_url:
        options["s3"] = {"addressing_style": "path"}
    return boto3.client("s3", region_name=config.region, endpoint_url=config.endpoint_url, config=BotoConfig(**options))


def explain(err: Exception, config: Config) -> str:
    """A bucket-level failure in words, with the fix."""
    where = f"s3://{config.bucket}" + (f" at {config.endpoint_url}" if config.endpoint_url else "")
    code = getattr(err, "response", {}).get("Error", {}).get("Code", "")
    if code in ("NoSuchBucket", "404", "NotFound"):
        return f"{where} does not exist: create the bucket, or correct workspace_sync_bucket"
    if code in ("AccessDenied", "403", "Forbidden"):
        return (
            f"{where} refused access ({code}): the instance profile needs s3:ListBucket on the bucket and "
            "s3:PutObject (and s3:DeleteObject with delete_remote) on its prefix"
        )
    name = type(err).__name__
    if name in ("EndpointConnectionError", "ConnectTimeoutError", "ConnectionClosedError", "ReadTimeoutError"):
        return (
            f"{where} cannot be reached ({err}): check the firewall's S3 destinations "
            "(analytics_s3_destinations in the inventory) and the VPC's S3 endpoint"
        )
    if name in ("NoCredentialsError", "PartialCredentialsError"):
        return f"no AWS credentials for {where}: give the instance a profile (role) that may write to the bucket"
    return f"{where}: {name}: {err}"


def list_remote(client, config: Config) -> dict[str, RemoteObject]:
    objects = {}
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=config.bucket, Prefix=config.prefix + "/")
    for page in pages:
        for item in page.get("Contents", []):
            objects[item["Key"]] = RemoteObject(item["Size"], item["ETag"])
    return objects


@dataclass
class Outcome:
    uploaded: int = 0
    uploaded_bytes: int = 0
    confirmed: int = 0  # unchanged after an MD5 comparison
    deleted: int = 0
    failed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "<path>: <why>"
    again: list[str] = field(default_factory=list)  # changed while read: not recorded, so copied next run


def apply(client, config: Config, files: dict[str, LocalFile], todo: Plan, state: dict[str, list[int]]) -> Outcome:
    """Upload, compare and delete as planned; record in state each copy's size and time (fstat, before it)."""
    outcome = Outcome()
    for key in sorted([*todo.upload, *todo.compare]):
        file = files[key]
        opened = opened_or_told(file.path, outcome.skipped, outcome.failed, open_file, file)
        if opened is None:
            continue
        handle, info = opened
        try:
            _copy(client, config, key, file.path, (handle, info), todo.compare.get(key), state, outcome)
        finally:
            os.close(handle)
    for start in range(0, len(todo.delete), 1000):  # DeleteObjects takes at most 1000 keys
        batch = todo.delete[start : start + 1000]
        try:
            answer = client.delete_objects(Bucket=config.bucket, Delete={"Objects": [{"Key": k} for k in batch]})
        except Exception as err:  # botocore's errors
            outcome.failed.append(f"{len(batch)} objects not deleted: {type(err).__name__}: {err}")
            continue
        for error in answer.get("Errors", []):
            outcome.failed.append(f"s3://{config.bucket}/{error['Key']}: not deleted: {error.get('Message')}")
        gone = {item["Key"] for item in answer.get("Deleted", [])}
        outcome.deleted += len(gone)
        for key in gone:
            state.pop(key, None)
    return outcome


def _copy(client, config: Config, key: str, path: str, opened, etag: str | None, state, outcome: Outcome) -> None:
    """An opened file (descriptor, fstat): compared with etag when there is one; uploaded unless equal.

    Both read the first st_size bytes only. A file that changed meanwhile (size or time)
    is not recorded in state, so that the next run compares and copies it again.
    """
    handle, info = opened
    size = info.st_size
    extra = {"ServerSideEncryption": config.server_side_encryption} if config.server_side_encryption else {}
    try:
        if etag is not None and md5_of(FirstBytes(handle, size)) == etag:
            outcome.confirmed += 1
        else:
            client.upload_fileobj(FirstBytes(handle, size), config.bucket, key, ExtraArgs=extra)
            outcome.uploaded += 1
            outcome.uploaded_bytes += size
    except OSError as err:
        outcome.failed.append(f"{path}: {err.strerror or err}")
        return
    except Exception as err:  # botocore's errors; the run goes on with the next file
        outcome.failed.append(f"{path}: {type(err).__name__}: {err}")
        return
    after = os.fstat(handle)
    if (after.st_size, after.st_mtime_ns) != (size, info.st_mtime_ns):
        outcome.again.append(path)  # the copy may mix old and new content
        return
    state[key] = [size, info.st_mtime_ns]


def human(size: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def sync(config: Config, client=None) -> int:
    started = time.monotonic()
    client = client or s3_client(config)
    try:
        client.head_bucket(Bucket=config.bucket)
        remote = list_remote(client, config)
    except Exception as err:  # botocore's errors
        raise ConfigError(explain(err, config)) from None
    found = walk(config)
    state = {k: v for k, v in read_state(config.state_file).items() if k in found.files}
    todo = plan(found.files, remote, state, found.roots, config.delete_remote)
    outcome = apply(client, config, found.files, todo, state)
    write_state(config.state_file, state)
    problems = found.problems + outcome.failed
    skipped = found.skipped + outcome.skipped
    for line in skipped:
        print(f"workspace-sync: skipped: {line}", flush=True)
    for path in outcome.again:
        print(f"workspace-sync: changed while it was read, copied again next run: {path}", flush=True)
    for problem in problems:
        print(f"workspace-sync: failed: {problem}", flush=True)
    kept = f", {len(todo.kept_remote)} kept in the bucket though gone here" if todo.kept_remote else ""
    left_out = f", {len(skipped)} skipped" if skipped else ""
    print(
        f"workspace-sync: {'incomplete' if problems else 'done'}: uploaded {outcome.uploaded} files "
        f"({human(outcome.uploaded_bytes)}), {len(todo.unchanged) + outcome.confirmed} unchanged, "
        f"{outcome.deleted} deleted{kept}{left_out}, {len(problems)} failed, "
        f"to s3://{config.bucket}/{config.prefix}/ from {len(found.roots)} folders "
        f"in {time.monotonic() - started:.1f} s",
        flush=True,
    )
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=DEFAULT_CONFIG, help=f"JSON settings (default {DEFAULT_CONFIG})")
    parser.add_argument("--check-config", metavar="FILE", help="only check a configuration file, then exit")
    args = parser.parse_args(argv)
    path = args.check_config or args.config
    try:
        config = load_config(Path(path).read_text(), path)
        if args.check_config:
            print(f"{path}: valid; copies go to s3://{config.bucket}/{config.prefix}/")
            return 0
        return sync(config)
    except OSError as err:
        print(f"workspace-sync: error: cannot read {path}: {err.strerror}", file=sys.stderr)
        return 2
    except ConfigError as err:
        print(f"workspace-sync: error: {err}. Nothing was copied.", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
