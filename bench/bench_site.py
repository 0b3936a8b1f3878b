#!/usr/bin/env python3
"""Time site.yml on a fresh lab: first converge, then a no-op re-run.

Prints the figures for one run, measured side by side: seconds, tasks, the
executions on the hosts versus on the controller (bench/callback_plugins/
run_costs.py), bastion logins, and the ten most expensive tasks of each run.
Ends with one machine-readable line:
  converge_s=<s> rerun_s=<s> ratio=<r> tasks=<n> bastion_logins_per_run=<n> rerun_remote=<n>
No figure is asserted anywhere: machines are noisy, compare the ratio.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lab import labctl  # noqa: E402 - needs ROOT on sys.path
from lab.harness import Run, accepted_logins, run_playbook  # noqa: E402

sys.path.insert(0, str(ROOT / "bench" / "callback_plugins"))
from run_costs import most_expensive  # noqa: E402 - the callback's own reader

COSTS_ENV = {
    "ANSIBLE_CALLBACK_PLUGINS": str(ROOT / "bench" / "callback_plugins"),
    "ANSIBLE_CALLBACKS_ENABLED": "run_costs",
}


def timed_run(label: str) -> tuple[Run, int, dict]:
    """Run site.yml; return the run, the logins the bastion accepted meanwhile, and its costs."""
    before = len(accepted_logins(labctl.BASTION))
    with tempfile.NamedTemporaryFile(prefix="run-costs-", suffix=".json") as costs_file:
        run = run_playbook(set_env={**COSTS_ENV, "RUN_COSTS_FILE": costs_file.name})
        costs = json.loads(Path(costs_file.name).read_text() or "{}")
    logins = len(accepted_logins(labctl.BASTION)) - before
    if run.returncode != 0:
        print(run.output[-3000:])
        raise SystemExit(f"bench: the {label} run failed (exit {run.returncode})")
    if "executions" not in costs:
        raise SystemExit(f"bench: the {label} run wrote no run_costs figures (is the callback enabled?)")
    return run, logins, costs


def print_most_expensive(label: str, costs: dict) -> None:
    print(f"\nThe ten most expensive tasks of the {label}:")
    for task in most_expensive(costs):
        print(f"  {task['seconds']:7.2f} s  {task['name']}")


def main() -> int:
    subprocess.run([sys.executable, str(labctl.ROOT / "lab" / "labctl.py"), "up", "--fresh"], check=True)
    converge, converge_logins, converge_costs = timed_run("converge")
    rerun, rerun_logins, rerun_costs = timed_run("re-run")
    changed = sum(host["changed"] for host in rerun.recap.values())
    ratio = rerun.seconds / converge.seconds
    logins_per_run = (converge_logins + rerun_logins) / 2

    print()
    print(f"{'':<28}{'converge':>10}{'re-run':>10}")
    print(f"{'seconds':<28}{converge.seconds:>10.2f}{rerun.seconds:>10.2f}")
    print(f"{'tasks run':<28}{converge.tasks:>10}{rerun.tasks:>10}")
    for kind in ("remote", "local", "skipped"):
        label = f"{kind} executions"
        print(f"{label:<28}{converge_costs['executions'][kind]:>10}{rerun_costs['executions'][kind]:>10}")
    print(f"{'bastion SSH logins':<28}{converge_logins:>10}{rerun_logins:>10}")
    print_most_expensive("converge", converge_costs)
    print_most_expensive("re-run", rerun_costs)
    print(f"\nre-run / converge time ratio: {ratio:.2f}; re-run changed {changed} task(s)")
    print(
        f"converge_s={converge.seconds:.2f} rerun_s={rerun.seconds:.2f} ratio={ratio:.2f} "
        f"tasks={converge.tasks} bastion_logins_per_run={logins_per_run:g} "
        f"rerun_remote={rerun_costs['executions']['remote']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
