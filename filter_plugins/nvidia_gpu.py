"""Filters ``apt_components_plan`` and ``apt_sources_add_components``: add archive components to apt sources.

The NVIDIA driver lives in Debian's ``non-free`` component, nvidia-persistenced in
``contrib`` and the GPU firmware in ``non-free-firmware``; Debian's images enable
``main`` only. Debian 12 writes its sources either in the one-line format
(``/etc/apt/sources.list``) or in deb822 (``/etc/apt/sources.list.d/debian.sources``),
so the role does not edit them with a regular expression:

- ``apt_components_plan`` reads apt's own view of the sources (``apt-get indextargets``,
  whatever the format) and says which suites lack which components, and in which files
  their entries are;
- ``apt_sources_add_components`` adds the missing components to the Debian entries of
  one such file (the entries of those suites that carry ``main``, so a third-party
  repository that names a suite ``bookworm`` is left alone), keeping every other line.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from ansible.errors import AnsibleFilterError

# Debian's names for suites and components: lower-case letters, digits, "-", "." and "+".
NAME = re.compile(r"^[a-z0-9][a-z0-9.+-]*$")
# deb [options] URI suite component... [# comment]
ONE_LINE = re.compile(
    r"^(?P<entry>\s*(?P<type>deb|deb-src)\s+(?:\[[^\]]*\]\s+)?\S+\s+(?P<suite>\S+)(?P<components>(?:[ \t]+[^\s#]+)*))"
    r"(?P<rest>[ \t]*(?:#.*)?)$"
)
FIELD = re.compile(r"^(?P<name>[A-Za-z][A-Za-z0-9-]*):(?P<value>.*)$")


def _names(values: Any, what: str) -> list[str]:
    if not isinstance(values, list) or not values or not all(isinstance(v, str) and NAME.match(v) for v in values):
        raise AnsibleFilterError(f"{what} must be a non-empty list of suite or component names, got {values!r}")
    return values


def _missing_map(missing: Any) -> dict[str, list[str]]:
    if not isinstance(missing, dict):
        raise AnsibleFilterError(f"apt_sources_add_components: missing must map suites to components, got {missing!r}")
    for suite, components in missing.items():
        _names([suite], "apt_sources_add_components: a suite")
        _names(components, f"apt_sources_add_components: the components of {suite}")
    return missing


def apt_components_plan(lines: Any, suites: Any, components: Any) -> dict[str, Any]:
    """Which of ``suites`` lack which of ``components``, from ``apt-get indextargets`` lines.

    Each line is ``RELEASE|COMPONENT|SOURCESENTRY`` (the entry as ``file:number``), as the
    role asks indextargets to print them (a flat repository has neither release nor component).
    Returns ``configured`` (the suites apt knows, of those asked about), ``missing`` (suite
    to the components it lacks, in the order of ``components``, for configured suites only)
    and ``files`` (the files that hold the ``main`` entries of those suites, which is where
    the components are added).
    """
    suites = _names(suites, "apt_components_plan: suites")
    components = _names(components, "apt_components_plan: components")
    if not isinstance(lines, list) or not all(isinstance(line, str) for line in lines):
        raise AnsibleFilterError(f"apt_components_plan: lines must be a list of strings, got {lines!r}")
    present: dict[str, set[str]] = {}
    main_files: dict[str, set[str]] = {}
    for line in lines:
        if not line.strip():
            continue
        fields = line.split("|")
        if len(fields) != 3 or not fields[2].rpartition(":")[0]:
            raise AnsibleFilterError(
                f"apt_components_plan: {line!r} is not RELEASE|COMPONENT|FILE:ENTRY as indextargets prints it"
            )
        release, component, entry = fields
        present.setdefault(release, set()).add(component)
        if component == "main":
            main_files.setdefault(release, set()).add(entry.rpartition(":")[0])
    configured = [suite for suite in suites if suite in present]
    missing = {}
    for suite in configured:
        lacking = [component for component in components if component not in present[suite]]
        if lacking:
            missing[suite] = lacking
    files = sorted({path for suite in missing for path in main_files.get(suite, set())})
    return {"configured": configured, "missing": missing, "files": files}


def _add(existing: list[str], suites: list[str], missing: dict[str, list[str]]) -> list[str]:
    """The components to append to an entry of ``suites`` that has ``existing``; none unless it has main."""
    if "main" not in existing:
        return []
    added: list[str] = []
    for suite in suites:
        for component in missing.get(suite, []):
            if component not in existing and component not in added:
                added.append(component)
    return added


def _one_line(text: str, missing: dict[str, list[str]]) -> str:
    out = []
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        match = ONE_LINE.match(body)
        if match:
            added = _add(match["components"].split(), [match["suite"]], missing)
            if added:
                body = match["entry"] + " " + " ".join(added) + match["rest"]
        out.append(body + line[len(line.rstrip("\r\n")) :])
    return "".join(out)


def _deb822_stanza(lines: list[str], missing: dict[str, list[str]]) -> list[str]:
    """One stanza (its lines without the blank separator), with components added where due."""
    fields: dict[str, tuple[int, int, str, str]] = {}  # lower-case name: (first, end, name, value)
    index = 0
    while index < len(lines):
        match = FIELD.match(lines[index].rstrip("\r\n"))
        if not match:
            index += 1
            continue
        end = index + 1
        value = match["value"]
        while end < len(lines) and lines[end][:1] in (" ", "\t"):
            value += " " + lines[end].strip()
            end += 1
        fields[match["name"].lower()] = (index, end, match["name"], value)
        index = end
    types = fields.get("types", (0, 0, "", ""))[3].split()
    enabled = fields.get("enabled", (0, 0, "", "yes"))[3].strip().lower()
    if "components" not in fields or "suites" not in fields or enabled == "no":
        return lines
    if not {"deb", "deb-src"} & set(types):
        return lines
    first, end, name, value = fields["components"]
    existing = value.split()
    added = _add(existing, fields["suites"][3].split(), missing)
    if not added:
        return lines
    newline = lines[end - 1][len(lines[end - 1].rstrip("\r\n")) :] or "\n"
    return [*lines[:first], f"{name}: {' '.join(existing + added)}{newline}", *lines[end:]]


def _deb822(text: str, missing: dict[str, list[str]]) -> str:
    out: list[str] = []
    stanza: list[str] = []
    for line in text.splitlines(keepends=True):
        if line.strip():
            stanza.append(line)
            continue
        out.extend(_deb822_stanza(stanza, missing))
        stanza = []
        out.append(line)
    out.extend(_deb822_stanza(stanza, missing))
    return "".join(out)


def apt_sources_add_components(text: Any, path: Any, missing: Any) -> str:
    """``text`` of the apt source file ``path`` with the ``missing`` components added.

    ``missing`` maps a suite to the components its entries lack (``apt_components_plan``'s
    ``missing``). Only entries of those suites that carry ``main`` (Debian's archive)
    get them; the format follows the file name, as apt's does: ``.sources`` is deb822,
    anything else the one-line format. Returns ``text`` unchanged when nothing is due.
    """
    if not isinstance(text, str):
        raise AnsibleFilterError(f"apt_sources_add_components: the file's text must be a string, got {text!r}")
    if not isinstance(path, str) or not path.startswith("/"):
        raise AnsibleFilterError(f"apt_sources_add_components: path must be the file's absolute path, got {path!r}")
    missing = _missing_map(missing)
    return _deb822(text, missing) if path.endswith(".sources") else _one_line(text, missing)


class FilterModule:
    """Ansible entry point for the filters in this file."""

    def filters(self) -> dict[str, Callable[..., Any]]:
        return {"apt_components_plan": apt_components_plan, "apt_sources_add_components": apt_sources_add_components}
