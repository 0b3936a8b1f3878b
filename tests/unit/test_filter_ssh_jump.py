"""The proxy_jump filter builds the jump spec ssh gets, or stops the run naming the bad part."""

import pytest
from ansible.errors import AnsibleFilterError

from filter_plugins.ssh_jump import FilterModule

proxy_jump = FilterModule().filters()["proxy_jump"]


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("198.18.0.10", "admin@198.18.0.10:22"),
        ("203.0.113.7", "admin@203.0.113.7:22"),
    ],
)
def test_ipv4_address_is_used_as_is(address, expected):
    assert proxy_jump(address, "admin") == expected


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("fd00::1", "admin@[fd00::1]:22"),
        ("2001:db8::10", "admin@[2001:db8::10]:22"),
        # ssh compares strings: the compressed form is the one it is given everywhere else.
        ("FD00:0:0:0:0:0:0:1", "admin@[fd00::1]:22"),
    ],
)
def test_ipv6_address_is_bracketed(address, expected):
    assert proxy_jump(address, "admin") == expected


@pytest.mark.parametrize(
    "address",
    ["nat-bastion", "bastion.example.com", "ip-10-0-0-1.eu-west-1.compute.internal", "a" * 63 + ".example"],
)
def test_host_name_is_used_as_is(address):
    assert proxy_jump(address, "admin") == f"admin@{address}:22"


@pytest.mark.parametrize(("port", "expected"), [(2222, 2222), ("2222", 2222), (1, 1), (65535, 65535)])
def test_custom_port_is_appended(port, expected):
    assert proxy_jump("198.18.0.10", "admin", port) == f"admin@198.18.0.10:{expected}"


@pytest.mark.parametrize("user", ["admin", "_svc", "ec2-user", "machine$", "a" * 32])
def test_posix_user_name_is_accepted(user):
    assert proxy_jump("198.18.0.10", user) == f"{user}@198.18.0.10:22"


@pytest.mark.parametrize(
    "address",
    [
        "",
        None,
        42,
        "10.0.0.300",
        "1.2.3",
        "-bastion.example.com",
        "bastion-.example.com",
        "bastion..example.com",
        "bastion.example.com.",
        "bastion_1.example.com",
        "a" * 64 + ".example",
        ".".join(["a" * 63] * 4),
        "[fd00::1]",
        "admin@bastion",
        "bastion -oProxyCommand=id",
    ],
)
def test_bad_address_is_refused_by_name(address):
    with pytest.raises(AnsibleFilterError, match=r"bastion address .*(IPv4/IPv6|non-empty string)") as err:
        proxy_jump(address, "admin")
    assert repr(address) in str(err.value)


@pytest.mark.parametrize(
    "user",
    ["", "Admin", "1admin", "ad min", "admin@x", "root;id", "ad$min", "a" * 33, None, 1000],
)
def test_bad_user_is_refused_by_name(user):
    with pytest.raises(AnsibleFilterError, match=r"bastion user .* is not a POSIX user name") as err:
        proxy_jump("198.18.0.10", user)
    assert repr(user) in str(err.value)


@pytest.mark.parametrize("port", [0, 65536, -22, "", "22a", " 22", "0x16", 22.0, True, None])
def test_bad_port_is_refused_by_name(port):
    with pytest.raises(AnsibleFilterError, match=r"is not a TCP port \(an integer from 1 to 65535\)") as err:
        proxy_jump("198.18.0.10", "admin", port)
    assert f"bastion port {port!r}" in str(err.value)
