"""Filters ``egress_refusals`` and ``egress_report_lines``: the refused outbound attempts, per account.

The firewall role's ruleset records every outbound attempt it refuses in two
dynamic nft sets (``egress_refused``, ``egress_refused_v6``), one element per
account, destination, protocol and port, with a packet counter and a timeout
that each new attempt renews. ``nft -j list set`` gives for each element the
seconds left until it expires, so the last attempt was ``timeout - expires``
seconds before the listing. These filters turn those listings into rows (who
tried to reach what, how often, how long ago) and into the lines
``playbooks/egress-report.yml`` prints: a library that phones home is noticed,
not only stopped.
"""

from __future__ import annotations

import json
from typing import Any

from ansible.errors import AnsibleFilterError

PROTOCOLS = {6: "tcp", 17: "udp", "tcp": "tcp", "udp": "udp"}


def _listing(value: Any) -> dict:
    """One ``nft -j list set`` output (text or parsed) as its set object."""
    try:
        data = json.loads(value) if isinstance(value, str) else value
        return next(item["set"] for item in data["nftables"] if "set" in item)
    except (ValueError, TypeError, KeyError, StopIteration):
        raise AnsibleFilterError(
            f"egress_refusals: expected the output of `nft -j list set`, got {str(value)[:200]!r}"
        ) from None


def _account(uid: int, accounts: dict) -> str:
    """The account name for a uid, from getent's passwd facts ({name: [x, uid, gid, ...]})."""
    for name, fields in accounts.items():
        if str(fields[1]) == str(uid):
            return name
    return f"uid {uid}"


def egress_refusals(listings: Any, accounts: dict, hours: float | int | str = 24) -> list[dict]:
    """Rows of refused attempts seen in the last ``hours``: account, destination, protocol, port, attempts, ago.

    ``listings``: the ``nft -j list set`` outputs of the refused-attempt sets;
    ``accounts``: ansible's ``getent_passwd`` facts. Rows come sorted by
    account, then most recent first.
    """
    try:
        window = float(hours) * 3600
    except (TypeError, ValueError):
        raise AnsibleFilterError(f"egress_refusals: hours must be a number, got {hours!r}") from None
    if window <= 0:
        raise AnsibleFilterError(f"egress_refusals: hours must be above 0, got {hours!r}")
    rows = []
    for value in listings if isinstance(listings, list) else [listings]:
        listing = _listing(value)
        timeout = listing.get("timeout", 0)
        for item in listing.get("elem", []):
            elem = item.get("elem", {})
            uid, address, protocol, port = elem["val"]["concat"]
            ago = max(0, timeout - elem.get("expires", timeout))
            if ago > window:
                continue
            rows.append(
                {
                    "account": _account(uid, accounts),
                    "destination": address,
                    "protocol": PROTOCOLS.get(protocol, str(protocol)),
                    "port": port,
                    "attempts": elem.get("counter", {}).get("packets", 0),
                    "seconds_ago": ago,
                }
            )
    return sorted(rows, key=lambda row: (row["account"], row["seconds_ago"], row["destination"], row["port"]))


def _ago(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def egress_report_lines(rows: list[dict]) -> list[str]:
    """One line per row, in columns: account, destination:port/protocol, attempts, when."""
    if not rows:
        return ["no refused outbound attempt in the period"]
    cells = [
        (row["account"], f"{row['destination']} {row['protocol']}/{row['port']}", f"{row['attempts']} packets",
         _ago(row["seconds_ago"]))
        for row in rows
    ]  # fmt: skip
    widths = [max(len(cell[i]) for cell in cells) for i in range(3)]
    return [f"{a:<{widths[0]}}  {d:<{widths[1]}}  {n:>{widths[2]}}  last {when}" for a, d, n, when in cells]


class FilterModule:
    def filters(self) -> dict:
        return {"egress_refusals": egress_refusals, "egress_report_lines": egress_report_lines}
