r"""A double backslash inside {{ }} means one backslash only in a double-quoted YAML string.

Ansible doubles every backslash of a {{ }} expression before Jinja reads its
string literals (conditionals such as `when:` are not templated that way). In a
double-quoted scalar YAML has already turned "\\S" into \S, so a regex filter
gets \S. In a plain, single-quoted or block scalar, '\\S' reaches the filter
as two backslashes, and the pattern looks for a literal backslash: patch.yml
once found no security update that way, however many were pending.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SKIP = {".venv", "collections", ".cache", ".lab", ".git"}
EXPRESSION = re.compile(r"\{\{.*?\}\}", re.DOTALL)


def yaml_files() -> list[Path]:
    return sorted(
        path
        for pattern in ("*.yml", "*.yaml")
        for path in ROOT.rglob(pattern)
        if not SKIP.intersection(path.relative_to(ROOT).parts)
    )


def scalars(node: yaml.Node):
    if isinstance(node, yaml.ScalarNode):
        yield node
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            yield from scalars(item)
    elif isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            yield from scalars(key)
            yield from scalars(value)


def doubled_backslashes(text: str) -> list[str]:
    r"""Where a YAML document writes \\ inside {{ }} outside double quotes: 'line N: expression'."""
    found = []
    for document in yaml.compose_all(text, Loader=yaml.SafeLoader):
        if document is None:
            continue
        for node in scalars(document):
            if node.style == '"':
                continue
            for expression in EXPRESSION.findall(node.value):
                if "\\\\" in expression:
                    found.append(f"line {node.start_mark.line + 1}: {' '.join(expression.split())}")
    return found


def test_the_check_finds_a_doubled_backslash_in_a_block_scalar():
    block = "msg: >-\n  {{ lines | select('match', '^Inst \\\\S+') | list }}\n"
    assert doubled_backslashes(block) == ["line 1: {{ lines | select('match', '^Inst \\\\S+') | list }}"]


def test_the_check_accepts_double_quotes_statements_and_conditionals():
    accepted = (
        "a: \"{{ x | regex_search('(\\\\S+)', '\\\\1') }}\"\n"
        "b: >-\n  {%- set y = x | regex_replace('\\\\s+', ' ') -%}{{ y }}\n"
        "when: x is search('\\\\b1')\n"
        "c: >-\n  {{ x | select('search', '\\tinstalled$') }}\n"
    )
    assert doubled_backslashes(accepted) == []


def test_there_are_yaml_files_to_check():
    assert ROOT / "site.yml" in yaml_files()


@pytest.mark.parametrize("path", yaml_files(), ids=lambda path: str(path.relative_to(ROOT)))
def test_no_doubled_backslash_inside_an_expression_outside_double_quotes(path):
    assert doubled_backslashes(path.read_text()) == []
