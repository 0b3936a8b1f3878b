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
from dataclasses import dataclass
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


@dataclass
class Measured:
    """One site.yml run with what the bench reads from it."""

    label: str
    run: Run
    logins: int
    costs: dict

    @property
    def changed(self) -> int:
        return sum(host["changed"] for host in self.run.recap.values())


def timed_run(label: str) -> Measured:
    """Run site.yml; keep the run, the logins the bastion accepted meanwhile, and its costs."""
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
    return Measured(label, run, logins, costs)


def print_most_expensive(measured: Measured) -> None:
    print(f"\nThe ten most expensive tasks of the {measured.label}:")
    for task in most_expensive(measured.costs):
        print(f"  {task['seconds']:7.2f} s  {task['name']}")


def print_table(runs: list[Measured]) -> None:
    rows = [
        ("seconds", [f"{m.run.seconds:.2f}" for m in runs]),
        ("tasks run", [str(m.run.tasks) for m in runs]),
        ("changed", [str(m.changed) for m in runs]),
        *(
            (f"{kind} executions", [str(m.costs["executions"][kind]) for m in runs])
            for kind in ("remote", "local", "skipped")
        ),
        ("bastion SSH logins", [str(m.logins) for m in runs]),
    ]
    print()
    print(f"{'':<22}" + "".join(f"{m.label:>18}" for m in runs))
    for name, values in rows:
        print(f"{name:<22}" + "".join(f"{value:>18}" for value in values))


def main() -> int:
    subprocess.run([sys.executable, str(labctl.ROOT / "lab" / "labctl.py"), "up", "--fresh"], check=True)
    converge = timed_run("converge")
    rerun = timed_run("re-run")
    runs = [converge, rerun]

    print_table(runs)
    for measured in runs:
        print_most_expensive(measured)
    ratio = rerun.run.seconds / converge.run.seconds
    logins_per_run = (converge.logins + rerun.logins) / 2
    print(f"\nre-run / converge time ratio: {ratio:.2f}; the re-run changed {rerun.changed} task(s)")
    print(
        f"converge_s={converge.run.seconds:.2f} rerun_s={rerun.run.seconds:.2f} ratio={ratio:.2f} "
        f"tasks={converge.run.tasks} bastion_logins_per_run={logins_per_run:g} "
        f"rerun_remote={rerun.costs['executions']['remote']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
