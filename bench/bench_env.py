#!/usr/bin/env python3
"""Time the analysts' environment on the lab: the role's build, a reference installer, a no-op run.

On the lab's analytics server, from the lab's wheel mirror, for the lock of
python-env/ (the realistic analytics set; LOCK=path for another):

* env_build_s: playbooks/python-env.yml building the environment from nothing
  (egress window, venv, pip --require-hashes --no-index --only-binary=:all:,
  pip check, the switch), as site.yml runs it;
* reference_s: the same files installed by uv (the fastest installer at hand,
  hash-pinned in requirements/lock-tools.txt) on the same server from the same
  mirror, inside a window the bench opens and closes itself;
* noop_s: playbooks/python-env.yml again, with the environment already active.

The last line is machine-readable:
  env_build_s=<s> reference_s=<s> ratio=<r> noop_s=<s>
No figure is asserted anywhere: machines are noisy, compare the ratio.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lab import labctl  # noqa: E402 - needs ROOT on sys.path
from lab.harness import container_exec, run_playbook  # noqa: E402
from tools import pylock  # noqa: E402

SERVER = labctl.SERVER.container
ENV_ROOT = "/opt/analytics-env"
UV = ROOT / ".cache" / "lock-tools" / "bin" / "uv"
WINDOW_MINUTES = 20


def playbook(label: str, lock: Path) -> float:
    run = run_playbook("playbooks/python-env.yml", "--extra-vars", json.dumps({"python_env_lock": str(lock)}))
    if run.returncode != 0:
        print(run.output[-3000:])
        raise SystemExit(f"bench-env: the {label} run failed (exit {run.returncode})")
    return run.seconds


def reference_install(lock: Path) -> float:
    """uv installs the lock's files from the mirror into a scratch venv on the server."""
    if not UV.exists():
        raise SystemExit(f"bench-env: {UV} is missing; run `make lock` once to install the lock tools")
    (Path(labctl.STATE) / "bench-requirements.txt").write_text(pylock.requirements(pylock.load(lock)))
    labctl.podman("cp", str(UV), f"{SERVER}:/tmp/bench-uv")
    labctl.podman("cp", str(labctl.STATE / "bench-requirements.txt"), f"{SERVER}:/tmp/bench-requirements.txt")
    element = f"{labctl.MIRROR.address} . 6 . {labctl.MIRROR.port}"
    container_exec(SERVER, "nft", "add", "element", "inet", "firewall", "egress_window",
                   f"{{ {element} timeout {WINDOW_MINUTES}m }}")  # fmt: skip
    try:
        container_exec(SERVER, "rm", "-rf", "/tmp/bench-venv", "/tmp/bench-uv-cache")
        container_exec(SERVER, "/tmp/bench-uv", "venv", "--quiet", "--python", "/usr/bin/python3", "/tmp/bench-venv")
        started = time.monotonic()
        container_exec(
            SERVER, "/tmp/bench-uv", "pip", "install", "--quiet", "--python", "/tmp/bench-venv/bin/python",
            "--no-index", "--find-links", f"{labctl.MIRROR.url}/find-links.html", "--require-hashes",
            "--no-config", "--cache-dir", "/tmp/bench-uv-cache", "-r", "/tmp/bench-requirements.txt",
        )  # fmt: skip
        return time.monotonic() - started
    finally:
        container_exec(SERVER, "nft", "flush", "set", "inet", "firewall", "egress_window", check=False)
        container_exec(SERVER, "rm", "-rf", "/tmp/bench-uv", "/tmp/bench-venv", "/tmp/bench-uv-cache",
                       "/tmp/bench-requirements.txt", check=False)  # fmt: skip


def main() -> int:
    lock = Path(os.environ.get("LOCK", ROOT / "python-env" / "pylock.toml")).resolve()
    packages = pylock.load(lock).packages
    size = sum(wheel.size or 0 for package in packages for wheel in package.wheels) / 2**20
    subprocess.run([sys.executable, str(ROOT / "lab" / "labctl.py"), "up"], check=True)
    site = run_playbook("site.yml", "--extra-vars", json.dumps({"python_env_lock": str(lock)}))
    if site.returncode != 0:
        print(site.output[-3000:])
        raise SystemExit("bench-env: site.yml failed on the lab")
    # From nothing: the mirror is synced (site.yml did it), the server has no environment.
    container_exec(SERVER, "rm", "-rf", ENV_ROOT)
    build = playbook("build", lock)
    reference = reference_install(lock)
    noop = playbook("no-op", lock)
    ratio = build / reference

    print()
    print(f"lock: {lock.relative_to(ROOT) if lock.is_relative_to(ROOT) else lock} ({len(packages)} packages, "
          f"{size:.0f} MiB of wheels)")  # fmt: skip
    print(f"{'role build (playbook, pip)':<34}{build:>10.2f} s")
    print(f"{'reference (uv pip install)':<34}{reference:>10.2f} s")
    print(f"{'role no-op run (playbook)':<34}{noop:>10.2f} s")
    print(f"build / reference: {ratio:.2f}")
    print(f"env_build_s={build:.2f} reference_s={reference:.2f} ratio={ratio:.2f} noop_s={noop:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
