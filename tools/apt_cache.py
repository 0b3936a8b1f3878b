#!/usr/bin/env python3
"""A read-through cache of Debian's and Ubuntu's package archives, for the molecule scenarios.

The scenarios whose roles install packages (os_hardening, python_env) start this server in a
container on their own network, and the instance's /etc/hosts names that container as
``deb.debian.org`` and ``archive.ubuntu.com``. apt on the instance then works as it does on a
server: the same sources, the archive's signed Release files and hashes, an egress window to
"the mirror" where the scenario has a firewall; only the bytes come from a folder on the
controller (``.cache/apt``, kept between runs) instead of from the mirror on every run.

    python3 apt_cache.py --root DIR [--port 80] [--max-age-hours 6] [--keep-days 30] [--max-mb 1024]

How a request is answered (``DIR/<host>/<path>``):

* package files (``/pool/``) and indexes addressed by their hash (``/by-hash/``) never change
  under their name: a cached copy is served as it is;
* every other file (``dists/*/InRelease`` and the like) changes when the archive does: a copy
  older than ``--max-age-hours`` is fetched again, and served stale only when the mirror cannot
  be reached (apt itself refuses a Release file past its Valid-Until);
* a miss is fetched from the mirror, stored (written aside, then renamed: two scenarios may
  share the folder) and served; the mirror's 404 is apt's 404, and no answer within the
  timeout a 504, so a failure reads as the mirror's.

The folder is bounded: at start, files unused for ``--keep-days`` are removed, then the least
recently used ones while it holds more than ``--max-mb``; past that size a fetched file is
served without being kept. Only the archives' hosts are fetched from; each request is logged
(HIT, MISS, STALE, REFETCH) to stderr, which ``podman logs`` shows.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

# The archives the lab images' sources name (lab/image/*.sh); nothing else is fetched.
UPSTREAMS = frozenset({"deb.debian.org", "archive.ubuntu.com"})
UPSTREAM_TIMEOUT = 20  # seconds; below apt's own 30 s (the roles' *_mirror_timeout)
CHUNK = 1 << 20


class Cache:
    """The folder, its freshness rules and its size bound."""

    def __init__(self, root: Path, max_age: float, max_bytes: int) -> None:
        self.root = root
        self.max_age = max_age
        self.max_bytes = max_bytes
        self.size = 0
        self.lock = threading.Lock()

    def path_for(self, host: str, path: str) -> Path | None:
        """The cached file of one URL, or None for a URL this cache does not hold."""
        parts = path.split("/")
        if host not in UPSTREAMS or not path.startswith("/") or path.endswith("/") or ".." in parts:
            return None
        return self.root / host / path.lstrip("/")

    @staticmethod
    def immutable(path: str) -> bool:
        return "/pool/" in path or "/by-hash/" in path

    def fresh(self, local: Path, path: str) -> bool:
        if not local.is_file():
            return False
        return self.immutable(path) or time.time() - local.stat().st_mtime < self.max_age

    def prune(self, keep_days: float) -> None:
        """Remove leftovers and unused files, then the least recently used past the size bound."""
        files = [p for p in self.root.rglob("*") if p.is_file()]
        now = time.time()
        kept = []
        for item in files:
            age = now - item.stat().st_mtime
            if (item.name.endswith(".part") and age > 3600) or age > keep_days * 86400:
                item.unlink(missing_ok=True)
            elif not item.name.endswith(".part"):
                kept.append(item)
        kept.sort(key=lambda p: p.stat().st_mtime)
        self.size = sum(p.stat().st_size for p in kept)
        while kept and self.size > self.max_bytes:
            oldest = kept.pop(0)
            self.size -= oldest.stat().st_size
            oldest.unlink(missing_ok=True)

    def store(self, local: Path, upstream) -> Path:
        """Write the mirror's answer next to its place, then move it there (or keep it aside when full)."""
        local.parent.mkdir(parents=True, exist_ok=True)
        part = local.with_name(f"{local.name}.{os.getpid()}.{threading.get_ident()}.part")
        with part.open("wb") as out:
            shutil.copyfileobj(upstream, out, CHUNK)
        size = part.stat().st_size
        with self.lock:
            if self.size + size > self.max_bytes:
                return part  # served, then removed: the cache is full
            self.size += size
        part.replace(local)
        return local


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # apt keeps its connection open between requests
    cache: Cache
    outcome = ""

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        host = (url.hostname or self.headers.get("Host", "")).split(":")[0].lower()
        local = self.cache.path_for(host, url.path)
        if local is None:
            self.fail(403, "not an archive this cache serves")
            return
        if self.cache.fresh(local, url.path):
            if self.cache.immutable(url.path):
                os.utime(local)  # marks it as used, for the pruning at start
            self.send_file(local, "HIT")
            return
        stale = local.is_file()
        try:
            request = urllib.request.Request(f"http://{host}{url.path}", headers={"User-Agent": "apt-cache"})
            with urllib.request.urlopen(request, timeout=UPSTREAM_TIMEOUT) as upstream:
                served = self.cache.store(local, upstream)
        except urllib.error.HTTPError as err:
            if stale and err.code >= 500:
                self.send_file(local, "STALE")
            else:
                self.fail(err.code, f"the mirror answered {err.code}")
            return
        except OSError as err:  # no route, no name, no answer in time
            if stale:
                self.send_file(local, "STALE")
            else:
                self.fail(504, f"the mirror could not be reached: {err}")
            return
        self.send_file(served, "REFETCH" if stale else "MISS")
        if served != local:
            served.unlink(missing_ok=True)

    def send_file(self, local: Path, outcome: str) -> None:
        self.outcome = outcome
        with local.open("rb") as data:
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(os.fstat(data.fileno()).st_size))
            self.end_headers()
            with contextlib.suppress(ConnectionError):
                shutil.copyfileobj(data, self.wfile, CHUNK)

    def fail(self, code: int, why: str) -> None:
        body = f"apt cache: {why}\n".encode()
        self.outcome = why
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        sys.stderr.write(f"{self.command} {self.headers.get('Host', '-')}{self.path} {code} {self.outcome}\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, required=True, help="the cache folder")
    parser.add_argument("--port", type=int, default=80)
    parser.add_argument("--max-age-hours", type=float, default=6.0, help="how long a Release file is served")
    parser.add_argument("--keep-days", type=float, default=30.0, help="files unused this long are removed")
    parser.add_argument("--max-mb", type=int, default=1024, help="the folder's size bound")
    args = parser.parse_args(argv)
    args.root.mkdir(parents=True, exist_ok=True)
    cache = Cache(args.root, args.max_age_hours * 3600, args.max_mb << 20)
    cache.prune(args.keep_days)
    Handler.cache = cache
    # It runs as a container's PID 1, which has no default action for SIGTERM: stop at once.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server = ThreadingHTTPServer(("", args.port), Handler)
    sys.stderr.write(f"apt cache: {args.root} ({cache.size >> 20} MiB) on port {args.port}\n")
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
