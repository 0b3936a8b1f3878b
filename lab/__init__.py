"""The local lab: lab/labctl.py builds and removes it, lab/harness.py runs playbooks on it."""
