"""Filter ``proxy_jump``: the OpenSSH ProxyJump spec ``user@host:port`` for a bastion.

Joining the parts in YAML looks simpler but goes wrong quietly: an IPv6 bastion
needs brackets (``admin@[fd00::1]:22``), and a malformed address, user or port
only shows up later as an opaque ssh error in the middle of a run. This filter
checks each part and names the bad one before any connection is tried.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Any

from ansible.errors import AnsibleFilterError

# RFC 1123 host names: labels of 1 to 63 letters, digits and inner hyphens, 253 characters in all.
HOSTNAME_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
HOSTNAME_MAX = 253
# POSIX user names as useradd accepts them (an optional final $ marks Samba machine accounts).
USER_NAME = re.compile(r"[a-z_][a-z0-9_-]*[$]?")
USER_MAX = 32
PORT_DIGITS = re.compile(r"[0-9]+")


def _host(address: Any) -> str:
    """The address as ssh wants it in a jump spec: IPv6 literals in brackets."""
    if not isinstance(address, str) or not address:
        raise AnsibleFilterError(f"proxy_jump: the bastion address must be a non-empty string, got {address!r}")
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        pass
    else:
        return f"[{ip}]" if ip.version == 6 else str(ip)
    labels = address.split(".")
    # An all-digit last label would make "10.0.0.300" pass as a host name instead of failing as an address.
    if len(address) > HOSTNAME_MAX or labels[-1].isdigit() or not all(HOSTNAME_LABEL.fullmatch(x) for x in labels):
        raise AnsibleFilterError(
            f"proxy_jump: bastion address {address!r} is neither an IPv4/IPv6 address nor an RFC 1123 host name "
            "(dot-separated labels of letters, digits and inner hyphens, at most 63 characters each, "
            f"{HOSTNAME_MAX} in all, the last one not all digits)"
        )
    return address


def _user(user: Any) -> str:
    """A POSIX user name; anything else would be read by ssh as part of the host or an option."""
    if not isinstance(user, str) or len(user) > USER_MAX or not USER_NAME.fullmatch(user):
        raise AnsibleFilterError(
            f"proxy_jump: bastion user {user!r} is not a POSIX user name "
            f"(lowercase letter or _ first, then lowercase letters, digits, _ or -, at most {USER_MAX} characters)"
        )
    return user


def _port(port: Any) -> int:
    """A TCP port number; numeric strings are accepted because inventory values often arrive as text."""
    if isinstance(port, str) and PORT_DIGITS.fullmatch(port):
        port = int(port)
    # bool is an int subclass: `true` must not pass as port 1.
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise AnsibleFilterError(f"proxy_jump: bastion port {port!r} is not a TCP port (an integer from 1 to 65535)")
    return port


def proxy_jump(address: str, user: str, port: int = 22) -> str:
    """Return ``user@address:port`` for ``-o ProxyJump=``; raise AnsibleFilterError naming any bad part."""
    return f"{_user(user)}@{_host(address)}:{_port(port)}"


class FilterModule:
    """Ansible entry point for the filters in this file."""

    def filters(self) -> dict[str, Callable[..., str]]:
        return {"proxy_jump": proxy_jump}
