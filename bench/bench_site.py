#!/usr/bin/env python3
"""Time site.yml on a fresh lab: first converge, then a no-op re-run.

Prints the figures for one run, measured side by side, and ends with one
machine-readable line:
  converge_s=<s> rerun_s=<s> ratio=<r> tasks=<n> bastion_logins_per_run=<n>
No figure is asserted anywhere: machines are noisy, compare the ratio.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lab import labctl  # noqa: E402 - needs ROOT on sys.path
from lab.harness import Run, accepted_logins, run_playbook  # noqa: E402


def timed_run(label: str) -> tuple[Run, int]:
    """Run site.yml; return the run and how many logins the bastion accepted meanwhile."""
    before = len(accepted_logins(labctl.BASTION))
    run = run_playbook()
    logins = len(accepted_logins(labctl.BASTION)) - before
    if run.returncode != 0:
        print(run.output[-3000:])
        raise SystemExit(f"bench: the {label} run failed (exit {run.returncode})")
    return run, logins


def main() -> int:
    subprocess.run([sys.executable, str(labctl.ROOT / "lab" / "labctl.py"), "up", "--fresh"], check=True)
    converge, converge_logins = timed_run("converge")
    rerun, rerun_logins = timed_run("re-run")
    changed = sum(host["changed"] for host in rerun.recap.values())
    ratio = rerun.seconds / converge.seconds
    logins_per_run = (converge_logins + rerun_logins) / 2

    print()
    print(f"{'':<28}{'converge':>10}{'re-run':>10}")
    print(f"{'seconds':<28}{converge.seconds:>10.2f}{rerun.seconds:>10.2f}")
    print(f"{'tasks run':<28}{converge.tasks:>10}{rerun.tasks:>10}")
    print(f"{'bastion SSH logins':<28}{converge_logins:>10}{rerun_logins:>10}")
    print(f"re-run / converge time ratio: {ratio:.2f}; re-run changed {changed} task(s)")
    print(
        f"converge_s={converge.seconds:.2f} rerun_s={rerun.seconds:.2f} ratio={ratio:.2f} "
        f"tasks={converge.tasks} bastion_logins_per_run={logins_per_run:g}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
