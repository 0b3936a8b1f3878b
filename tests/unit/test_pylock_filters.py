"""pylock_requirements and pylock_digest turn the lock into what the server's pip installs and the
name of its environment; pip_hash_mismatches names the files pip refused for their hash."""

import hashlib
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError

from filter_plugins.pylock import FilterModule
from tools import pylock

FILTERS = FilterModule().filters()
pylock_requirements = FILTERS["pylock_requirements"]
pylock_digest = FILTERS["pylock_digest"]
pip_hash_mismatches = FILTERS["pip_hash_mismatches"]

ROOT = Path(__file__).resolve().parents[2]
SMALL = ROOT / "tests" / "data" / "locks" / "small" / "pylock.toml"
SMALL_TEXT = SMALL.read_text()
SIX_HASH = "4721f391ed90541fddacab5acf947aa0d3dc7d27b2e1e8eda2be8970586c3274"
OTHER_HASH = "e05947f470e3b2e4229858f95673fadf5b70ed50ddbe4ca545aea238650a4f5a"
# The small lock's marker, and a crafted one that would add a pip option on a line of its own.
SMALL_MARKER = '''marker = "python_full_version < '3.13'"'''
INJECTED_MARKER = r'''marker = "python_full_version < '3.13'\n--find-links file:///home/ada/x"'''

# What Debian 12's pip (23.0.1) printed in the python_env scenario for a six wheel
# overwritten in the mirror.
PIP_TAMPERED_SIX = f"""\
ERROR: THESE PACKAGES DO NOT MATCH THE HASHES FROM THE REQUIREMENTS FILE. If you have updated the package \
versions, please update the hashes. Otherwise, examine the package contents carefully; someone may have tampered \
with them.
    six==1.17.0 from file:///srv/mirror/files/six-1.17.0-py2.py3-none-any.whl#sha256={SIX_HASH} \
(from -r /opt/analytics-env/envs/0123/requirements.txt (line 3)):
        Expected sha256 {SIX_HASH}
             Got        {OTHER_HASH}
"""


def test_requirements_are_the_lock_as_tools_pylock_reads_it():
    assert pylock_requirements(SMALL_TEXT) == pylock.requirements(pylock.load(SMALL))


def test_requirements_pin_every_package_with_its_hash_and_keep_markers_normalised():
    lines = pylock_requirements(SMALL_TEXT).splitlines()
    assert [line.split("==")[0] for line in lines] == ["exceptiongroup", "idna", "six", "typing-extensions"]
    assert f"six==1.17.0 --hash=sha256:{SIX_HASH}" in lines
    # The lock says python_full_version < '3.13': the marker is parsed and written as packaging writes it.
    assert any(line.startswith('typing-extensions==4.16.0 ; python_full_version < "3.13" --hash=') for line in lines)


def test_digest_is_the_sha256_of_the_requirements():
    expected = hashlib.sha256(pylock_requirements(SMALL_TEXT).encode()).hexdigest()
    assert pylock_digest(SMALL_TEXT) == expected


def test_comment_header_does_not_change_the_digest():
    relocked = SMALL_TEXT.replace("# Cooldown: 7 days", "# Cooldown: 3 days") + "# regenerated\n"
    assert relocked != SMALL_TEXT
    assert pylock_digest(relocked) == pylock_digest(SMALL_TEXT)


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda text: text.replace(SIX_HASH, OTHER_HASH), id="another hash"),
        pytest.param(lambda text: text.replace('version = "1.17.0"', 'version = "1.16.0"'), id="another version"),
        pytest.param(lambda text: "[[packages]]".join(text.split("[[packages]]")[:-1]), id="a package fewer"),
    ],
)
def test_what_pip_installs_changes_the_digest(change):
    assert pylock_digest(change(SMALL_TEXT)) != pylock_digest(SMALL_TEXT)


@pytest.mark.parametrize("name", ["pylock_requirements", "pylock_digest"])
@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("packages = [", "/srv/locks/pylock.toml is not valid TOML", id="bad TOML"),
        pytest.param('lock-version = "1.0"\n', "has no [[packages]] entries", id="no packages table"),
        pytest.param('lock-version = "1.0"\npackages = []\n', "lists no packages", id="no packages"),
        pytest.param(
            '[[packages]]\nname = "six"\nversion = "1.17.0"\n'
            'sdist = { url = "https://example.org/six-1.17.0.tar.gz", hashes = { sha256 = "' + SIX_HASH + '" } }\n',
            "gives no wheel with a sha256 for six",
            id="sdist only",
        ),
        pytest.param(
            '[[packages]]\nname = "six"\nversion = "1.17.0"\n'
            'wheels = [{ url = "https://example.org/six-1.17.0-py3-none-any.whl" }]\n',
            "gives no wheel with a sha256 for six",
            id="wheel without hash",
        ),
        pytest.param(
            SMALL_TEXT.replace(SMALL_MARKER, INJECTED_MARKER),
            r"""typing-extensions: marker "python_full_version < '3.13'\n--find-links file:///home/ada/x" is not""",
            id="marker with pip options",
        ),
    ],
)
def test_a_lock_pip_cannot_install_is_refused_naming_the_lock(name, text, message):
    with pytest.raises(AnsibleFilterError, match=name) as error:
        FILTERS[name](text, "/srv/locks/pylock.toml")
    assert message in str(error.value)


@pytest.mark.parametrize("name", ["pylock_requirements", "pylock_digest"])
def test_anything_but_text_is_refused(name):
    with pytest.raises(AnsibleFilterError, match=r"expected the text of a pylock\.toml, got dict"):
        FILTERS[name]({"packages": []})


def test_hash_mismatch_names_the_file_and_both_hashes():
    assert pip_hash_mismatches(PIP_TAMPERED_SIX) == [
        {
            "requirement": "six==1.17.0",
            "url": "file:///srv/mirror/files/six-1.17.0-py2.py3-none-any.whl",
            "file": "six-1.17.0-py2.py3-none-any.whl",
            "expected": [SIX_HASH],
            "got": OTHER_HASH,
        }
    ]


def test_every_refused_file_is_listed_with_all_its_allowed_hashes():
    output = (
        "Processing /srv/mirror/files/idna-3.20-py3-none-any.whl\n"
        "ERROR: THESE PACKAGES DO NOT MATCH THE HASHES FROM THE REQUIREMENTS FILE. Otherwise, ...\n"
        "    idna==3.20 from http://198.18.1.30:8080/files/idna-3.20-py3-none-any.whl (from -r r.txt (line 2)):\n"
        f"        Expected sha256 {SIX_HASH}\n"
        f"             or {'a' * 64}\n"
        f"        Expected     or {'b' * 64}\n"
        f"             Got        {OTHER_HASH}\n"
        "\n"
        "    six==1.17.0 from http://198.18.1.30:8080/files/six-1.17.0-py2.py3-none-any.whl (from -r r.txt (line 3)):\n"
        f"        Expected sha256 {SIX_HASH}\n"
        f"             Got        {'c' * 64}\n"
        "\n"
        "WARNING: something pip says afterwards\n"
        "    not-a-package==1 from here:\n"
    )
    found = pip_hash_mismatches(output)
    assert [(item["file"], item["got"]) for item in found] == [
        ("idna-3.20-py3-none-any.whl", OTHER_HASH),
        ("six-1.17.0-py2.py3-none-any.whl", "c" * 64),
    ]
    assert found[0]["expected"] == [SIX_HASH, "a" * 64, "b" * 64]


def test_other_pip_errors_are_no_hash_mismatch():
    output = (
        "ERROR: Could not find a version that satisfies the requirement six==1.17.0 (from versions: none)\n"
        "ERROR: No matching distribution found for six==1.17.0\n"
    )
    assert pip_hash_mismatches(output) == []


def test_pip_output_must_be_text():
    with pytest.raises(AnsibleFilterError, match="pip_hash_mismatches: expected pip's output as text"):
        pip_hash_mismatches(None)
