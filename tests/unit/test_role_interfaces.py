"""Each role's documented interface (argument spec, defaults, README table) says the same thing."""

from pathlib import Path

import pytest
import yaml

from tools import role_docs

ROOT = Path(__file__).resolve().parents[2]
ROLES = sorted(path.name for path in (ROOT / "roles").iterdir() if path.is_dir())


def spec_options(role: str) -> dict[str, dict]:
    spec = yaml.safe_load((ROOT / "roles" / role / "meta" / "argument_specs.yml").read_text())
    return spec["argument_specs"]["main"]["options"]


def defaults(role: str) -> dict:
    return yaml.safe_load((ROOT / "roles" / role / "defaults" / "main.yml").read_text()) or {}


OPTIONS = [pytest.param(role, name, id=name) for role in ROLES for name in spec_options(role)]


def test_there_are_roles_to_check():
    assert ROLES


@pytest.mark.parametrize("role", ROLES)
def test_spec_and_defaults_declare_the_same_variables(role):
    assert set(spec_options(role)) == set(defaults(role))


@pytest.mark.parametrize(("role", "name"), OPTIONS)
def test_option_has_a_type_and_a_description(role, name):
    option = spec_options(role)[name]
    assert option.get("type")
    assert option.get("description")


@pytest.mark.parametrize(("role", "name"), OPTIONS)
def test_spec_default_equals_the_defaults_file(role, name):
    assert spec_options(role)[name].get("default") == defaults(role).get(name)


@pytest.mark.parametrize(("role", "name"), OPTIONS)
def test_option_starts_with_the_role_name(role, name):
    assert name.startswith(f"{role}_")


@pytest.mark.parametrize("role", ROLES)
def test_readme_variables_table_is_up_to_date(role):
    role_dir = ROOT / "roles" / role
    assert role_docs.render_readme(role_dir) == (role_dir / "README.md").read_text(), (
        "README.md is out of date: run `python tools/role_docs.py`"
    )


def demo_role(roles_dir: Path, options_yaml: str, readme_text: str) -> Path:
    """A role "demo" under roles_dir with the given argument-spec options; returns its README."""
    role_dir = roles_dir / "demo"
    (role_dir / "meta").mkdir(parents=True)
    (role_dir / "meta" / "argument_specs.yml").write_text("argument_specs:\n  main:\n    options:\n" + options_yaml)
    readme = role_dir / "README.md"
    readme.write_text(readme_text)
    return readme


def test_role_docs_check_names_a_stale_readme(tmp_path, capsys):
    readme = demo_role(
        tmp_path,
        "      demo_port:\n        type: int\n        default: 8080\n        description: Port to listen on.\n",
        "# demo\n\n<!-- BEGIN VARIABLES -->\nold table\n<!-- END VARIABLES -->\n",
    )
    assert role_docs.main(["--check", f"--roles-dir={tmp_path}"]) == 1
    assert f"{readme} is out of date" in capsys.readouterr().err
    assert "old table" in readme.read_text()


def test_role_docs_writes_the_table_between_the_markers(tmp_path):
    readme = demo_role(
        tmp_path,
        "      demo_ports:\n        type: list\n        elements: int\n"
        "        default: [80, 443]\n        description: Ports | to open.\n",
        "# demo\n\n<!-- BEGIN VARIABLES -->\n<!-- END VARIABLES -->\n\nMore text.\n",
    )
    assert role_docs.main([f"--roles-dir={tmp_path}"]) == 0
    assert readme.read_text() == (
        "# demo\n\n<!-- BEGIN VARIABLES -->\n"
        "| Variable | Type | Default | Description |\n"
        "| --- | --- | --- | --- |\n"
        "| `demo_ports` | list of int | `[80, 443]` | Ports \\| to open. |\n"
        "<!-- END VARIABLES -->\n\nMore text.\n"
    )
