"""The molecule scenarios' package cache: what it serves, keeps, refetches and refuses.

The server runs in-process on loopback; the mirror is never asked (urlopen is
replaced), so every answer below comes from the cache's own rules.
"""

from __future__ import annotations

import http.client
import io
import os
import threading
import time
import urllib.error
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from tools import apt_cache
from tools.apt_cache import Cache, Handler

RELEASE = "/debian/dists/bookworm/InRelease"
PACKAGE = "/debian/pool/main/a/aide/aide_0.18.3-1_amd64.deb"
HOUR = 3600.0


def cache_at(root: Path, max_bytes: int = 1 << 20) -> Cache:
    return Cache(root, max_age=6 * HOUR, max_bytes=max_bytes)


def write(path: Path, data: bytes, age: float = 0.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    then = time.time() - age
    os.utime(path, (then, then))
    return path


@pytest.mark.parametrize(
    ("host", "path"),
    [
        ("example.org", RELEASE),  # not an archive the lab's sources name
        ("deb.debian.org", "/debian/../../etc/passwd"),
        ("deb.debian.org", "/debian/dists/"),  # a folder
        ("deb.debian.org", "debian/dists/bookworm/InRelease"),  # not absolute
    ],
)
def test_a_url_outside_the_archives_has_no_place_in_the_cache(tmp_path, host, path):
    assert cache_at(tmp_path).path_for(host, path) is None


def test_an_archive_url_maps_to_a_file_under_its_host(tmp_path):
    assert cache_at(tmp_path).path_for("deb.debian.org", RELEASE) == tmp_path / "deb.debian.org" / RELEASE[1:]


def test_a_package_stays_fresh_and_a_release_file_only_for_max_age(tmp_path):
    cache = cache_at(tmp_path)
    package = write(tmp_path / "p.deb", b"deb", age=90 * 86400)
    young, old = write(tmp_path / "young", b"r", age=HOUR), write(tmp_path / "old", b"r", age=7 * HOUR)
    assert cache.fresh(package, PACKAGE)
    assert cache.fresh(young, RELEASE)
    assert not cache.fresh(old, RELEASE)
    assert not cache.fresh(tmp_path / "missing", PACKAGE)


def test_pruning_drops_unused_files_and_leftovers_then_the_oldest_past_the_bound(tmp_path):
    cache = cache_at(tmp_path, max_bytes=10)
    unused = write(tmp_path / "unused.deb", b"x", age=40 * 86400)
    leftover = write(tmp_path / "a.deb.1.2.part", b"x", age=2 * HOUR)
    oldest = write(tmp_path / "oldest.deb", b"123456", age=3 * 86400)
    newest = write(tmp_path / "newest.deb", b"123456", age=86400)
    cache.prune(keep_days=30)
    assert [path.exists() for path in (unused, leftover, oldest, newest)] == [False, False, False, True]
    assert cache.size == 6


def test_a_full_cache_serves_a_file_without_keeping_it(tmp_path):
    cache = cache_at(tmp_path, max_bytes=4)
    local = tmp_path / "deb.debian.org" / "pool" / "big.deb"
    served = cache.store(local, io.BytesIO(b"too big"))
    assert served != local and served.read_bytes() == b"too big"
    assert not local.exists()


@pytest.fixture
def server(tmp_path) -> Iterator[tuple[int, Path]]:
    Handler.cache = cache_at(tmp_path)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1], tmp_path
    httpd.shutdown()
    httpd.server_close()


def get(port: int, host: str, path: str) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers={"Host": host})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def unreachable(*_args, **_kwargs):
    raise OSError("no route to the mirror")


def test_a_cached_package_is_served_without_asking_the_mirror(server, monkeypatch):
    port, root = server
    monkeypatch.setattr(apt_cache.urllib.request, "urlopen", unreachable)
    write(root / "deb.debian.org" / PACKAGE[1:], b"the package", age=40 * 86400)
    assert get(port, "deb.debian.org", PACKAGE) == (200, b"the package")


def test_another_host_is_refused(server):
    port, _ = server
    status, body = get(port, "example.org", RELEASE)
    assert status == 403 and b"not an archive" in body


def test_an_old_release_file_is_served_stale_only_when_the_mirror_cannot_be_reached(server, monkeypatch):
    port, root = server
    monkeypatch.setattr(apt_cache.urllib.request, "urlopen", unreachable)
    write(root / "deb.debian.org" / RELEASE[1:], b"old release", age=7 * HOUR)
    assert get(port, "deb.debian.org", RELEASE) == (200, b"old release")
    status, body = get(port, "deb.debian.org", "/debian/dists/trixie/InRelease")  # never cached
    assert status == 504 and b"could not be reached" in body


def test_the_mirrors_refusal_reaches_apt_as_it_is(server, monkeypatch):
    port, _ = server

    def not_found(request, timeout):
        raise urllib.error.HTTPError(request.full_url, 404, "Not Found", {}, None)

    monkeypatch.setattr(apt_cache.urllib.request, "urlopen", not_found)
    status, _ = get(port, "deb.debian.org", PACKAGE)
    assert status == 404


def test_a_miss_is_fetched_once_then_kept(server, monkeypatch):
    port, root = server
    calls = []

    def mirror(request, timeout):
        calls.append(request.full_url)
        return io.BytesIO(b"fetched")

    monkeypatch.setattr(apt_cache.urllib.request, "urlopen", mirror)
    assert get(port, "deb.debian.org", PACKAGE) == (200, b"fetched")
    assert get(port, "deb.debian.org", PACKAGE) == (200, b"fetched")
    assert calls == [f"http://deb.debian.org{PACKAGE}"]
    assert (root / "deb.debian.org" / PACKAGE[1:]).read_bytes() == b"fetched"
