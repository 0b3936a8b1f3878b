"""ssh_public_key admits only the allowed key types, normalised, and names the owner and key of any other."""

import base64
import shutil
import struct
import subprocess

import pytest
from ansible.errors import AnsibleFilterError

from filter_plugins.ssh_keys import FilterModule

ssh_public_key = FilterModule().filters()["ssh_public_key"]
ssh_key_fingerprint = FilterModule().filters()["ssh_key_fingerprint"]

ALLOWED = (
    "Allowed: ssh-ed25519, sk-ssh-ed25519@openssh.com, sk-ecdsa-sha2-nistp256@openssh.com, "
    "or ssh-rsa of at least 3072 bits."
)
needs_ssh_keygen = pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="ssh-keygen is not installed")


def keygen(tmp_path, keytype: str, bits: int | None = None, comment: str = "alice@laptop") -> str:
    """A fresh key pair made by ssh-keygen; returns the public key line as ssh-keygen wrote it."""
    path = tmp_path / f"id_{keytype}_{bits}"
    args = ["ssh-keygen", "-q", "-t", keytype, "-N", "", "-C", comment, "-f", str(path)]
    if bits:
        args += ["-b", str(bits)]
    subprocess.run(args, check=True)
    return path.with_suffix(".pub").read_text().strip()


def fingerprint_by_ssh_keygen(line: str, tmp_path) -> str:
    path = tmp_path / "key.pub"
    path.write_text(line + "\n")
    listing = subprocess.run(["ssh-keygen", "-lf", str(path)], check=True, capture_output=True, text=True).stdout
    return listing.split()[1]  # "256 SHA256:... comment (ED25519)"


# Key blobs built by hand (RFC 4251 wire format), for types ssh-keygen cannot make here:
# security keys need a FIDO token, and recent OpenSSH no longer makes DSA keys.
def string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def mpint(value: int) -> bytes:
    # One spare bit so that a set top bit does not read as negative (two's complement).
    return string(value.to_bytes(value.bit_length() // 8 + 1, "big", signed=True))


def line(keytype: str, *fields: bytes, comment: str = "test") -> str:
    blob = string(keytype.encode()) + b"".join(fields)
    return f"{keytype} {base64.b64encode(blob).decode()} {comment}".strip()


def rsa_line(bits: int, comment: str = "test") -> str:
    # Any odd number of the right size: the filter checks the size, not that it is a product of two primes.
    return line("ssh-rsa", mpint(65537), mpint((1 << (bits - 1)) | 1), comment=comment)


ED25519_POINT = bytes(range(32))
# The P-256 base point (SEC 2), uncompressed: a valid point, so ssh-keygen reads the key too.
P256_POINT = bytes.fromhex(
    "04"
    "6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296"
    "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5"
)
SK_ED25519 = line("sk-ssh-ed25519@openssh.com", string(ED25519_POINT), string(b"ssh:"), comment="bob@yubikey")
SK_ECDSA = line(
    "sk-ecdsa-sha2-nistp256@openssh.com", string(b"nistp256"), string(P256_POINT), string(b"ssh:"), comment="bob@fido"
)
DSA = line("ssh-dss", mpint(2**1023 + 1), mpint(2**159 + 1), mpint(2), mpint(3), comment="old@dsa")


@needs_ssh_keygen
def test_ed25519_key_from_ssh_keygen_is_accepted_as_written(tmp_path):
    key = keygen(tmp_path, "ed25519")
    assert ssh_public_key(key, "alice") == key


@needs_ssh_keygen
def test_rsa_3072_key_from_ssh_keygen_is_accepted_as_written(tmp_path):
    key = keygen(tmp_path, "rsa", 3072)
    assert ssh_public_key(key, "alice") == key


@needs_ssh_keygen
def test_rsa_2048_key_from_ssh_keygen_is_refused_with_its_size(tmp_path):
    key = keygen(tmp_path, "rsa", 2048)
    with pytest.raises(AnsibleFilterError) as err:
        ssh_public_key(key, "alice")
    assert str(err.value) == (
        "ssh_public_key: alice's ssh-rsa key 'alice@laptop' is refused: its modulus has 2048 bits, "
        f"fewer than 3072. {ALLOWED}"
    )


@needs_ssh_keygen
@pytest.mark.parametrize(("bits", "keytype"), [(256, "nistp256"), (384, "nistp384"), (521, "nistp521")])
def test_ecdsa_key_from_ssh_keygen_is_refused(tmp_path, bits, keytype):
    key = keygen(tmp_path, "ecdsa", bits)
    with pytest.raises(AnsibleFilterError, match="NIST ECDSA keys without a security key are not accepted") as err:
        ssh_public_key(key, "alice")
    assert f"alice's ecdsa-sha2-{keytype} key 'alice@laptop' is refused" in str(err.value)
    assert str(err.value).endswith(ALLOWED)


@pytest.mark.parametrize(("bits", "accepted"), [(3071, False), (3072, True), (4096, True), (1024, False)])
def test_rsa_modulus_must_have_at_least_3072_bits(bits, accepted):
    key = rsa_line(bits)
    if accepted:
        assert ssh_public_key(key) == key
    else:
        with pytest.raises(AnsibleFilterError, match=f"its modulus has {bits} bits, fewer than 3072"):
            ssh_public_key(key)


@pytest.mark.parametrize("key", [SK_ED25519, SK_ECDSA], ids=["sk-ed25519", "sk-ecdsa-p256"])
def test_security_key_types_are_accepted(key):
    assert ssh_public_key(key, "bob") == key


@needs_ssh_keygen
@pytest.mark.parametrize(
    "key", [SK_ED25519, SK_ECDSA, DSA, rsa_line(3072)], ids=["sk-ed25519", "sk-ecdsa", "dsa", "rsa"]
)
def test_hand_built_keys_are_real_keys_for_ssh_keygen(tmp_path, key):
    assert ssh_key_fingerprint(key) == fingerprint_by_ssh_keygen(key, tmp_path)


def test_dsa_key_is_refused():
    with pytest.raises(AnsibleFilterError) as err:
        ssh_public_key(DSA, "carol")
    assert str(err.value) == (
        "ssh_public_key: carol's ssh-dss key 'old@dsa' is refused: "
        f"DSA keys are at most 1024 bits and no longer supported by OpenSSH. {ALLOWED}"
    )


def test_certificate_is_refused():
    cert = line("ssh-ed25519-cert-v01@openssh.com", string(b"nonce"), string(ED25519_POINT))
    with pytest.raises(AnsibleFilterError, match="certificates are not accepted, give the plain public key"):
        ssh_public_key(cert, "alice")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (SK_ED25519 + "\n", SK_ED25519),
        ("  " + SK_ED25519 + "  ", SK_ED25519),
        (SK_ED25519.replace(" ", "\t"), SK_ED25519),
        (SK_ED25519.replace(" bob@yubikey", " bob   at\twork"), SK_ED25519.replace("bob@yubikey", "bob at work")),
        (SK_ED25519.removesuffix(" bob@yubikey"), SK_ED25519.removesuffix(" bob@yubikey")),
    ],
    ids=["trailing-newline", "surrounding-spaces", "tabs", "spaces-in-comment", "no-comment"],
)
def test_key_line_is_normalised(raw, expected):
    assert ssh_public_key(raw) == expected


@pytest.mark.parametrize(
    "options",
    ["no-pty", 'command="/usr/bin/true"', 'from="10.0.0.0/8",no-agent-forwarding', 'environment="A=b c"'],
)
def test_authorized_keys_options_are_refused(options):
    with pytest.raises(
        AnsibleFilterError, match=r"starts with authorized_keys options .*; options are not allowed"
    ) as err:
        ssh_public_key(f"{options} {SK_ED25519}", "alice")
    assert str(err.value).startswith("ssh_public_key: alice's key")
    assert str(err.value).endswith(ALLOWED)


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("ssh-ed25519 !!!notbase64 alice@laptop", "'alice@laptop' has key data that is not valid base64"),
        ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5A alice@laptop", "'alice@laptop' has key data that is not valid base64"),
        ("ssh-ed25519", "(no comment) has no base64 key data after the type"),
        ("ssh-ed25519 Zm9v alice@laptop", "'alice@laptop' is truncated: the key data ends before a length field"),
        (
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA== alice@laptop",
            "'alice@laptop' is malformed: the key data announces a field of 32 bytes but only 0 follow",
        ),
        (
            line("ssh-ed25519", string(ED25519_POINT[:31])),
            "'test' is malformed: the key data holds a public key of 31 bytes instead of 32",
        ),
        (
            line("ssh-ed25519", string(ED25519_POINT), b"extra"),
            "'test' is malformed: the key data has 5 bytes after the last field",
        ),
        (
            line("ssh-ed25519", string(ED25519_POINT)).replace("ssh-ed25519 ", "ssh-rsa ", 1),
            "ssh-rsa key 'test' is declared as ssh-rsa but its key data is b'ssh-ed25519'",
        ),
        (
            line("sk-ssh-ed25519@openssh.com", string(ED25519_POINT)),
            "'test' is malformed: the key data ends before a length field",
        ),
        (
            line("sk-ecdsa-sha2-nistp256@openssh.com", string(b"nistp384"), string(P256_POINT), string(b"ssh:")),
            "'test' is malformed: the key data names the curve b'nistp384' instead of b'nistp256'",
        ),
        (
            line("sk-ecdsa-sha2-nistp256@openssh.com", string(b"nistp256"), string(P256_POINT[1:]), string(b"ssh:")),
            "'test' is malformed: the key data does not hold an uncompressed P-256 point",
        ),
        (
            line("ssh-rsa", mpint(65537), mpint(-(1 << 3071))),
            "'test' is malformed: the key data holds a non-positive RSA modulus or an exponent below 3",
        ),
        (line("ssh-rsa", mpint(65537)), "'test' is malformed: the key data ends before a length field"),
    ],
    ids=[
        "bad-characters",
        "bad-padding",
        "no-data",
        "shorter-than-a-length",
        "truncated-field",
        "short-ed25519-point",
        "trailing-bytes",
        "type-mismatch",
        "sk-without-application",
        "sk-wrong-curve",
        "sk-compressed-point",
        "negative-rsa-modulus",
        "rsa-without-modulus",
    ],
)
def test_broken_key_is_refused_naming_owner_key_and_allowed_types(key, message):
    with pytest.raises(AnsibleFilterError) as err:
        ssh_public_key(key, "alice")
    assert str(err.value).startswith("ssh_public_key: alice's ")
    assert message in str(err.value)
    assert str(err.value).endswith(ALLOWED)


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("", "alice's key is empty"),
        ("   \n", "alice's key is empty"),
        (None, "alice's key must be one line of text ('type base64 comment'), got NoneType"),
        (42, "alice's key must be one line of text ('type base64 comment'), got int"),
        (["ssh-ed25519 AAAA"], "alice's key must be one line of text ('type base64 comment'), got list"),
        (f"{SK_ED25519}\n{SK_ECDSA}", "alice's key spans several lines; give each key as its own list item"),
        ("ssh-foo AAAA alice", "alice's key does not start with an OpenSSH key type (got 'ssh-foo')"),
        ("alice@laptop", "alice's key does not start with an OpenSSH key type (got 'alice@laptop')"),
    ],
    ids=["empty", "blank", "none", "int", "list", "two-lines", "unknown-type", "not-a-key"],
)
def test_something_other_than_a_key_line_is_refused(key, message):
    with pytest.raises(AnsibleFilterError) as err:
        ssh_public_key(key, "alice")
    assert message in str(err.value)
    assert str(err.value).endswith(ALLOWED)


def test_private_key_is_refused_without_echoing_it():
    secret = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n"
    with pytest.raises(AnsibleFilterError, match="is a PRIVATE key; give the public key") as err:
        ssh_public_key(secret, "alice")
    assert "b3BlbnNzaC1rZXktdjEAAAAA" not in str(err.value)


def test_message_without_owner_says_the_key():
    with pytest.raises(AnsibleFilterError, match=r"^ssh_public_key: the ssh-dss key 'old@dsa' is refused"):
        ssh_public_key(DSA)


def test_owner_must_be_a_string():
    with pytest.raises(AnsibleFilterError, match="the owner must be a string, got 42"):
        ssh_public_key(SK_ED25519, 42)


@needs_ssh_keygen
@pytest.mark.parametrize(("keytype", "bits"), [("ed25519", None), ("rsa", 3072), ("ecdsa", 256)])
def test_fingerprint_matches_ssh_keygen(tmp_path, keytype, bits):
    key = keygen(tmp_path, keytype, bits)
    assert ssh_key_fingerprint(key) == fingerprint_by_ssh_keygen(key, tmp_path)


def test_fingerprint_ignores_the_comment():
    assert ssh_key_fingerprint(SK_ED25519) == ssh_key_fingerprint(SK_ED25519.replace("bob@yubikey", "other"))


def test_fingerprint_of_a_broken_key_is_refused_by_name():
    with pytest.raises(AnsibleFilterError, match="alice's ssh-ed25519 key 'x' has key data that is not valid base64"):
        ssh_key_fingerprint("ssh-ed25519 !!! x", "alice")
