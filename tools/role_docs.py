#!/usr/bin/env python3
"""Write each role's README variables table from its meta/argument_specs.yml.

The argument spec is the one declared interface of a role (Ansible checks inputs
against it), so the README table is generated from it rather than kept by hand,
where it would drift. The table sits between the BEGIN/END VARIABLES markers;
the rest of the README is left as written. ``--check`` changes nothing and
exits 1 naming every README that is out of date (tests/unit runs it per role).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml

ROLES_DIR = Path(__file__).resolve().parent.parent / "roles"
BEGIN = "<!-- BEGIN VARIABLES -->"
END = "<!-- END VARIABLES -->"


class DocsError(Exception):
    """A role whose README cannot be generated; the message says what to fix."""


def cell(text: str) -> str:
    """Text safe inside one Markdown table cell: a pipe or newline would split the row."""
    return " ".join(text.split()).replace("|", "\\|")


def default_text(option: dict[str, Any]) -> str:
    """The default as a reader writes it in YAML; required options say so instead."""
    if option.get("required"):
        return "required"
    if "default" not in option or option["default"] is None:
        return ""
    value = option["default"]
    if isinstance(value, bool):
        shown = "true" if value else "false"
    elif isinstance(value, str) and value:
        shown = value
    else:
        shown = json.dumps(value)
    return f"`{cell(shown)}`"


def type_text(option: dict[str, Any]) -> str:
    kind = option.get("type", "str")
    return f"{kind} of {option['elements']}" if "elements" in option else kind


def description_text(option: dict[str, Any]) -> str:
    """Argument specs allow a string or a list of paragraphs; a table cell holds one line."""
    description = option.get("description", "")
    paragraphs = [description] if isinstance(description, str) else description
    text = " ".join(str(p) for p in paragraphs)
    if "choices" in option:
        text += " One of " + ", ".join(f"`{c}`" for c in option["choices"]) + "."
    return cell(text)


def render_table(role_dir: Path) -> str:
    """The Markdown table of the role's `main` entry point, in the spec's order."""
    spec_file = role_dir / "meta" / "argument_specs.yml"
    if not spec_file.is_file():
        raise DocsError(f"{spec_file} is missing; every role declares its inputs there")
    spec = yaml.safe_load(spec_file.read_text())
    options = (spec or {}).get("argument_specs", {}).get("main", {}).get("options") or {}
    rows = ["| Variable | Type | Default | Description |", "| --- | --- | --- | --- |"]
    for name, option in options.items():
        rows.append(f"| `{name}` | {type_text(option)} | {default_text(option)} | {description_text(option)} |")
    return "\n".join(rows)


def render_readme(role_dir: Path) -> str:
    """The README with a freshly generated table between the markers."""
    readme = role_dir / "README.md"
    if not readme.is_file():
        raise DocsError(f"{readme} is missing; write one with the lines {BEGIN} and {END} where the table goes")
    text = readme.read_text()
    head, begin, rest = text.partition(BEGIN)
    _, end, tail = rest.partition(END)
    if not begin or not end:
        raise DocsError(f"{readme} needs the lines {BEGIN} and {END} (in that order) around the variables table")
    return f"{head}{BEGIN}\n{render_table(role_dir)}\n{END}{tail}"


def roles(roles_dir: Path) -> list[Path]:
    return sorted(path for path in roles_dir.iterdir() if path.is_dir())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a README is out of date")
    parser.add_argument("--roles-dir", type=Path, default=ROLES_DIR, help="default: this repository's roles/")
    args = parser.parse_args(argv)

    failed = False
    for role_dir in roles(args.roles_dir):
        readme = role_dir / "README.md"
        try:
            wanted = render_readme(role_dir)
        except DocsError as err:
            print(f"role_docs: error: {err}", file=sys.stderr)
            failed = True
            continue
        if wanted == readme.read_text():
            continue
        if args.check:
            print(f"role_docs: {readme} is out of date; run `python tools/role_docs.py`", file=sys.stderr)
            failed = True
        else:
            readme.write_text(wanted)
            print(f"role_docs: updated {readme}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
