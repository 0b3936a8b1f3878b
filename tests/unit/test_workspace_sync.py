"""The workspace sync of roles/workspace_sync: its decision on constructed inputs, its
configuration checks, and whole runs against moto's S3 (in-process, no network).

The script is imported by path (it is installed on the server, not a package here).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
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


def md5_never(path: str) -> str:
    raise AssertionError(f"read {path} although stat decided")


def test_a_file_missing_from_the_bucket_is_uploaded():
    todo = ws.plan({"k": FILE}, {}, {}, ["k"], delete_remote=False, md5=md5_never)
    assert todo.upload == ["k"]


def test_a_file_of_another_size_is_uploaded_even_when_the_state_says_it_was():
    todo = ws.plan({"k": FILE}, {"k": ws.RemoteObject(9, '"x"')}, {"k": [10, 1_000]}, [], False, md5_never)
    assert todo.upload == ["k"]


def test_a_recorded_file_is_unchanged_without_being_read():
    todo = ws.plan({"k": FILE}, {"k": ws.RemoteObject(10, '"x"')}, {"k": [10, 1_000]}, [], False, md5_never)
    assert (todo.upload, todo.unchanged) == ([], ["k"])


def test_an_unrecorded_file_is_compared_by_md5_with_the_etag():
    same = ws.plan({"k": FILE}, {"k": ws.RemoteObject(10, '"' + "a" * 32 + '"')}, {}, [], False, lambda _: "a" * 32)
    assert (same.upload, same.unchanged, list(same.confirmed)) == ([], ["k"], ["k"])
    touched = ws.plan(
        {"k": FILE}, {"k": ws.RemoteObject(10, '"' + "a" * 32 + '"')}, {"k": [10, 5]}, [], False, lambda _: "b" * 32
    )
    assert touched.upload == ["k"]


def test_a_multipart_etag_cannot_vouch_for_a_file():
    todo = ws.plan({"k": FILE}, {"k": ws.RemoteObject(10, '"' + "a" * 32 + '-3"')}, {}, [], False, md5_never)
    assert todo.upload == ["k"]


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


def test_md5_matches_hashlib(tmp_path):
    path = write(tmp_path / "f", "content")
    assert ws.md5_of(str(path)) == hashlib.md5(b"content").hexdigest()  # S3's ETag is an MD5
