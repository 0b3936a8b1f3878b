"""tools/wheel_mirror.py: the mirror holds exactly the lock's files, checked, and never overwrites a changed one.

Every lock here is built in tmp_path around tiny real wheels; nothing is downloaded from PyPI.
Sources are served over HTTP on 127.0.0.1: the lock reader takes only http(s) URLs with a host.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import importlib.util
import os
import re
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import boto3
import pytest
from moto import mock_aws

from tools import pylock
from tools import wheel_mirror as wm

BUCKET = "analytics-wheels"
PREFIX = "mirror"
PIP_TIMEOUT = 60


# ------------------------------------------------------------------ wheels, locks, servers


@dataclass(frozen=True)
class Wheel:
    name: str
    version: str
    path: Path

    @property
    def filename(self) -> str:
        return self.path.name

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def make_wheel(folder: Path, name: str, version: str) -> Wheel:
    """A small installable wheel: one module and a .dist-info with METADATA, WHEEL and RECORD."""
    dist = re.sub(r"[-_.]+", "_", name).lower()
    info = f"{dist}-{version}.dist-info"
    entries = {
        f"{dist}/__init__.py": f"VERSION = {version!r}\n".encode(),
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = [
        f"{path},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},{len(data)}"
        for path, data in entries.items()
    ]
    entries[f"{info}/RECORD"] = ("\n".join([*record, f"{info}/RECORD,,"]) + "\n").encode()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{dist}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for member, data in entries.items():
            archive.writestr(zipfile.ZipInfo(member, date_time=(2024, 1, 1, 0, 0, 0)), data)
    return Wheel(name, version, path)


def write_lock(path: Path, wheels: list[Wheel], url, sha256: str | None = None, size: int | None = None):
    """A pylock.toml as uv writes it, read back with the shared reader; the overrides apply to every wheel.

    ``url`` gives each wheel's URL (``Upstream.url``).
    """
    lines = ['lock-version = "1.0"', 'created-by = "tests"', 'requires-python = ">=3.11"', ""]
    for wheel in wheels:
        source = url(wheel)
        digest = sha256 or wheel.sha256
        length = size if size is not None else wheel.path.stat().st_size
        lines += [
            "[[packages]]",
            f'name = "{wheel.name}"',
            f'version = "{wheel.version}"',
            f'wheels = [{{ url = "{source}", size = {length}, hashes = {{ sha256 = "{digest}" }} }}]',
            "",
        ]
    path.write_text("\n".join(lines))
    return pylock.load(path)


@pytest.fixture
def wheels(tmp_path: Path) -> list[Wheel]:
    # "Demo.Pkg" is served under its PEP 503 name, demo-pkg.
    upstream = tmp_path / "upstream"
    return [make_wheel(upstream, "Demo.Pkg", "1.0"), make_wheel(upstream, "other", "2.0")]


@pytest.fixture
def upstream(wheels: list[Wheel], serve) -> Upstream:
    """The wheels' folder on 127.0.0.1, standing in for PyPI's file host."""
    return serve(wheels[0].path.parent)


@pytest.fixture
def lock(tmp_path: Path, wheels: list[Wheel], upstream: Upstream) -> pylock.Lock:
    return write_lock(tmp_path / "pylock.toml", wheels, upstream.url)


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    return tmp_path / "mirror"


def tree(root: Path) -> dict[str, int]:
    """Every file under root with its modification time (ns)."""
    return {path.relative_to(root).as_posix(): path.stat().st_mtime_ns for path in root.rglob("*") if path.is_file()}


class Upstream(ThreadingHTTPServer):
    """Serves a folder on 127.0.0.1, counting requests; can drop the first ones without an answer."""

    def __init__(self, folder: Path, drop: int = 0) -> None:
        self.requests: list[str] = []
        self.drop = drop
        super().__init__(("127.0.0.1", 0), functools.partial(_Handler, directory=str(folder)))

    def url(self, wheel: Wheel) -> str:
        return f"http://127.0.0.1:{self.server_port}/{wheel.filename}"


class _Handler(SimpleHTTPRequestHandler):
    def do_GET(self) -> None:
        self.server.requests.append(self.path)
        if self.server.drop > 0:
            self.server.drop -= 1
            self.close_connection = True  # no answer at all: the client sees the connection closed
            return
        super().do_GET()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def serve(monkeypatch):
    """Start an Upstream for a folder; every server is shut down after the test."""
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    servers = []

    def start(folder: Path, drop: int = 0) -> Upstream:
        server = Upstream(folder, drop)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


# ------------------------------------------------------------------ directory mirror


def test_first_sync_fetches_every_file_and_writes_the_pages(lock, wheels, cache, dest):
    report = wm.sync_directory(lock, dest, cache)

    names = sorted(wheel.filename for wheel in wheels)
    assert (sorted(report.fetched), sorted(report.uploaded), report.kept) == (names, names, [])
    assert sorted(report.pages) == [
        "find-links.html",
        "simple/demo-pkg/index.html",
        "simple/index.html",
        "simple/other/index.html",
    ]
    for wheel in wheels:
        assert (dest / "files" / wheel.filename).read_bytes() == wheel.path.read_bytes()
        assert (cache / "sha256" / wheel.sha256).read_bytes() == wheel.path.read_bytes()


def test_mirror_files_and_pages_are_readable_by_a_web_server(lock, cache, dest):
    old = os.umask(0o077)
    try:
        wm.sync_directory(lock, dest, cache)
    finally:
        os.umask(old)
    modes = {path.relative_to(dest).as_posix(): path.stat().st_mode & 0o777 for path in dest.rglob("*")}
    assert {mode for name, mode in modes.items() if (dest / name).is_file()} == {0o644}
    assert {mode for name, mode in modes.items() if (dest / name).is_dir()} == {0o755}


def test_second_sync_keeps_everything_and_rewrites_nothing(lock, wheels, cache, dest, tmp_path):
    wm.sync_directory(lock, dest, cache)
    before = tree(dest)
    # Neither the source nor the cache is needed: nothing is fetched again.
    for wheel in wheels:
        wheel.path.unlink()
    for entry in (cache / "sha256").iterdir():
        entry.unlink()

    report = wm.sync_directory(lock, dest, cache)

    assert sorted(report.kept) == sorted(wheel.filename for wheel in wheels)
    assert (report.fetched, report.uploaded, report.pages, report.extra) == ([], [], [], [])
    assert tree(dest) == before


def test_a_tampered_mirror_file_stops_the_sync_and_is_not_overwritten(lock, wheels, cache, dest):
    wm.sync_directory(lock, dest, cache)
    tampered = dest / "files" / wheels[0].filename
    tampered.write_bytes(b"not the locked wheel")
    got = hashlib.sha256(b"not the locked wheel").hexdigest()
    (dest / "find-links.html").unlink()

    with pytest.raises(wm.RefusedFile) as refused:
        wm.sync_directory(lock, dest, cache)

    message = str(refused.value)
    assert str(tampered) in message
    assert f"holds sha256 {got}, the lock says {wheels[0].sha256}" in message
    assert "not overwritten" in message
    assert "remove it from the mirror" in message
    assert tampered.read_bytes() == b"not the locked wheel"
    # It stopped before changing anything: not even the missing page came back.
    assert not (dest / "find-links.html").exists()


def test_a_download_with_another_hash_is_discarded_and_named(tmp_path, wheels, upstream, cache, dest):
    wrong = "0" * 64
    lock = write_lock(tmp_path / "pylock.toml", wheels[:1], upstream.url, sha256=wrong)

    with pytest.raises(wm.RefusedFile) as refused:
        wm.sync_directory(lock, dest, cache)

    assert str(refused.value) == (
        f"{wheels[0].filename}: sha256 {wheels[0].sha256} does not match the lock's {wrong} "
        f"(downloaded from {upstream.url(wheels[0])}); the download was discarded"
    )
    assert list((cache / "sha256").iterdir()) == []  # no entry, no temporary file left behind
    assert not (dest / "files" / wheels[0].filename).exists()


def test_a_download_longer_than_the_lock_says_is_cut_short_and_discarded(tmp_path, wheels, upstream, cache, dest):
    lock = write_lock(tmp_path / "pylock.toml", wheels[:1], upstream.url, size=100)

    with pytest.raises(wm.RefusedFile, match=r"size over 100 bytes does not match the lock's 100 .*discarded"):
        wm.sync_directory(lock, dest, cache)

    assert list((cache / "sha256").iterdir()) == []


def test_a_hash_mismatch_over_http_is_not_retried(tmp_path, wheels, cache, dest, serve):
    upstream = serve(wheels[0].path.parent)
    lock = write_lock(tmp_path / "pylock.toml", wheels[:1], url=upstream.url, sha256="1" * 64)

    with pytest.raises(wm.RefusedFile, match=re.escape(f"(downloaded from {upstream.url(wheels[0])})")):
        wm.sync_directory(lock, dest, cache)

    assert upstream.requests == [f"/{wheels[0].filename}"]


def test_a_dropped_connection_is_retried(tmp_path, wheels, cache, dest, serve, monkeypatch):
    monkeypatch.setattr(wm, "RETRY_DELAY", 0)
    upstream = serve(wheels[0].path.parent, drop=1)
    lock = write_lock(tmp_path / "pylock.toml", wheels[:1], url=upstream.url)

    report = wm.sync_directory(lock, dest, cache)

    assert report.fetched == [wheels[0].filename]
    assert len(upstream.requests) == 2


def test_an_http_error_is_not_retried_and_names_the_url(tmp_path, wheels, cache, dest, serve):
    upstream = serve(tmp_path / "upstream")
    missing = make_wheel(tmp_path / "elsewhere", "missing", "1.0")
    lock = write_lock(tmp_path / "pylock.toml", [missing], url=upstream.url)

    with pytest.raises(wm.MirrorError, match=r"cannot download http://127\.0\.0\.1:\d+/missing-1\.0-py3-none-any\.whl"):
        wm.sync_directory(lock, dest, cache)

    assert len(upstream.requests) == 1


def test_extra_files_are_reported_and_kept_without_prune(lock, cache, dest):
    wm.sync_directory(lock, dest, cache)
    (dest / "files" / "old-0.1-py3-none-any.whl").write_bytes(b"old")
    (dest / "simple" / "old").mkdir()
    (dest / "simple" / "old" / "index.html").write_text("<a href='../../files/old-0.1-py3-none-any.whl'>old</a>")

    report = wm.sync_directory(lock, dest, cache)

    assert report.extra == ["files/old-0.1-py3-none-any.whl", "simple/old"]
    assert report.removed == []
    assert (dest / "files" / "old-0.1-py3-none-any.whl").exists()
    assert (dest / "simple" / "old" / "index.html").exists()


def test_extra_files_are_removed_with_prune(lock, cache, dest):
    wm.sync_directory(lock, dest, cache)
    (dest / "files" / "old-0.1-py3-none-any.whl").write_bytes(b"old")
    (dest / "simple" / "old").mkdir()

    report = wm.sync_directory(lock, dest, cache, prune=True)

    assert report.removed == ["files/old-0.1-py3-none-any.whl", "simple/old"]
    assert not (dest / "files" / "old-0.1-py3-none-any.whl").exists()
    assert not (dest / "simple" / "old").exists()
    assert wm.sync_directory(lock, dest, cache).extra == []


def test_verify_rehashes_what_the_mirror_holds(lock, wheels, cache, dest):
    wm.sync_directory(lock, dest, cache)
    assert wm.verify_directory(lock, dest).problems == []
    (dest / "files" / wheels[0].filename).write_bytes(b"changed")
    (dest / "files" / wheels[1].filename).unlink()

    problems = wm.verify_directory(lock, dest).problems

    assert len(problems) == 2
    assert f"the lock says {wheels[0].sha256}" in problems[0]
    assert problems[1] == f"files/{wheels[1].filename} is missing"


# ------------------------------------------------------------------ the pages


class Links(HTMLParser):
    """The anchors and the meta tags of a page, as pip's parser reads them."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.meta: dict[str, str] = {}
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "a":
            self.hrefs.append(values["href"])
        elif tag == "meta" and "name" in values:
            self.meta[values["name"]] = values.get("content")


def file_link_targets(page: Path, hrefs: list[str]) -> dict[Path, str]:
    """Where each file link of a page points (resolved as a browser would) and the sha256 it claims."""
    targets = {}
    for href in hrefs:
        url, _, fragment = urljoin(page.as_uri(), href).partition("#")
        algorithm, _, value = fragment.partition("=")
        assert algorithm == "sha256", href
        targets[Path(unquote(urlsplit(url).path))] = value
    return targets


@pytest.mark.parametrize("page", ["simple/index.html", "simple/demo-pkg/index.html", "find-links.html"])
def test_every_page_declares_the_repository_version(lock, cache, dest, page):
    wm.sync_directory(lock, dest, cache)
    assert Links((dest / page).read_text()).meta == {"pypi:repository-version": "1.0"}


def test_the_simple_index_lists_projects_by_their_normalized_names(lock, cache, dest):
    wm.sync_directory(lock, dest, cache)
    assert Links((dest / "simple/index.html").read_text()).hrefs == ["demo-pkg/", "other/"]


@pytest.mark.parametrize("project", ["demo-pkg", "other"])
def test_a_project_page_links_its_files_with_their_hashes(lock, wheels, cache, dest, project):
    wm.sync_directory(lock, dest, cache)
    page = dest / "simple" / project / "index.html"

    targets = file_link_targets(page, Links(page.read_text()).hrefs)

    wheel = next(wheel for wheel in wheels if pylock.normalize(wheel.name) == project)
    assert targets == {dest / "files" / wheel.filename: wheel.sha256}


def test_the_find_links_page_links_every_file_with_its_hash(lock, wheels, cache, dest):
    wm.sync_directory(lock, dest, cache)
    page = dest / "find-links.html"

    targets = file_link_targets(page, Links(page.read_text()).hrefs)

    assert targets == {dest / "files" / wheel.filename: wheel.sha256 for wheel in wheels}


# ------------------------------------------------------------------ pip reads the mirror (subprocess)

runs_pip = pytest.mark.skipif(
    importlib.util.find_spec("pip") is None, reason="runs `python -m pip` in a subprocess; this Python has no pip"
)


def pip_download(lock: pylock.Lock, tmp_path: Path, *source: str) -> subprocess.CompletedProcess:
    """What the server's pip does, as a download: hashes required, wheels only, no configuration of this machine."""
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(pylock.requirements(lock))
    cmd = [
        sys.executable, "-m", "pip", "download", "--isolated", "--disable-pip-version-check", "--no-cache-dir",
        "--no-deps", "--only-binary=:all:", "--require-hashes", *source,
        "--dest", str(tmp_path / "downloaded"), "--requirement", str(requirements),
    ]  # fmt: skip
    env = {**os.environ, "PIP_CONFIG_FILE": os.devnull, "PIP_NO_INPUT": "1"}
    return subprocess.run(cmd, capture_output=True, text=True, check=False, env=env, timeout=PIP_TIMEOUT)


@runs_pip
@pytest.mark.parametrize(
    "layout",
    [
        pytest.param(lambda dest: ["--no-index", "--find-links", (dest / "find-links.html").as_uri()], id="find-links"),
        pytest.param(lambda dest: ["--index-url", (dest / "simple").as_uri()], id="pep503-index"),
    ],
)
def test_pip_downloads_from_the_mirror_with_required_hashes(lock, wheels, cache, dest, tmp_path, layout):
    wm.sync_directory(lock, dest, cache)

    pip = pip_download(lock, tmp_path, *layout(dest))

    assert pip.returncode == 0, pip.stdout + pip.stderr
    assert sorted(path.name for path in (tmp_path / "downloaded").iterdir()) == sorted(w.filename for w in wheels)


@runs_pip
def test_pip_refuses_a_tampered_mirror_file(lock, wheels, cache, dest, tmp_path):
    wm.sync_directory(lock, dest, cache)
    (dest / "files" / wheels[0].filename).write_bytes(b"not the locked wheel")

    pip = pip_download(lock, tmp_path, "--no-index", "--find-links", (dest / "find-links.html").as_uri())

    assert pip.returncode != 0
    assert "DO NOT MATCH THE HASHES" in pip.stderr
    assert wheels[0].sha256 in pip.stderr


# ------------------------------------------------------------------ S3 mirror (moto, in process)


@pytest.fixture
def s3(monkeypatch) -> Iterator:
    """A client of moto's S3 holding an empty mirror bucket; no real AWS settings leak in."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    with mock_aws():
        boto3.client("s3").create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        yield wm.s3_client()


def keys(client) -> list[str]:
    return sorted(item["Key"] for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []))


def test_first_s3_sync_uploads_files_with_their_hash_and_the_pages(s3, lock, wheels, cache):
    report = wm.sync_s3(lock, BUCKET, PREFIX, cache, client=s3)

    assert sorted(report.uploaded) == sorted(wheel.filename for wheel in wheels)
    assert keys(s3) == sorted(
        [f"{PREFIX}/files/{wheel.filename}" for wheel in wheels]
        + [f"{PREFIX}/{page}" for page in ("find-links.html", "simple/index.html")]
        + [f"{PREFIX}/simple/{name}/index.html" for name in ("demo-pkg", "other")]
    )
    head = s3.head_object(Bucket=BUCKET, Key=f"{PREFIX}/files/{wheels[0].filename}")
    assert head["Metadata"] == {"sha256": wheels[0].sha256}
    body = s3.get_object(Bucket=BUCKET, Key=f"{PREFIX}/files/{wheels[0].filename}")["Body"].read()
    assert body == wheels[0].path.read_bytes()
    assert s3.head_object(Bucket=BUCKET, Key=f"{PREFIX}/find-links.html")["ContentType"].startswith("text/html")


def test_second_s3_sync_uploads_nothing(s3, lock, wheels, cache):
    wm.sync_s3(lock, BUCKET, PREFIX, cache, client=s3)

    report = wm.sync_s3(lock, BUCKET, PREFIX, cache, client=s3)

    assert sorted(report.kept) == sorted(wheel.filename for wheel in wheels)
    assert (report.uploaded, report.pages, report.fetched) == ([], [], [])


@pytest.mark.parametrize("metadata", [{"sha256": "2" * 64}, {}], ids=["other-hash-in-metadata", "no-metadata"])
def test_a_tampered_s3_object_stops_the_sync_and_stays(s3, lock, wheels, cache, metadata):
    wm.sync_s3(lock, BUCKET, PREFIX, cache, client=s3)
    key = f"{PREFIX}/files/{wheels[0].filename}"
    s3.put_object(Bucket=BUCKET, Key=key, Body=b"not the locked wheel", Metadata=metadata)

    with pytest.raises(wm.RefusedFile) as refused:
        wm.sync_s3(lock, BUCKET, PREFIX, cache, client=s3)

    assert f"s3://{BUCKET}/{key}" in str(refused.value)
    assert f"the lock says {wheels[0].sha256}" in str(refused.value)
    assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == b"not the locked wheel"


def test_a_missing_bucket_is_named_before_anything_is_fetched(s3, lock, cache):
    with pytest.raises(wm.MirrorError, match=r"the bucket no-such-bucket does not exist: create it"):
        wm.sync_s3(lock, "no-such-bucket", PREFIX, cache, client=s3)

    assert not cache.exists()


def test_an_upload_whose_etag_is_not_our_md5_is_refused(s3, lock, cache, monkeypatch):
    put = s3.put_object
    monkeypatch.setattr(s3, "put_object", lambda **kwargs: {**put(**kwargs), "ETag": '"0123"'})

    with pytest.raises(wm.RefusedFile, match="S3 stored a body whose MD5"):
        wm.sync_s3(lock, BUCKET, PREFIX, cache, client=s3)


def test_s3_extras_are_reported_and_removed_only_with_prune(s3, lock, cache):
    wm.sync_s3(lock, BUCKET, PREFIX, cache, client=s3)
    stale = f"{PREFIX}/files/old-0.1-py3-none-any.whl"
    s3.put_object(Bucket=BUCKET, Key=stale, Body=b"old")

    assert wm.sync_s3(lock, BUCKET, PREFIX, cache, client=s3).extra == [stale]
    assert stale in keys(s3)
    assert wm.sync_s3(lock, BUCKET, PREFIX, cache, client=s3, prune=True).removed == [stale]
    assert stale not in keys(s3)


def test_s3_verify_reads_back_what_the_metadata_vouches_for(s3, lock, wheels, cache):
    wm.sync_s3(lock, BUCKET, PREFIX, cache, client=s3)
    key = f"{PREFIX}/files/{wheels[0].filename}"
    forged = bytes(wheels[0].path.stat().st_size)  # same size, the lock's hash in the metadata, other bytes
    s3.put_object(Bucket=BUCKET, Key=key, Body=forged, Metadata={"sha256": wheels[0].sha256})

    problems = wm.verify_s3(lock, BUCKET, PREFIX, client=s3).problems

    assert problems == [
        wm._tamper_message(f"s3://{BUCKET}/{key}", hashlib.sha256(forged).hexdigest(), wheels[0].sha256)
    ]


# ------------------------------------------------------------------ the lock and the command line


# A hash that is not 64 hex digits, or a file name that is a path, never gets
# this far from a lock file: tools/pylock.py refuses it (tests/unit/test_pylock.py).
def test_a_file_without_a_hash_is_refused():
    url = "https://files.example/x-1-py3-none-any.whl"
    text = f'lock-version = "1.0"\n[[packages]]\nname = "x"\nversion = "1"\nwheels = [{{ url = "{url}" }}]\n'
    with pytest.raises(wm.MirrorError, match="gives no sha256"):
        wm.mirror_files(pylock.loads(text))


def test_a_file_name_that_is_a_path_is_refused_by_the_mirror_too():
    wheel = pylock.LockedFile("../escape.whl", "https://files.example/x/..%2Fescape.whl", "a" * 64)
    lock = pylock.Lock(packages=(pylock.LockedPackage(name="x", version="1", wheels=(wheel,)),))
    with pytest.raises(wm.MirrorError, match="not a file name this mirror can hold"):
        wm.mirror_files(lock)


def test_cli_syncs_twice_and_the_second_time_keeps_everything(tmp_path, lock, cache, dest, capsys):
    argv = ["sync", "--lock", str(tmp_path / "pylock.toml"), "--dest", str(dest), "--cache", str(cache)]
    assert wm.main(argv) == 0
    assert wm.main(argv) == 0
    assert "2 files, 0.0 MB: 2 kept, 0 fetched, 0 uploaded" in capsys.readouterr().out.splitlines()[-1]
    assert wm.main(["verify", "--lock", str(tmp_path / "pylock.toml"), "--dest", str(dest)]) == 0


def test_cli_exits_1_on_a_refused_file(tmp_path, lock, wheels, cache, dest, capsys):
    argv = ["sync", "--lock", str(tmp_path / "pylock.toml"), "--dest", str(dest), "--cache", str(cache)]
    wm.main(argv)
    (dest / "files" / wheels[0].filename).write_bytes(b"changed")

    assert wm.main(argv) == 1
    assert wheels[0].filename in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["sync", "--lock", "no-such-pylock.toml", "--dest", "x"], id="unreadable-lock"),
        pytest.param(["sync", "--lock", "{lock}", "--dest", "s3://no-such-bucket/p"], id="missing-bucket"),
        pytest.param(["sync", "--lock", "{lock}", "--dest", "{dest}", "--endpoint-url", "http://x"], id="endpoint-dir"),
    ],
)
def test_cli_exits_2_on_usage_and_unreachable_destinations(s3, tmp_path, lock, dest, argv, capsys):
    argv = [arg.format(lock=tmp_path / "pylock.toml", dest=dest) for arg in argv]
    assert wm.main(argv) == 2
    assert "wheel-mirror: error:" in capsys.readouterr().err
