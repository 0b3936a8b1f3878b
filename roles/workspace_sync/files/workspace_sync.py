#!/usr/bin/python3
"""Copy the analysts' chosen folders to an S3 bucket (roles/workspace_sync).

Run by workspace-sync.service (a timer) and workspace-sync-shutdown.service (at
power-off), as the workspace-sync account, whose traffic alone the firewall lets
through to S3. Each run:

* walks the configured folders (shell patterns such as /home/*/work), skipping
  excluded names, symbolic links and anything that is not a regular file;
* lists what the bucket holds under the server's prefix;
* uploads what is new or changed: a file whose size differs from the object's, or
  whose size and modification time differ from the last upload this server
  recorded (state file) and whose MD5 differs from the object's ETag;
* deletes objects whose file is gone only when delete_remote is true (default:
  nothing is ever deleted in the bucket; versioning on the bucket keeps old copies);
* prints one summary line for the journal.

Exit status: 0 all copied; 1 some files failed (named above the summary); 2 the
configuration or the bucket is wrong (nothing was copied; the message says what
to fix). The standard library does everything but S3, which needs boto3
(Debian's python3-boto3), imported only when the bucket is used, so
`--check-config` works anywhere.
"""

from __future__ import annotations

import argparse
import fnmatch
import glob
import hashlib
import json
import os
import stat
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

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


@dataclass(frozen=True)
class LocalFile:
    path: str
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class RemoteObject:
    size: int
    etag: str


@dataclass
class Walk:
    files: dict[str, LocalFile] = field(default_factory=dict)  # by object key
    roots: list[str] = field(default_factory=list)  # key prefixes of the folders walked
    problems: list[str] = field(default_factory=list)


def key_for(prefix: str, path: str) -> str:
    """The object key of a local path: <prefix>/<path without its leading slash>."""
    return f"{prefix}/{path.lstrip('/')}"


def excluded(name: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def walk(config: Config) -> Walk:
    """Every regular file under the configured folders, by object key; symbolic links are not followed."""
    result = Walk()
    for pattern in config.folders:
        # Path.glob takes relative patterns only; these are absolute.
        for folder in sorted(glob.glob(pattern)):  # noqa: PTH207
            if Path(folder).is_symlink() or not Path(folder).is_dir():
                continue
            result.roots.append(key_for(config.prefix, folder.rstrip("/")) + "/")
            for path in _files_under(folder, config.exclude, result.problems):
                try:
                    info = os.lstat(path)
                except OSError:
                    continue  # removed while we walked
                if stat.S_ISREG(info.st_mode):
                    result.files[key_for(config.prefix, path)] = LocalFile(path, info.st_size, info.st_mtime_ns)
    return result


def _files_under(folder: str, exclude: tuple[str, ...], problems: list[str]) -> Iterator[str]:
    def on_error(err: OSError) -> None:
        problems.append(f"cannot read {err.filename}: {err.strerror}")

    for directory, subdirs, names in os.walk(folder, onerror=on_error):
        subdirs[:] = sorted(d for d in subdirs if not excluded(d, exclude))
        for name in sorted(names):
            if not excluded(name, exclude):
                yield str(Path(directory, name))


# ----------------------------------------------------------------------------- the decision


@dataclass
class Plan:
    upload: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)
    kept_remote: list[str] = field(default_factory=list)  # gone here, kept in the bucket
    confirmed: dict[str, LocalFile] = field(default_factory=dict)  # unchanged only after an MD5 comparison


def md5_of(path: str) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def plan(
    local: dict[str, LocalFile],
    remote: dict[str, RemoteObject],
    recorded: dict[str, list[int]],
    roots: list[str],
    delete_remote: bool,
    md5: Callable[[str], str] = md5_of,
) -> Plan:
    """What to upload and delete. Pure but for md5, which reads a file only when stat cannot decide."""
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
            if len(etag) == 32 and "-" not in etag and md5(file.path) == etag:
                result.unchanged.append(key)
                result.confirmed[key] = file
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
    deleted: int = 0
    failed: list[str] = field(default_factory=list)


def apply(client, config: Config, files: dict[str, LocalFile], todo: Plan, state: dict[str, list[int]]) -> Outcome:
    """Upload and delete as planned; record each upload's size and time (taken before it) in state."""
    outcome = Outcome()
    extra = {"ServerSideEncryption": config.server_side_encryption} if config.server_side_encryption else {}
    for key in todo.upload:
        file = files[key]
        try:
            client.upload_file(file.path, config.bucket, key, ExtraArgs=extra)
        except OSError as err:
            outcome.failed.append(f"{file.path}: {err.strerror or err}")
            continue
        except Exception as err:  # botocore's errors; the run goes on with the next file
            outcome.failed.append(f"{file.path}: {type(err).__name__}: {err}")
            continue
        state[key] = [file.size, file.mtime_ns]
        outcome.uploaded += 1
        outcome.uploaded_bytes += file.size
    for key, file in todo.confirmed.items():
        state[key] = [file.size, file.mtime_ns]
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
    for problem in problems:
        print(f"workspace-sync: failed: {problem}", flush=True)
    kept = f", {len(todo.kept_remote)} kept in the bucket though gone here" if todo.kept_remote else ""
    print(
        f"workspace-sync: {'incomplete' if problems else 'done'}: uploaded {outcome.uploaded} files "
        f"({human(outcome.uploaded_bytes)}), {len(todo.unchanged)} unchanged, {outcome.deleted} deleted{kept}, "
        f"{len(problems)} failed, to s3://{config.bucket}/{config.prefix}/ from {len(found.roots)} folders "
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
