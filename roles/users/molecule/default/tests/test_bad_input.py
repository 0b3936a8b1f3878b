"""Bad input stops the role with a message that says what to fix, and changes nothing.

bad_input.yml includes the role once per mistake against this instance and
compares fingerprints of the accounts, groups, sudo drop-ins and homes.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

PLAYBOOK = Path(__file__).resolve().parents[1] / "bad_input.yml"


@pytest.mark.skipif("MOLECULE_INVENTORY_FILE" not in os.environ, reason="runs under molecule verify")
def test_bad_input_is_refused_with_its_message_and_changes_nothing():
    inventory = Path(os.environ["MOLECULE_INVENTORY_FILE"]).parent
    ansible_playbook = Path(sys.executable).with_name("ansible-playbook")
    run = subprocess.run(
        [str(ansible_playbook), "-i", str(inventory), str(PLAYBOOK)],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
