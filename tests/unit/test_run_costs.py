"""The run_costs callback that `make bench` reads: task times and where each execution ran."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PLUGINS = ROOT / "bench" / "callback_plugins"
sys.path.insert(0, str(PLUGINS))

from run_costs import execution_kind, most_expensive, summary  # noqa: E402


@pytest.mark.parametrize(
    ("action", "host", "delegate_to", "connection", "kind"),
    [
        ("ansible.builtin.template", "analytics-server", None, "ssh", "remote"),
        ("template", "analytics-server", None, None, "remote"),
        ("amazon.aws.ec2_instance_info", "localhost", None, "local", "local"),
        ("ansible.builtin.command", "analytics-server", "localhost", "ssh", "local"),
        ("ansible.builtin.command", "localhost", "analytics-server", "local", "remote"),
        ("ansible.builtin.assert", "analytics-server", None, "ssh", "local"),
        ("set_fact", "analytics-server", None, "ssh", "local"),
        ("ansible.legacy.include_tasks", "analytics-server", None, "ssh", "local"),
    ],
)
def test_an_execution_is_remote_only_when_a_module_runs_on_another_host(action, host, delegate_to, connection, kind):
    assert execution_kind(action, host, delegate_to, connection) == kind


def test_the_most_expensive_tasks_come_slowest_first_and_at_most_count():
    document = summary([("a", 0.5), ("b", 2.0), ("c", 1.0), ("d", 0.1)], {"remote": 3})
    assert [task["name"] for task in most_expensive(document, count=2)] == ["b", "c"]
    assert document["executions"] == {"remote": 3, "local": 0, "skipped": 0}


PLAYBOOK = """
- name: A run to measure
  hosts: localhost
  gather_facts: false
  tasks:
    - name: A fact
      ansible.builtin.set_fact:
        probe: 1
    - name: A module per item
      ansible.builtin.command: "true"
      changed_when: false
      loop: [1, 2, 3]
    - name: A skipped task
      ansible.builtin.command: "false"
      when: false
"""


def test_a_real_run_writes_its_tasks_and_counts(tmp_path):
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAYBOOK)
    costs = tmp_path / "costs.json"
    env = dict(os.environ)
    env.update(
        {
            "ANSIBLE_CALLBACK_PLUGINS": str(PLUGINS),
            "ANSIBLE_CALLBACKS_ENABLED": "run_costs",
            "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
            "ANSIBLE_INVENTORY": "localhost,",
            "RUN_COSTS_FILE": str(costs),
        }
    )
    subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), str(playbook)],
        cwd=ROOT, env=env, check=True, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    document = json.loads(costs.read_text())
    assert [task["name"] for task in document["tasks"]] == ["A fact", "A module per item", "A skipped task"]
    assert all(task["seconds"] >= 0 for task in document["tasks"])
    # localhost runs its modules on the controller: one per item, the fact, the skip.
    assert document["executions"] == {"remote": 0, "local": 4, "skipped": 1}
