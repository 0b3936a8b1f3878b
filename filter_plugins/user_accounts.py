"""Filter ``analyst_accounts``: who is who among the users role's accounts, worked out once.

An analyst marked admin runs the team's Python code. If that same account had
passwordless sudo, a malicious library she imports would be root at once. So by
default her administration happens in a second account, ``<name><suffix>``
(``ada-admin``): it has her SSH keys, is in the SSH and admin groups and not in
the analysts group, and her own account stays a plain analyst. A process that
runs as ``ada`` cannot become ``ada-admin``: the account has no password, and
the key stays on her laptop (agent forwarding is off).

From the analysts (``users_analysts`` with its defaults filled in) and the host's
accounts (``getent passwd``) the filter returns one plan that every task of the
role reads:

- ``present``: the accounts to create or keep, each ``{name, comment, keys_of,
  analyst, admin}``: ``keys_of`` names the analyst whose keys it takes,
  ``analyst`` whether it joins the analysts group (and gets a work folder),
  ``admin`` whether it joins the admin group;
- ``locked``: existing accounts to lock: removed analysts, and the admin
  accounts of removed or demoted analysts (or of all analysts, without the
  separate accounts);
- ``purged``: accounts to delete with their homes: purged analysts and their
  admin accounts;
- ``ssh_members`` and ``admin_members``: exactly who belongs in the SSH and
  admin groups (the operator aside, whom the role never takes out);
- ``admin_accounts``: each present admin analyst's admin account name, for the
  role's checks of those names (empty without the separate accounts).

Admin account names that are also the name of a listed analyst or of a
``protected`` account (the operator, the service account), or that belong to a
system account on the host, are never locked or purged.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ansible.errors import AnsibleFilterError

# Regular accounts have IDs from 1000 to 65533 (Debian's adduser.conf); 65534 is nobody.
FIRST_REGULAR_ID = 1000
LAST_REGULAR_ID = 65533


def _is_regular(passwd: Mapping[str, Any], name: str) -> bool:
    """Whether ``name`` is an account on the host with a regular user ID."""
    entry = passwd.get(name)
    try:
        uid = int(entry[1])
    except (TypeError, ValueError, IndexError):
        return False
    return FIRST_REGULAR_ID <= uid <= LAST_REGULAR_ID


def _analyst(item: Any) -> dict[str, Any]:
    """One item of users_analysts with the role's defaults; refuses what is not one."""
    if not isinstance(item, Mapping) or not isinstance(item.get("name"), str) or not item["name"]:
        raise AnsibleFilterError(f"analyst_accounts: each analyst must be a dict with a name, got {item!r}")
    state = item.get("state", "present")
    if state not in ("present", "absent"):
        raise AnsibleFilterError(f"analyst_accounts: {item['name']}'s state must be present or absent, got {state!r}")
    return {
        "name": item["name"],
        "state": state,
        "admin": bool(item.get("admin", False)),
        "purge": bool(item.get("purge", False)),
        "comment": item.get("comment") or "",
    }


def analyst_accounts(
    analysts: Any,
    passwd: Any,
    separate_admin: bool = True,
    admin_suffix: str = "-admin",
    protected: Any = (),
) -> dict[str, Any]:
    """The plan of the users role's analyst accounts (see the module's docstring).

    ``analysts`` is users_analysts, ``passwd`` the host's accounts as
    ansible.builtin.getent returns them (name -> [password, uid, gid, gecos,
    home, shell]), ``separate_admin`` users_admin_separate_account,
    ``admin_suffix`` users_admin_account_suffix, ``protected`` the names the
    role must never lock or purge as an admin account (the operator, the
    service account). Raises AnsibleFilterError on input of the wrong shape.
    """
    if not isinstance(analysts, list):
        raise AnsibleFilterError(f"analyst_accounts: expected the list users_analysts, got {analysts!r}")
    if not isinstance(passwd, Mapping):
        raise AnsibleFilterError(f"analyst_accounts: expected the host's accounts (getent passwd), got {passwd!r}")
    if not isinstance(admin_suffix, str):
        raise AnsibleFilterError(f"users_admin_account_suffix must be a string, got {admin_suffix!r}")
    items = [_analyst(item) for item in analysts]
    names = {item["name"] for item in items}
    # Names that are someone else's: never locked or purged as an admin account.
    others = names | set(protected or ())

    def admin_account(item: dict[str, Any]) -> str:
        return item["name"] + admin_suffix

    def leftover(item: dict[str, Any]) -> bool:
        """Whether the analyst's admin account exists and is the role's to lock or purge."""
        name = admin_account(item)
        return name not in others and _is_regular(passwd, name)

    present: list[dict[str, Any]] = []
    locked: list[dict[str, Any]] = []
    purged: list[dict[str, Any]] = []
    admin_accounts: dict[str, str] = {}
    for item in items:
        name = item["name"]
        if item["state"] == "present":
            separate = separate_admin and item["admin"]
            present.append(
                {
                    "name": name,
                    "comment": item["comment"],
                    "keys_of": name,
                    "analyst": True,
                    "admin": item["admin"] and not separate_admin,
                }
            )
            if separate:
                admin_accounts[name] = admin_account(item)
                present.append(
                    {
                        "name": admin_account(item),
                        "comment": f"{item['comment'] or name} (admin)",
                        "keys_of": name,
                        "analyst": False,
                        "admin": True,
                    }
                )
            elif leftover(item):
                locked.append({"name": admin_account(item)})
        elif item["purge"]:
            # userdel leaves an account that does not exist alone: no need to ask the host.
            purged.append({"name": name})
            if leftover(item):
                purged.append({"name": admin_account(item)})
        else:
            # A removed analyst who never had an account is left alone.
            if name in passwd:
                locked.append({"name": name})
            if leftover(item):
                locked.append({"name": admin_account(item)})
    return {
        "present": present,
        "locked": locked,
        "purged": purged,
        "ssh_members": [account["name"] for account in present],
        "admin_members": [account["name"] for account in present if account["admin"]],
        "admin_accounts": admin_accounts,
    }


class FilterModule:
    """Ansible entry point for the filters in this file."""

    def filters(self) -> dict[str, Callable[..., Any]]:
        return {"analyst_accounts": analyst_accounts}
