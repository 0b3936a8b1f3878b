"""analyst_accounts says, once for the whole users role, which accounts exist, which are locked and who is admin."""

import pytest
from ansible.errors import AnsibleFilterError

from filter_plugins.user_accounts import FilterModule

analyst_accounts = FilterModule().filters()["analyst_accounts"]


def passwd(*names, uid=1001):
    """Host accounts as ansible.builtin.getent returns them."""
    return {name: ["x", str(uid), str(uid), "", f"/home/{name}", "/bin/bash"] for name in names}


def names(accounts):
    return [account["name"] for account in accounts]


def test_an_admin_analyst_gets_a_separate_admin_account():
    plan = analyst_accounts([{"name": "ada", "admin": True, "comment": "Ada"}], {})
    assert plan["present"] == [
        {"name": "ada", "comment": "Ada", "keys_of": "ada", "analyst": True, "admin": False},
        {"name": "ada-admin", "comment": "Ada (admin)", "keys_of": "ada", "analyst": False, "admin": True},
    ]
    assert plan["ssh_members"] == ["ada", "ada-admin"]
    assert plan["admin_members"] == ["ada-admin"]
    assert plan["admin_accounts"] == {"ada": "ada-admin"}


def test_the_admin_account_without_a_comment_is_named_after_the_analyst():
    plan = analyst_accounts([{"name": "ada", "admin": True}], {})
    assert plan["present"][1]["comment"] == "ada (admin)"


def test_without_separate_accounts_the_analyst_herself_is_admin():
    plan = analyst_accounts([{"name": "ada", "admin": True}, {"name": "bob"}], {}, separate_admin=False)
    assert [(a["name"], a["analyst"], a["admin"]) for a in plan["present"]] == [
        ("ada", True, True),
        ("bob", True, False),
    ]
    assert plan["admin_members"] == ["ada"]
    assert plan["admin_accounts"] == {}


def test_the_suffix_is_users_admin_account_suffix():
    plan = analyst_accounts([{"name": "ada", "admin": True}], {}, admin_suffix="_root")
    assert plan["admin_members"] == ["ada_root"]


def test_a_plain_analyst_has_no_admin_account_and_no_admin_right():
    plan = analyst_accounts([{"name": "bob"}], passwd("bob"))
    assert names(plan["present"]) == ["bob"]
    assert plan["admin_members"] == []
    assert plan["locked"] == plan["purged"] == []


@pytest.mark.parametrize("separate_admin", [True, False])
def test_a_demoted_analyst_s_admin_account_is_locked(separate_admin):
    plan = analyst_accounts([{"name": "ada"}], passwd("ada", "ada-admin"), separate_admin=separate_admin)
    assert names(plan["present"]) == ["ada"]
    assert names(plan["locked"]) == ["ada-admin"]
    assert "ada-admin" not in plan["ssh_members"] + plan["admin_members"]


def test_an_admin_analyst_without_separate_accounts_has_her_old_admin_account_locked():
    plan = analyst_accounts([{"name": "ada", "admin": True}], passwd("ada", "ada-admin"), separate_admin=False)
    assert names(plan["locked"]) == ["ada-admin"]
    assert plan["admin_members"] == ["ada"]


def test_a_removed_analyst_and_her_admin_account_are_locked():
    plan = analyst_accounts([{"name": "ada", "state": "absent", "admin": True}], passwd("ada", "ada-admin"))
    assert names(plan["locked"]) == ["ada", "ada-admin"]
    assert plan["present"] == plan["ssh_members"] == plan["admin_members"] == []


def test_accounts_that_do_not_exist_are_not_locked():
    plan = analyst_accounts([{"name": "ada", "state": "absent"}, {"name": "bob"}], passwd("bob"))
    assert plan["locked"] == []


def test_a_purged_analyst_and_her_admin_account_are_purged():
    plan = analyst_accounts([{"name": "ada", "state": "absent", "purge": True}], passwd("ada", "ada-admin"))
    assert names(plan["purged"]) == ["ada", "ada-admin"]
    assert plan["locked"] == []


def test_a_purged_analyst_is_purged_even_without_an_account_and_her_missing_admin_account_is_not():
    plan = analyst_accounts([{"name": "ada", "state": "absent", "purge": True}], {})
    assert names(plan["purged"]) == ["ada"]


@pytest.mark.parametrize(
    ("analysts", "protected"),
    [
        # Another analyst of that name is hers to keep.
        ([{"name": "ada"}, {"name": "ada-admin"}], []),
        # The operator and the service account are never touched.
        ([{"name": "ada"}], ["ada-admin"]),
        ([{"name": "ada", "state": "absent", "purge": True}], ["ada-admin"]),
    ],
)
def test_an_admin_name_that_belongs_to_someone_else_is_never_locked_or_purged(analysts, protected):
    plan = analyst_accounts(analysts, passwd("ada", "ada-admin"), protected=protected)
    assert "ada-admin" not in names(plan["locked"]) + names(plan["purged"])


@pytest.mark.parametrize("uid", [0, 100, 999, 65534])
def test_a_system_account_with_an_admin_name_is_never_locked_or_purged(uid):
    host = passwd("ada") | passwd("ada-admin", uid=uid)
    for analyst in ({"name": "ada"}, {"name": "ada", "state": "absent", "purge": True}):
        plan = analyst_accounts([analyst], host)
        assert "ada-admin" not in names(plan["locked"]) + names(plan["purged"])


def test_the_order_of_the_analysts_is_kept():
    plan = analyst_accounts([{"name": "zoe", "admin": True}, {"name": "ada"}], {})
    assert plan["ssh_members"] == ["zoe", "zoe-admin", "ada"]


@pytest.mark.parametrize(
    ("analysts", "message"),
    [
        ("ada", "expected the list users_analysts"),
        ([{"admin": True}], "each analyst must be a dict with a name"),
        (["ada"], "each analyst must be a dict with a name"),
        ([{"name": "ada", "state": "gone"}], "ada's state must be present or absent"),
    ],
)
def test_input_of_the_wrong_shape_is_refused(analysts, message):
    with pytest.raises(AnsibleFilterError, match=message):
        analyst_accounts(analysts, {})


def test_accounts_that_are_not_getent_s_answer_are_refused():
    with pytest.raises(AnsibleFilterError, match=r"getent passwd"):
        analyst_accounts([], ["ada"])


def test_a_suffix_that_is_not_a_string_is_refused():
    with pytest.raises(AnsibleFilterError, match=r"^users_admin_account_suffix must be a string"):
        analyst_accounts([], {}, admin_suffix=None)
