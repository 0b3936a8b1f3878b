"""Callback ``run_costs``: where a playbook run's time goes, written as JSON for `make bench`.

For each task it records the seconds from its start to the next task's start
(as ansible.posix's profile_tasks does) and, for each host's result, whether
the task executed on the remote host or only on the controller, and whether it
was skipped. The file named by RUN_COSTS_FILE receives, at the end of the run:

  {"tasks": [{"name": ..., "seconds": ...}, ...],
   "executions": {"remote": n, "local": n, "skipped": n}}

A loop counts one execution per item. Enable it with
ANSIBLE_CALLBACK_PLUGINS=bench/callback_plugins ANSIBLE_CALLBACKS_ENABLED=run_costs.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
    name: run_costs
    type: aggregate
    short_description: Task times and remote/local execution counts, as JSON
    description:
      - Writes the seconds of each task and the number of remote, local and skipped executions
        to the file named by the RUN_COSTS_FILE environment variable when the run ends.
    requirements:
      - enabled in callbacks_enabled, RUN_COSTS_FILE set
"""

# Actions that Ansible carries out on the controller: they send nothing to the host.
LOCAL_ACTIONS = frozenset(
    f"{prefix}{name}"
    for prefix in ("", "ansible.builtin.", "ansible.legacy.")
    for name in (
        "add_host",
        "assert",
        "debug",
        "fail",
        "group_by",
        "include_role",
        "include_tasks",
        "include_vars",
        "import_role",
        "import_tasks",
        "meta",
        "pause",
        "set_fact",
        "set_stats",
        "validate_argument_spec",
    )
)
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1"})


def execution_kind(action: str, host: str, delegate_to: str | None, connection: str | None) -> str:
    """'local' when the task ran on the controller only, else 'remote'."""
    if action in LOCAL_ACTIONS:
        return "local"
    target = delegate_to or host
    if target in LOCAL_HOSTS or (connection == "local" and not delegate_to):
        return "local"
    return "remote"


def summary(tasks: list[tuple[str, float]], counts: dict[str, int]) -> dict[str, Any]:
    """The JSON document: tasks in run order with their seconds, and the execution counts."""
    return {
        "tasks": [{"name": name, "seconds": round(seconds, 3)} for name, seconds in tasks],
        "executions": {kind: counts.get(kind, 0) for kind in ("remote", "local", "skipped")},
    }


def most_expensive(document: dict[str, Any], count: int = 10) -> list[dict[str, Any]]:
    """The count slowest tasks of a run_costs document, slowest first."""
    return sorted(document["tasks"], key=lambda task: task["seconds"], reverse=True)[:count]


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "run_costs"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self) -> None:
        super().__init__()
        self._tasks: list[tuple[str, float]] = []
        self._current: tuple[str, float] | None = None
        self._counts: dict[str, int] = {}

    def _close_current(self) -> None:
        if self._current is not None:
            name, started = self._current
            self._tasks.append((name, time.monotonic() - started))
            self._current = None

    def _start(self, task: Any) -> None:
        self._close_current()
        role = getattr(task, "_role", None)
        name = task.get_name().strip()
        self._current = (f"{role.get_name()} : {name}" if role and " : " not in name else name, time.monotonic())

    def v2_playbook_on_task_start(self, task: Any, is_conditional: bool) -> None:
        self._start(task)

    def v2_playbook_on_handler_task_start(self, task: Any) -> None:
        self._start(task)

    def _count(self, result: Any, skipped: bool = False) -> None:
        if skipped:
            kind = "skipped"
        else:
            task = result._task
            host = result._host
            kind = execution_kind(
                task.action, host.get_name(), task.delegate_to, host.get_vars().get("ansible_connection")
            )
        self._counts[kind] = self._counts.get(kind, 0) + 1

    @staticmethod
    def _looped(result: Any) -> bool:
        return bool(result._result.get("results")) and result._task.loop is not None

    def v2_runner_on_ok(self, result: Any) -> None:
        if not self._looped(result):
            self._count(result)

    def v2_runner_on_failed(self, result: Any, ignore_errors: bool = False) -> None:
        if not self._looped(result):
            self._count(result)

    def v2_runner_on_skipped(self, result: Any) -> None:
        if not self._looped(result):
            self._count(result, skipped=True)

    def v2_runner_item_on_ok(self, result: Any) -> None:
        self._count(result)

    def v2_runner_item_on_failed(self, result: Any) -> None:
        self._count(result)

    def v2_runner_item_on_skipped(self, result: Any) -> None:
        self._count(result, skipped=True)

    def v2_playbook_on_stats(self, stats: Any) -> None:
        self._close_current()
        path = os.environ.get("RUN_COSTS_FILE")
        if path:
            Path(path).write_text(json.dumps(summary(self._tasks, self._counts), indent=1), encoding="utf-8")
