"""tools/pylock.py: every field of the lock is parsed when it is read, so no text of it reaches pip unparsed.

A crafted entry (a marker, version or name carrying pip options, a short or non-hex hash, a URL
with white space or without an https host) is refused at load time, with a message that names
the package, the field, the bad value and the fix.
"""

import re

import pytest

from tools import pylock

SHA = "ab" * 32
URL = "https://files.pythonhosted.org/packages/ab/cd/six-1.17.0-py2.py3-none-any.whl"


def lock_text(name: str = '"six"', version: str = '"1.17.0"', marker: str | None = None, **file: str) -> str:
    """A one-package lock as uv writes it; each argument is the TOML value of its field, as written."""
    fields = {"url": f'"{URL}"', "size": "11050", "hashes": f'{{ sha256 = "{SHA}" }}'} | file
    wheel = "{ " + ", ".join(f"{key} = {value}" for key, value in fields.items()) + " }"
    lines = ['lock-version = "1.0"', 'created-by = "uv"', "", "[[packages]]", f"name = {name}", f"version = {version}"]
    lines += [f"marker = {marker}"] if marker is not None else []
    lines.append(f"wheels = [{wheel}]")
    return "\n".join(lines) + "\n"


def test_a_lock_as_uv_writes_it_loads():
    lock = pylock.loads(lock_text(marker="\"python_full_version < '3.13'\""))
    (package,) = lock.packages
    assert (package.key, package.version, package.marker) == ("six", "1.17.0", "python_full_version < '3.13'")
    assert [(wheel.filename, wheel.url, wheel.sha256) for wheel in package.wheels] == [
        ("six-1.17.0-py2.py3-none-any.whl", URL, SHA)
    ]


def test_requirements_render_the_parsed_version_and_marker():
    lock = pylock.loads(lock_text(version='"v1.17.00"', marker="\"python_full_version<'3.13'\""))
    assert pylock.requirements(lock) == f'six==1.17.0 ; python_full_version < "3.13" --hash=sha256:{SHA}\n'


def test_an_uppercase_hash_is_kept_lowercase():
    lock = pylock.loads(lock_text(hashes=f'{{ sha256 = "{SHA.upper()}" }}'))
    assert lock.packages[0].wheels[0].sha256 == SHA


INJECTIONS = [
    pytest.param(
        {"marker": '"python_version > \\"0\\"\\n--find-links file:///home/ada/x"'},
        "marker",
        'python_version > "0"\n--find-links file:///home/ada/x',
        id="marker-newline-find-links",
    ),
    pytest.param({"marker": '""'}, "marker", "", id="empty-marker"),
    pytest.param(
        {"version": '"1.0 --index-url http://evil"'}, "version", "1.0 --index-url http://evil", id="version-option"
    ),
    pytest.param({"version": "1"}, "version", 1, id="version-not-a-string"),
    pytest.param({"name": '"six --index-url"'}, "name", "six --index-url", id="name-with-space"),
    pytest.param({"name": '"six\\n"'}, "name", "six\n", id="name-with-final-newline"),
    pytest.param({"name": '"-six"'}, "name", "-six", id="name-starting-with-dash"),
    pytest.param({"hashes": f'{{ sha256 = "{SHA[:63]}" }}'}, "hashes.sha256", SHA[:63], id="hash-of-63-digits"),
    pytest.param({"hashes": f'{{ sha256 = "{SHA[:63]}g" }}'}, "hashes.sha256", f"{SHA[:63]}g", id="hash-not-hex"),
    pytest.param({"hashes": '{ sha256 = "" }'}, "hashes.sha256", "", id="empty-hash"),
    pytest.param({"url": f'"{URL} --index-url"'}, "url", f"{URL} --index-url", id="url-with-space"),
    pytest.param({"url": f'"{URL}\\n"'}, "url", f"{URL}\n", id="url-with-newline"),
    pytest.param({"url": '"file:///home/ada/x.whl"'}, "url", "file:///home/ada/x.whl", id="url-file-scheme"),
    pytest.param({"url": '"https:///x.whl"'}, "url", "https:///x.whl", id="url-without-host"),
    pytest.param({"url": '"https://host:port/x.whl"'}, "url", "https://host:port/x.whl", id="url-bad-port"),
    pytest.param(
        {"url": '"https://files.pythonhosted.org/six%0A-1.17.0-py3-none-any.whl"'},
        "file name",
        "six\n-1.17.0-py3-none-any.whl",
        id="file-name-with-newline",
    ),
    pytest.param(
        {"url": '"https://files.pythonhosted.org/x/..%2F..%2Fsix-1.17.0-py3-none-any.whl"'},
        "file name",
        "../../six-1.17.0-py3-none-any.whl",
        id="file-name-that-is-a-path",
    ),
    pytest.param({"size": "-1"}, "size", -1, id="negative-size"),
]


@pytest.mark.parametrize(("fields", "field", "value"), INJECTIONS)
def test_a_field_that_does_not_parse_is_refused_naming_package_field_value_and_fix(fields, field, value):
    with pytest.raises(pylock.LockError) as refused:
        pylock.loads(lock_text(**fields), source="python-env/pylock.toml")
    message = str(refused.value)
    assert message.startswith("python-env/pylock.toml, ")
    assert f": {field} {value!r} " in message
    assert message.endswith(f"Fix: {pylock.FIX}")


def test_a_bad_name_is_refused_by_its_place_in_the_lock():
    with pytest.raises(pylock.LockError, match=re.escape("lock, package #1: name 'six --index-url' is not a")):
        pylock.loads(lock_text(name='"six --index-url"'))


def test_a_package_with_wheels_but_no_version_is_refused():
    text = lock_text().replace('version = "1.17.0"\n', "")
    with pytest.raises(pylock.LockError, match="lock, six: version is missing, and a package with wheels must pin one"):
        pylock.loads(text)
