"""Check mode says which environment the role would build and switch to, and changes nothing.

check_mode.yml applies the role with --check to the converged instance, with a lock whose
environment is not built, and compares snapshots of the layout and the egress window.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

PLAYBOOK = Path(__file__).resolve().parents[1] / "check_mode.yml"


@pytest.mark.skipif("MOLECULE_INVENTORY_FILE" not in os.environ, reason="runs under molecule verify")
def test_check_mode_reports_the_build_and_the_switch_and_changes_nothing():
    inventory = Path(os.environ["MOLECULE_INVENTORY_FILE"]).parent
    ansible_playbook = Path(sys.executable).with_name("ansible-playbook")
    run = subprocess.run(
        [str(ansible_playbook), "--check", "-i", str(inventory), str(PLAYBOOK)],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert re.search(
        r"Check mode: \S+ would build envs/[0-9a-f]{64} from file:///srv/mirror .* and switch "
        r"/opt/analytics-env/current from envs/[0-9a-f]{64} to envs/[0-9a-f]{64}\.",
        run.stdout,
    ), run.stdout[-6000:]
    assert re.search(r"changed=[1-9]", run.stdout), run.stdout[-2000:]
