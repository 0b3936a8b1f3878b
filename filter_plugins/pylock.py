"""Filters for the python_env role: the analysts' lock as pip requirements, its digest, pip's hash errors.

- ``pylock_requirements``: the text of a PEP 751 ``pylock.toml`` as the pip requirements file
  the server installs with ``--require-hashes``: one pinned line per package with its wheels'
  hashes (``tools.pylock.requirements``, the same function the review tools use).
- ``pylock_digest``: the sha256 of those requirements. It names the environment on the server,
  so an environment is built once per set of pinned files; the lock's comment header and
  anything else that does not change what pip installs leave it unchanged.
- ``pip_hash_mismatches``: the files pip refused because their hash is not the lock's, read
  from pip's "THESE PACKAGES DO NOT MATCH THE HASHES" report, so the role can name them.
"""

from __future__ import annotations

import hashlib
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from ansible.errors import AnsibleFilterError

# The lock reader lives in tools/ at the repository root (the parent of this file's
# folder), shared with the lock's review tools; Ansible loads this file by path, so
# the root is not on sys.path unless we put it there.
_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from tools import pylock  # noqa: E402

MISMATCH_HEAD = "THESE PACKAGES DO NOT MATCH THE HASHES"
# "    six==1.17.0 from file:///srv/mirror/files/six-1.17.0-py2.py3-none-any.whl#sha256=... (from -r ...):"
MISMATCH_REQUIREMENT = re.compile(r"^ {4}(?P<requirement>\S+)(?: from (?P<url>\S+))?.*:\s*$")
# "        Expected sha256 <hex>", "             or <hex>" and "             Got        <hex>"
MISMATCH_EXPECTED = re.compile(r"^\s+Expected\s+(?:sha256|\s*or)\s+(?P<hash>[0-9a-f]{64})\s*$")
MISMATCH_OR = re.compile(r"^\s+or\s+(?P<hash>[0-9a-f]{64})\s*$")
MISMATCH_GOT = re.compile(r"^\s+Got\s+(?P<hash>[0-9a-f]{64})\s*$")


def _lock(text: Any, source: Any, name: str) -> pylock.Lock:
    if not isinstance(text, str):
        raise AnsibleFilterError(f"{name}: expected the text of a pylock.toml, got {type(text).__name__}")
    where = str(source) if source else "the lock"
    try:
        lock = pylock.loads(text, source=where)
    except pylock.LockError as error:
        raise AnsibleFilterError(f"{name}: {error}") from None
    if not lock.packages:
        raise AnsibleFilterError(f"{name}: {where} lists no packages; there is nothing to install")
    unhashed = sorted(p.name for p in lock.packages if not any(wheel.sha256 for wheel in p.wheels))
    if unhashed:
        raise AnsibleFilterError(
            f"{name}: {where} gives no wheel with a sha256 for {', '.join(unhashed)}; the server installs "
            "hashed wheels only (regenerate the lock with `make lock`)"
        )
    return lock


def pylock_requirements(text: Any, source: Any = None) -> str:
    """The lock's text as pip requirements with hashes; ``source`` names the lock in errors."""
    return pylock.requirements(_lock(text, source, "pylock_requirements"))


def pylock_digest(text: Any, source: Any = None) -> str:
    """The sha256 (hex) of the lock's pip requirements: the name of its environment."""
    requirements = pylock.requirements(_lock(text, source, "pylock_digest"))
    return hashlib.sha256(requirements.encode("utf-8")).hexdigest()


def pip_hash_mismatches(output: Any) -> list[dict[str, Any]]:
    """The files in pip's hash-mismatch report: requirement, file, url, expected (list) and got.

    Empty when the output holds no such report. Works on pip's combined stdout and stderr.
    """
    if not isinstance(output, str):
        raise AnsibleFilterError(f"pip_hash_mismatches: expected pip's output as text, got {type(output).__name__}")
    _, head, report = output.partition(MISMATCH_HEAD)
    if not head:
        return []
    found: list[dict[str, Any]] = []
    for line in report.splitlines()[1:]:
        if match := MISMATCH_REQUIREMENT.match(line):
            url = match["url"] or ""
            path = urlsplit(url).path
            found.append(
                {
                    "requirement": match["requirement"],
                    "url": url.partition("#")[0],
                    "file": unquote(path.rsplit("/", 1)[-1]) if path else match["requirement"],
                    "expected": [],
                    "got": None,
                }
            )
        elif found and (match := MISMATCH_EXPECTED.match(line) or MISMATCH_OR.match(line)):
            found[-1]["expected"].append(match["hash"])
        elif found and (match := MISMATCH_GOT.match(line)):
            found[-1]["got"] = match["hash"]
        elif line.strip() and not line.startswith(" "):
            break  # the next message: the report is over
    return found


class FilterModule:
    def filters(self) -> dict[str, Callable[..., Any]]:
        return {
            "pylock_requirements": pylock_requirements,
            "pylock_digest": pylock_digest,
            "pip_hash_mismatches": pip_hash_mismatches,
        }
