"""Filters ``ssh_public_key`` and ``ssh_key_fingerprint``: check an analyst's SSH public key before it is installed.

An authorized_keys line that sshd cannot use fails silently: the analyst just
cannot log in. One that sshd can use but that is weak (DSA, RSA under 3072 bits)
or that smuggles in options (``command=``, ``from=``, ``environment=``) is
worse. ``ssh_public_key`` reads the line, decodes the key blob with the standard
library, checks that the type inside the blob is the declared one, and admits
only the types the team allows. It returns the line normalised
(``type base64 comment``) or raises AnsibleFilterError naming the owner, the
key's type and comment, and the allowed types.

``ssh_key_fingerprint`` gives the SHA256 fingerprint that ``ssh-keygen -l``
prints, to compare keys or name one in a message. It checks the line's form
but not the type policy, so it also names keys that are refused.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
from collections.abc import Callable
from typing import Any

from ansible.errors import AnsibleFilterError

ED25519 = "ssh-ed25519"
SK_ED25519 = "sk-ssh-ed25519@openssh.com"
SK_ECDSA_P256 = "sk-ecdsa-sha2-nistp256@openssh.com"
RSA = "ssh-rsa"
RSA_MIN_BITS = 3072
ALLOWED = f"{ED25519}, {SK_ED25519}, {SK_ECDSA_P256}, or {RSA} of at least {RSA_MIN_BITS} bits"

# Types OpenSSH knows that the policy refuses, with the reason given to the user.
REFUSED = {
    "ssh-dss": "DSA keys are at most 1024 bits and no longer supported by OpenSSH",
    "ecdsa-sha2-nistp256": "NIST ECDSA keys without a security key are not accepted; use ssh-ed25519",
    "ecdsa-sha2-nistp384": "NIST ECDSA keys without a security key are not accepted; use ssh-ed25519",
    "ecdsa-sha2-nistp521": "NIST ECDSA keys without a security key are not accepted; use ssh-ed25519",
    "ssh-xmss@openssh.com": "XMSS keys are experimental in OpenSSH and not accepted",
}
CERTIFICATE = re.compile(r"[a-z0-9.-]+-cert-v01@openssh\.com")
KNOWN_TYPES = {ED25519, SK_ED25519, SK_ECDSA_P256, RSA, *REFUSED}
ED25519_KEY_BYTES = 32
# An uncompressed P-256 point: 0x04, then X and Y of 32 bytes each.
P256_POINT_BYTES = 65


class _Malformed(ValueError):
    """The key blob does not have the structure its type requires."""


def _known_type(token: str) -> bool:
    return token in KNOWN_TYPES or CERTIFICATE.fullmatch(token) is not None


def _whose(owner: str) -> str:
    return f"{owner}'s" if owner else "the"


def _error(owner: str, problem: str) -> AnsibleFilterError:
    """Every message names whose key it is and what would be accepted."""
    return AnsibleFilterError(f"ssh_public_key: {_whose(owner)} {problem}. Allowed: {ALLOWED}.")


def _fail(owner: str, keytype: str, comment: str, reason: str) -> AnsibleFilterError:
    label = repr(comment) if comment else "(no comment)"
    return _error(owner, f"{keytype} key {label} {reason}")


def _read_string(blob: bytes, offset: int) -> tuple[bytes, int]:
    """One SSH wire-format string (RFC 4251: uint32 length, then the bytes) and the offset after it."""
    if offset + 4 > len(blob):
        raise _Malformed("ends before a length field")
    (length,) = struct.unpack_from(">I", blob, offset)
    end = offset + 4 + length
    if end > len(blob):
        raise _Malformed(f"announces a field of {length} bytes but only {len(blob) - offset - 4} follow")
    return blob[offset + 4 : end], end


def _read_mpint(blob: bytes, offset: int) -> tuple[int, int]:
    """One SSH mpint (two's complement, big-endian) and the offset after it."""
    data, offset = _read_string(blob, offset)
    return int.from_bytes(data, "big", signed=True), offset


def _check_blob(keytype: str, blob: bytes, offset: int) -> int:
    """Check the fields after the type for an allowed type; return the RSA modulus size (0 for other types)."""
    bits = 0
    if keytype in (ED25519, SK_ED25519):
        point, offset = _read_string(blob, offset)
        if len(point) != ED25519_KEY_BYTES:
            raise _Malformed(f"holds a public key of {len(point)} bytes instead of {ED25519_KEY_BYTES}")
    elif keytype == SK_ECDSA_P256:
        curve, offset = _read_string(blob, offset)
        if curve != b"nistp256":
            raise _Malformed(f"names the curve {curve!r} instead of b'nistp256'")
        point, offset = _read_string(blob, offset)
        if len(point) != P256_POINT_BYTES or point[0] != 4:
            raise _Malformed("does not hold an uncompressed P-256 point")
    elif keytype == RSA:
        exponent, offset = _read_mpint(blob, offset)
        modulus, offset = _read_mpint(blob, offset)
        if exponent < 3 or modulus <= 0:
            raise _Malformed("holds a non-positive RSA modulus or an exponent below 3")
        bits = modulus.bit_length()
    if keytype.startswith("sk-"):
        # Security keys also carry the application string the key was made for (usually "ssh:").
        _, offset = _read_string(blob, offset)
    if offset != len(blob):
        raise _Malformed(f"has {len(blob) - offset} bytes after the last field")
    return bits


def _parse(line: Any, owner: str) -> tuple[str, bytes, str]:
    """Split and decode one key line: (type, blob, comment), or raise naming what is wrong."""
    if not isinstance(owner, str):
        raise AnsibleFilterError(f"ssh_public_key: the owner must be a string, got {owner!r}")
    if not isinstance(line, str):
        raise _error(owner, f"key must be one line of text ('type base64 comment'), got {type(line).__name__}")
    if "PRIVATE KEY" in line:
        # Never echo it: the message ends up in logs.
        raise _error(
            owner,
            "key is a PRIVATE key; give the public key (the .pub file) instead and treat the private key as exposed",
        )
    line = line.strip()
    if "\n" in line or "\r" in line:
        raise _error(owner, "key spans several lines; give each key as its own list item")
    fields = line.split(None, 2)
    if not fields:
        raise _error(owner, "key is empty")
    keytype = fields[0]
    if not _known_type(keytype):
        if any(_known_type(token) for token in line.split()[1:]):
            raise _error(
                owner,
                f"key starts with authorized_keys options ({keytype[:40]!r}); options are not allowed, "
                "give the bare key ('type base64 comment')",
            )
        raise _error(
            owner, f"key does not start with an OpenSSH key type (got {keytype[:40]!r}); expected 'type base64 comment'"
        )
    comment = " ".join(fields[2].split()) if len(fields) == 3 else ""
    if len(fields) < 2:
        raise _fail(owner, keytype, comment, "has no base64 key data after the type")
    try:
        blob = base64.b64decode(fields[1], validate=True)
    except (binascii.Error, ValueError):
        raise _fail(owner, keytype, comment, "has key data that is not valid base64") from None
    try:
        inner, _ = _read_string(blob, 0)
    except _Malformed as err:
        raise _fail(owner, keytype, comment, f"is truncated: the key data {err}") from None
    if inner != keytype.encode():
        raise _fail(owner, keytype, comment, f"is declared as {keytype} but its key data is {inner[:40]!r}")
    return keytype, blob, comment


def ssh_public_key(line: Any, owner: str = "") -> str:
    """Return ``type base64 comment`` for an allowed OpenSSH public key; raise AnsibleFilterError otherwise."""
    keytype, blob, comment = _parse(line, owner)
    if keytype in REFUSED:
        raise _fail(owner, keytype, comment, f"is refused: {REFUSED[keytype]}")
    if CERTIFICATE.fullmatch(keytype):
        raise _fail(owner, keytype, comment, "is refused: certificates are not accepted, give the plain public key")
    try:
        bits = _check_blob(keytype, blob, len(keytype) + 4)
    except _Malformed as err:
        raise _fail(owner, keytype, comment, f"is malformed: the key data {err}") from None
    if keytype == RSA and bits < RSA_MIN_BITS:
        raise _fail(owner, keytype, comment, f"is refused: its modulus has {bits} bits, fewer than {RSA_MIN_BITS}")
    canonical = base64.b64encode(blob).decode("ascii")
    return f"{keytype} {canonical} {comment}" if comment else f"{keytype} {canonical}"


def ssh_key_fingerprint(line: Any, owner: str = "") -> str:
    """The ``SHA256:...`` fingerprint of a key line, as ``ssh-keygen -l`` prints it."""
    _, blob, _ = _parse(line, owner)
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode("ascii").rstrip("=")


class FilterModule:
    """Ansible entry point for the filters in this file."""

    def filters(self) -> dict[str, Callable[..., str]]:
        return {"ssh_public_key": ssh_public_key, "ssh_key_fingerprint": ssh_key_fingerprint}
