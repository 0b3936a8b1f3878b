"""The analysts' environment as converge and side_effect.yml leave it.

current is the small lock's environment, built from the wheel mirror with exactly the
lock's wheels; the analysts group and the service account may run it, nobody but root
may change it, and nobody else gets in. No other environment (side_effect.yml ends by
pruning to one), no half-built one and no open egress window are left behind.
"""

import json
from pathlib import Path

import pytest

from filter_plugins.pylock import pylock_digest, pylock_requirements
from tools import pylock

ROOT = "/opt/analytics-env"
# pyproject.toml puts the repository on sys.path: tools/ and filter_plugins/ above.
REPO = Path(__file__).resolve().parents[5]
LOCK_TEXT = (REPO / "tests" / "data" / "locks" / "small" / "pylock.toml").read_text()
DIGEST = pylock_digest(LOCK_TEXT)
ENV = f"{ROOT}/envs/{DIGEST}"
PYTHON = f"{ROOT}/current/bin/python"
PACKAGES = [(package.key, package.version) for package in pylock.loads(LOCK_TEXT).packages]
GROUP_MEMBERS = ["probe-analyst", "analytics-jobs"]  # an analyst and the service account


def run_as(host, user: str, command: str):
    return host.run(f"runuser -u {user} -- {command}")


def test_current_is_the_environment_of_the_lock(host):
    assert host.file(f"{ROOT}/current").linked_to == ENV
    assert host.file(f"{ROOT}/history").content_string == f"{DIGEST}\n"


@pytest.mark.parametrize(("name", "version"), PACKAGES, ids=[name for name, _ in PACKAGES])
def test_locked_package_imports_at_its_locked_version(host, name, version):
    module = name.replace("-", "_")
    script = f"import importlib.metadata, {module}; print(importlib.metadata.version('{name}'))"
    assert host.check_output(f'{PYTHON} -c "{script}"') == version


def test_environment_holds_the_lock_and_nothing_else(host):
    listed = json.loads(host.check_output(f"{PYTHON} -m pip list --format=json --disable-pip-version-check"))
    # pip and setuptools are the ones python -m venv puts into every environment.
    assert {pylock.normalize(item["name"]) for item in listed} == {name for name, _ in PACKAGES} | {"pip", "setuptools"}


def test_pip_check_finds_no_broken_requirement(host):
    assert "No broken requirements found." in host.check_output(f"{PYTHON} -m pip check --disable-pip-version-check")


def test_environment_records_the_requirements_it_was_built_from(host):
    assert host.file(f"{ENV}/requirements.txt").content_string == pylock_requirements(LOCK_TEXT)


@pytest.mark.parametrize("user", GROUP_MEMBERS)
def test_group_member_runs_the_environment_and_its_scripts(host, user):
    assert run_as(host, user, f"{PYTHON} -c 'import six, idna'").rc == 0
    # A console script names its environment's Python by the path it was built at.
    assert f"from {ENV}/lib/python3" in run_as(host, user, f"{ROOT}/current/bin/pip --version").stdout


@pytest.mark.parametrize("user", GROUP_MEMBERS)
@pytest.mark.parametrize("folder", [ROOT, f"{ROOT}/envs", ENV, f"{ENV}/bin", f"{ENV}/lib/python3.11/site-packages"])
def test_group_member_cannot_write_to_the_environments(host, user, folder):
    attempt = run_as(host, user, f"touch {folder}/written-by-{user}")
    assert attempt.rc != 0
    assert "Permission denied" in attempt.stderr


def test_anyone_outside_the_group_cannot_run_the_environment(host):
    attempt = run_as(host, "probe-outsider", f"{PYTHON} -c pass")
    assert attempt.rc != 0
    assert "Permission denied" in attempt.stderr


def test_everything_belongs_to_root_and_only_root_may_write(host):
    # The run's umask was 027 (molecule.yml): the role set the modes itself.
    # Closed to others: each environment's folder, 0750 root:analysts, the
    # gate; above it others may pass (the build account must) but not list.
    closed = host.check_output(f"find {ROOT} ! -type l \\( ! -user root -o -perm /022 -o ! -perm -004 \\) -print")
    assert sorted(closed.split()) == sorted([ROOT, f"{ROOT}/envs", ENV])
    assert (host.file(ENV).group, host.file(ENV).mode) == ("analysts", 0o750)
    assert (host.file(ROOT).group, host.file(ROOT).mode) == ("analysts", 0o751)
    assert (host.file(f"{ROOT}/envs").group, host.file(f"{ROOT}/envs").mode) == ("root", 0o751)


def test_anyone_outside_the_group_cannot_list_the_environments(host):
    for folder in (ROOT, f"{ROOT}/envs"):
        attempt = run_as(host, "probe-outsider", f"ls {folder}")
        assert attempt.rc != 0 and "Permission denied" in attempt.stderr, folder


def test_only_the_active_environment_is_left_and_it_is_complete(host):
    # side_effect.yml ends with python_env_keep 1, which removed the other lock's environment.
    assert host.check_output(f"ls {ROOT}/envs") == DIGEST
    assert host.file(f"{ENV}/complete").content_string == f"{DIGEST}\n"


def test_no_half_built_environment_or_stray_link_is_left(host):
    assert not host.file(f"{ROOT}/current.new").exists
    assert host.check_output(f"find {ROOT}/envs -mindepth 1 -maxdepth 1 -name '*.*'") == ""


def test_egress_window_is_closed(host):
    assert "elements" not in host.check_output("nft list set inet firewall egress_window")


def test_python3_venv_came_in_through_the_window(host):
    # Egress is closed (prepare.yml applied the firewall): only the window let apt reach the mirror.
    assert host.package("python3-venv").is_installed
