"""The workspace sync of roles/workspace_sync: its decision on constructed inputs, its
configuration checks, and whole runs against moto's S3 (in-process, no network).

The script is imported by path (it is installed on the server, not a package here).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import signal
import socket
import sys
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "roles" / "workspace_sync" / "files" / "workspace_sync.py"

spec = importlib.util.spec_from_file_location("workspace_sync", SCRIPT)
ws = importlib.util.module_from_spec(spec)
sys.modules["workspace_sync"] = ws  # dataclasses look their module up while the class is built
spec.loader.exec_module(ws)

BUCKET = "team-workspace"
PREFIX = "analytics-server"


def settings(tmp_path: Path, **changes) -> dict:
    base = {
        "bucket": BUCKET,
        "prefix": PREFIX,
        "region": "eu-west-1",
        "endpoint_url": None,
        "folders": [str(tmp_path / "home" / "*" / "work")],
        "exclude": ["__pycache__", "*.pyc", ".venv"],
        "delete_remote": False,
        "server_side_encryption": "AES256",
        "state_file": str(tmp_path / "state.json"),
        "timeout_seconds": 5,
        "max_attempts": 2,
    }
    return base | changes


def config(tmp_path: Path, **changes):
    return ws.load_config(json.dumps(settings(tmp_path, **changes)))


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# ----------------------------------------------------------------------------- the decision

FILE = ws.LocalFile("/home/ada/work/a.py", 10, 1_000)


def test_a_file_missing_from_the_bucket_is_uploaded():
    todo = ws.plan({"k": FILE}, {}, {}, ["k"], delete_remote=False)
    assert (todo.upload, todo.compare) == (["k"], {})


def test_a_file_of_another_size_is_uploaded_even_when_the_state_says_it_was():
    todo = ws.plan({"k": FILE}, {"k": ws.RemoteObject(9, '"x"')}, {"k": [10, 1_000]}, [], False)
    assert (todo.upload, todo.compare) == (["k"], {})


def test_a_recorded_file_is_unchanged_without_being_read():
    todo = ws.plan({"k": FILE}, {"k": ws.RemoteObject(10, '"x"')}, {"k": [10, 1_000]}, [], False)
    assert (todo.upload, todo.unchanged, todo.compare) == ([], ["k"], {})


def test_an_unrecorded_file_is_left_to_a_comparison_of_its_md5_with_the_etag():
    etag = '"' + "a" * 32 + '"'
    unrecorded = ws.plan({"k": FILE}, {"k": ws.RemoteObject(10, etag)}, {}, [], False)
    touched = ws.plan({"k": FILE}, {"k": ws.RemoteObject(10, etag)}, {"k": [10, 5]}, [], False)
    assert (unrecorded.upload, unrecorded.unchanged, unrecorded.compare) == ([], [], {"k": "a" * 32})
    assert (touched.upload, touched.unchanged, touched.compare) == ([], [], {"k": "a" * 32})


def test_a_multipart_etag_cannot_vouch_for_a_file():
    todo = ws.plan({"k": FILE}, {"k": ws.RemoteObject(10, '"' + "a" * 32 + '-3"')}, {}, [], False)
    assert (todo.upload, todo.compare) == (["k"], {})


def test_objects_of_files_gone_here_are_kept_unless_deletion_was_asked():
    remote = {"p/home/ada/work/old.csv": ws.RemoteObject(1, '"x"'), "p/elsewhere/x": ws.RemoteObject(1, '"x"')}
    kept = ws.plan({}, remote, {}, ["p/home/ada/work/"], delete_remote=False)
    assert (kept.delete, kept.kept_remote) == ([], ["p/home/ada/work/old.csv"])
    deleted = ws.plan({}, remote, {}, ["p/home/ada/work/"], delete_remote=True)
    # Only under the folders walked: a folder that is not there now loses nothing.
    assert deleted.delete == ["p/home/ada/work/old.csv"]


# ----------------------------------------------------------------------------- configuration


def test_the_configuration_written_by_the_role_is_accepted(tmp_path):
    loaded = config(tmp_path, prefix="/analytics-server/")
    assert loaded.prefix == "analytics-server"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"bucket": ""}, "bucket must be a bucket name"),
        ({"bucket": "s3://team"}, "bucket must be a bucket name"),
        ({"prefix": "/"}, "prefix must not be empty"),
        ({"folders": []}, "folders must be absolute"),
        ({"folders": ["work"]}, "folders must be absolute"),
        ({"folders": ["/"]}, "folders must be absolute"),
        ({"exclude": ["a/b"]}, "exclude holds name patterns"),
        ({"server_side_encryption": "DES"}, "server_side_encryption must be one of"),
        ({"delete_remote": "yes"}, "delete_remote has the wrong type"),
        ({"max_attempts": 0}, "max_attempts 1 to 10"),
        ({"surprise": 1}, "unknown keys ['surprise']"),
    ],
)
def test_a_bad_configuration_is_refused_with_the_reason(tmp_path, change, message):
    with pytest.raises(ws.ConfigError, match=None) as err:
        ws.load_config(json.dumps(settings(tmp_path, **change)), "config.json")
    assert message in str(err.value)


def test_check_config_names_the_destination_and_refuses_bad_json(tmp_path, capsys):
    good = write(tmp_path / "good.json", json.dumps(settings(tmp_path)))
    assert ws.main(["--check-config", str(good)]) == 0
    assert f"s3://{BUCKET}/{PREFIX}/" in capsys.readouterr().out
    bad = write(tmp_path / "bad.json", "{")
    assert ws.main(["--check-config", str(bad)]) == 2
    assert "is not valid JSON" in capsys.readouterr().err


# ----------------------------------------------------------------------------- runs against moto


@pytest.fixture
def s3():
    with mock_aws():
        os.environ.update(AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test")
        client = boto3.client("s3", region_name="eu-west-1")
        client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        yield client


def objects(client) -> dict[str, bytes]:
    listing = client.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    return {item["Key"]: client.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read() for item in listing}


def run(tmp_path, client, capsys, **changes) -> tuple[int, str]:
    code = ws.sync(config(tmp_path, **changes), client)
    return code, capsys.readouterr().out


def test_a_first_run_copies_every_file_but_excluded_ones_and_links(tmp_path, s3, capsys):
    work = tmp_path / "home" / "ada" / "work"
    write(work / "model.py", "print('fit')\n")
    write(work / "out" / "result.csv", "a,b\n1,2\n")
    write(work / "__pycache__" / "model.cpython-311.pyc", "x")
    write(work / "stale.pyc", "x")
    (work / "link").symlink_to("/etc/hostname")
    write(tmp_path / "home" / "bob" / "notes.txt", "not in a work folder")

    code, out = run(tmp_path, s3, capsys)

    base = f"{PREFIX}{tmp_path}/home/ada/work"
    assert objects(s3) == {f"{base}/model.py": b"print('fit')\n", f"{base}/out/result.csv": b"a,b\n1,2\n"}
    assert code == 0
    assert "done: uploaded 2 files" in out
    head = s3.head_object(Bucket=BUCKET, Key=f"{base}/model.py")
    assert head["ServerSideEncryption"] == "AES256"


def test_a_second_run_uploads_only_what_changed(tmp_path, s3, capsys):
    work = tmp_path / "home" / "ada" / "work"
    write(work / "a.py", "one")
    write(work / "b.py", "two")
    assert run(tmp_path, s3, capsys)[0] == 0

    write(work / "b.py", "three")  # another size
    code, out = run(tmp_path, s3, capsys)

    assert code == 0
    assert "uploaded 1 files" in out and "1 unchanged" in out
    assert objects(s3)[f"{PREFIX}{work}/b.py"] == b"three"


def test_a_lost_state_costs_a_read_but_no_upload(tmp_path, s3, capsys):
    work = tmp_path / "home" / "ada" / "work"
    write(work / "a.py", "one")
    run(tmp_path, s3, capsys)
    (tmp_path / "state.json").unlink()
    code, out = run(tmp_path, s3, capsys)
    assert code == 0 and "uploaded 0 files" in out and "1 unchanged" in out
    assert json.loads((tmp_path / "state.json").read_text())["uploaded"]  # recorded again


def test_nothing_is_deleted_in_the_bucket_unless_asked(tmp_path, s3, capsys):
    work = tmp_path / "home" / "ada" / "work"
    write(work / "a.py", "one")
    write(work / "b.py", "two")
    run(tmp_path, s3, capsys)
    (work / "b.py").unlink()

    code, out = run(tmp_path, s3, capsys)
    assert code == 0 and "1 kept in the bucket though gone here" in out
    assert f"{PREFIX}{work}/b.py" in objects(s3)

    code, out = run(tmp_path, s3, capsys, delete_remote=True)
    assert code == 0 and "1 deleted" in out
    assert list(objects(s3)) == [f"{PREFIX}{work}/a.py"]


def test_a_file_that_cannot_be_read_is_named_and_the_others_still_go(tmp_path, s3, capsys):
    work = tmp_path / "home" / "ada" / "work"
    write(work / "a.py", "one")
    gone = write(work / "scratch.tmp", "x")
    loaded = config(tmp_path)
    found = ws.walk(loaded)
    gone.unlink()  # removed between the walk and its upload
    todo = ws.plan(found.files, {}, {}, found.roots, delete_remote=False)
    state: dict[str, list[int]] = {}

    outcome = ws.apply(s3, loaded, found.files, todo, state)

    assert outcome.uploaded == 1
    assert [problem.split(":")[0] for problem in outcome.failed] == [str(gone)]
    assert list(state) == [f"{PREFIX}{work}/a.py"]  # the failed file is not recorded as copied


def test_a_missing_bucket_stops_the_run_with_the_fix(tmp_path, s3, capsys):
    write(tmp_path / "home" / "ada" / "work" / "a.py", "one")
    with pytest.raises(ws.ConfigError) as err:
        ws.sync(config(tmp_path, bucket="no-such-bucket"), s3)
    assert "s3://no-such-bucket does not exist: create the bucket, or correct workspace_sync_bucket" in str(err.value)
    assert not (tmp_path / "state.json").exists()


def test_main_reports_a_missing_bucket_with_exit_status_2(tmp_path, s3, capsys):
    path = write(tmp_path / "config.json", json.dumps(settings(tmp_path, bucket="no-such-bucket")))
    assert ws.main(["--config", str(path)]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_md5_matches_hashlib_and_reads_only_the_size_given(tmp_path):
    path = write(tmp_path / "f", "content")
    fd = os.open(path, os.O_RDONLY)
    try:
        assert ws.md5_of(ws.FirstBytes(fd, 7)) == hashlib.md5(b"content").hexdigest()  # S3's ETag is an MD5
        with path.open("ab") as grown:
            grown.write(b" and more")
        assert ws.md5_of(ws.FirstBytes(fd, 7)) == hashlib.md5(b"content").hexdigest()
    finally:
        os.close(fd)


def test_a_file_changed_in_place_is_uploaded_when_its_md5_differs(tmp_path, s3, capsys):
    work = tmp_path / "home" / "ada" / "work"
    write(work / "a.py", "one")
    run(tmp_path, s3, capsys)
    (tmp_path / "state.json").unlink()
    write(work / "a.py", "two")  # the same size: only the MD5 tells
    code, out = run(tmp_path, s3, capsys)
    assert code == 0 and "uploaded 1 files" in out and "0 unchanged" in out
    assert objects(s3)[f"{PREFIX}{work}/a.py"] == b"two"


# ----------------------------------------------------------------------------- what an analyst may swap
# An analyst owns her ~/work and everything in it, and may swap any name in it at any moment.
# The copy reads as an account that may read every file, so it must copy only what is hers.

SECRET = "host key\n"


@pytest.fixture
def deadline():
    """A copy that blocks (opening a FIFO, say) fails the test after 10 s instead of hanging the suite."""

    def expired(signum, frame):
        raise TimeoutError("the copy blocked")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, 10)
    yield
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, previous)


def make_socket(path: Path) -> None:
    """A UNIX socket at path, bound by its relative name (a socket's path is limited to 108 bytes)."""
    with contextlib.chdir(path.parent), socket.socket(socket.AF_UNIX) as sock:
        sock.bind(path.name)


def away(path: Path, tmp_path: Path) -> Path:
    """path moved out of the copied folders (so that the walk cannot meet it elsewhere)."""
    return path.rename(tmp_path / f"moved-{path.name}")


def test_fifos_sockets_and_links_in_the_folder_are_left_out_without_holding_the_run(tmp_path, s3, capsys, deadline):
    work = tmp_path / "home" / "ada" / "work"
    write(work / "a.py", "one")
    os.mkfifo(work / "pipe")
    make_socket(work / "sock")
    (work / "key").symlink_to(write(tmp_path / "etc" / "host_key", SECRET))
    (work / "etc").symlink_to(tmp_path / "etc")

    code, out = run(tmp_path, s3, capsys)

    assert objects(s3) == {f"{PREFIX}{work}/a.py": b"one"}
    assert code == 0 and "uploaded 1 files" in out


def test_a_copied_folder_that_is_a_link_or_under_one_is_skipped_with_a_line(tmp_path, s3, capsys):
    home = tmp_path / "home"
    write(home / "ada" / "work" / "a.py", "one")
    write(tmp_path / "etc" / "host_key", SECRET)
    write(tmp_path / "elsewhere" / "work" / "host_key", SECRET)
    (home / "bob").mkdir()
    (home / "bob" / "work").symlink_to(tmp_path / "etc")  # bob's own name, which he may swap
    (home / "cy").symlink_to(tmp_path / "elsewhere")  # a name in /home, root's in production

    code, out = run(tmp_path, s3, capsys)

    assert list(objects(s3)) == [f"{PREFIX}{home}/ada/work/a.py"]
    assert f"workspace-sync: skipped: {home}/bob/work: a symbolic link, not followed\n" in out
    assert f"skipped: {home}/cy/work: on its path, {home}/cy is a symbolic link, not followed\n" in out
    assert code == 0 and "done: uploaded 1 files" in out and ", 2 skipped, 0 failed" in out


def swap_file_for_link(work: Path, tmp_path: Path) -> None:
    (work / "sub" / "data.csv").unlink()
    (work / "sub" / "data.csv").symlink_to(tmp_path / "etc" / "data.csv")


def swap_file_for_fifo(work: Path, tmp_path: Path) -> None:
    (work / "sub" / "data.csv").unlink()
    os.mkfifo(work / "sub" / "data.csv")


def swap_file_for_socket(work: Path, tmp_path: Path) -> None:
    (work / "sub" / "data.csv").unlink()
    make_socket(work / "sub" / "data.csv")


def swap_file_for_another(work: Path, tmp_path: Path) -> None:
    write(work / "sub" / "new.csv", "other content").replace(work / "sub" / "data.csv")


def swap_file_for_hard_link(work: Path, tmp_path: Path) -> None:
    (work / "sub" / "data.csv").unlink()
    (work / "sub" / "data.csv").hardlink_to(tmp_path / "etc" / "data.csv")


def swap_folder_for_link(work: Path, tmp_path: Path) -> None:
    away(work / "sub", tmp_path)
    (work / "sub").symlink_to(tmp_path / "etc")


def swap_folder_for_another(work: Path, tmp_path: Path) -> None:
    away(work / "sub", tmp_path)
    write(work / "sub" / "data.csv", "other content")


def swap_work_for_link(work: Path, tmp_path: Path) -> None:
    away(work, tmp_path)
    work.symlink_to(tmp_path / "etc" / "work")


def swap_home_for_link(work: Path, tmp_path: Path) -> None:
    away(work.parent, tmp_path)
    work.parent.symlink_to(tmp_path / "etc" / "home")


@pytest.mark.parametrize(
    ("swap", "reason"),
    [
        (swap_file_for_link, "a symbolic link, not followed"),
        (swap_file_for_fifo, "not a regular file"),
        (swap_file_for_socket, "not a regular file"),
        (swap_file_for_another, "replaced since the walk"),
        (swap_file_for_hard_link, "replaced since the walk"),
        (swap_folder_for_link, "a symbolic link, not followed"),
        (swap_folder_for_another, "replaced since the walk"),
        (swap_work_for_link, "a symbolic link, not followed"),
        (swap_home_for_link, "on its path, {home} is a symbolic link, not followed"),
    ],
)
def test_a_name_swapped_between_the_walk_and_the_upload_is_skipped(tmp_path, s3, deadline, swap, reason):
    work = tmp_path / "home" / "ada" / "work"
    write(work / "sub" / "data.csv", "mine")
    # Outside the folder, where each swap points: what a real copy would find in /etc or /root.
    for outside in ("data.csv", "sub/data.csv", "work/sub/data.csv", "home/work/sub/data.csv"):
        write(tmp_path / "etc" / outside, SECRET)
    loaded = config(tmp_path)
    found = ws.walk(loaded)
    assert list(found.files) == [f"{PREFIX}{work}/sub/data.csv"]

    swap(work, tmp_path)
    todo = ws.plan(found.files, {}, {}, found.roots, delete_remote=False)
    state: dict[str, list[int]] = {}
    outcome = ws.apply(s3, loaded, found.files, todo, state)

    assert objects(s3) == {}
    assert outcome.skipped == [f"{work}/sub/data.csv: {reason.format(home=work.parent)}"]
    assert (outcome.uploaded, outcome.failed, state) == (0, [], {})


@pytest.mark.parametrize(
    ("swap", "reason"),
    [(swap_folder_for_link, "a symbolic link, not followed"), (swap_folder_for_another, "replaced since the walk")],
)
def test_a_folder_swapped_while_the_walk_looks_at_it_is_not_entered(tmp_path, swap, reason):
    work = tmp_path / "home" / "ada" / "work"
    write(work / "a.py", "one")
    write(work / "sub" / "data.csv", "mine")
    write(tmp_path / "etc" / "data.csv", SECRET)

    def before_open(path: str) -> None:
        if path == f"{work}/sub":  # listed and looked at (lstat), not yet opened
            swap(work, tmp_path)

    found = ws.walk(config(tmp_path), before_open=before_open)

    assert list(found.files) == [f"{PREFIX}{work}/a.py"]
    assert found.skipped == [f"{work}/sub: {reason}"]
    assert found.problems == []


def test_folders_deeper_than_the_limit_are_skipped_with_a_line(tmp_path, monkeypatch):
    monkeypatch.setattr(ws, "MAX_DEPTH", 2)
    work = tmp_path / "home" / "ada" / "work"
    write(work / "a" / "b" / "kept.txt", "x")
    write(work / "a" / "b" / "c" / "deep.txt", "x")
    found = ws.walk(config(tmp_path))
    assert list(found.files) == [f"{PREFIX}{work}/a/b/kept.txt"]
    assert found.skipped == [f"{work}/a/b/c: more than 2 folders deep"]


class GrowingWhileRead:
    """An S3 client whose uploads find the file grown since it was opened."""

    def __init__(self, client, path: Path) -> None:
        self._client, self._path = client, path

    def __getattr__(self, name: str):
        return getattr(self._client, name)

    def upload_fileobj(self, fileobj, *args, **kwargs):
        with self._path.open("ab") as log:
            log.write(b" and more")
        return self._client.upload_fileobj(fileobj, *args, **kwargs)


def test_a_file_growing_while_read_is_copied_to_its_size_at_open_and_again_next_run(tmp_path, s3, capsys):
    work = tmp_path / "home" / "ada" / "work"
    log = write(work / "run.log", "started")

    code, out = ws.sync(config(tmp_path), GrowingWhileRead(s3, log)), capsys.readouterr().out

    assert objects(s3) == {f"{PREFIX}{log}": b"started"}  # no more than fstat gave at the open
    assert f"workspace-sync: changed while it was read, copied again next run: {log}\n" in out
    assert code == 0 and json.loads((tmp_path / "state.json").read_text())["uploaded"] == {}
    code, out = run(tmp_path, s3, capsys)
    assert objects(s3) == {f"{PREFIX}{log}": b"started and more"}
    assert code == 0 and "uploaded 1 files" in out


def test_a_file_above_the_multipart_threshold_is_copied_whole(tmp_path, s3, capsys):
    work = tmp_path / "home" / "ada" / "work"
    content = os.urandom(9 * 1024 * 1024)  # s3transfer uploads in parts from 8 MiB, reading the file its own way
    (work / "big.bin").parent.mkdir(parents=True)
    (work / "big.bin").write_bytes(content)
    code, out = run(tmp_path, s3, capsys)
    assert code == 0 and "uploaded 1 files (9.0 MiB)" in out
    assert objects(s3) == {f"{PREFIX}{work}/big.bin": content}
