# Entry points. `make lab` and `make test` do all set-up on first use and skip
# what is still valid afterwards (stamps hold the hashes of their inputs).
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

ROOT := $(abspath .)
VENV := $(ROOT)/.venv
PY := $(VENV)/bin/python
LABCTL := $(PY) lab/labctl.py

export PATH := $(VENV)/bin:$(PATH)
export CONTAINERS_CONF := $(ROOT)/lab/containers.conf
# Molecule runs from each role's folder, where ansible.cfg is not read.
export ANSIBLE_COLLECTIONS_PATH := $(ROOT)/collections
export ANSIBLE_CONFIG := $(ROOT)/ansible.cfg
export PY_COLORS := 0
export ANSIBLE_FORCE_COLOR := 0

ROLES_WITH_SCENARIOS := $(patsubst roles/%/molecule/default/molecule.yml,%,$(wildcard roles/*/molecule/default/molecule.yml))
# Roles whose meta/main.yml names Ubuntu 24.04 (noble): `make molecule-noble`
# runs their default scenario again, in the lab's Ubuntu 24.04 image. Not part
# of `make test`: the four take about 17 minutes, which CI's time does not have.
ROLES_ON_NOBLE := $(patsubst roles/%/meta/main.yml,%,$(shell grep -l -- '- noble$$' roles/*/meta/main.yml))

.PHONY: help setup host venv collections lab lab-up lab-down clean test lint unit molecule molecule-noble lab-test patch audit bench bench-env lock-controller \
	lock lock-check lock-review

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

# ------------------------------------------------------------------ set-up

setup: host venv collections ## Install everything the controller needs

host: ## Install the Debian packages (podman, runc, mmdebstrap, ssh)
	@tools/setup-host.sh

venv: host ## Create .venv from the hash-locked requirements/controller.txt
	@tools/setup-venv.sh

collections: venv ## Install exactly the collections of requirements.yml
	@$(PY) tools/install_collections.py

# ------------------------------------------------------------------ the lab

lab: lab-up ## Build the lab and provision it through the bastion (site.yml)
	source .lab/env && ansible-playbook -i inventory/lab.aws_ec2.yml site.yml

lab-up: setup ## Start the lab (reuses a healthy one)
	@$(LABCTL) up

lab-down: ## Remove the lab's containers, networks, moto and keys
	@if [ -x $(PY) ]; then $(LABCTL) down; else python3 lab/labctl.py down; fi

clean: lab-down ## Also remove the lab image, .venv, collections and caches
	@$(PY) lab/labctl.py down --images 2>/dev/null || true
	rm -rf .venv collections .cache

# ------------------------------------------------------------------ tests

# The stages of `make test`, in order; their times and the total are printed at
# the end, beside the budget the README states for a fresh machine.
TEST_STAGES := setup lint lock-check unit molecule lab-test
TEST_BUDGET_MINUTES ?= 50

test: ## The whole suite: lint, lock-check, unit, molecule, lab (prints each stage's time)
	@MAKE="$(MAKE)" TEST_BUDGET_MINUTES=$(TEST_BUDGET_MINUTES) tools/test-stages.sh $(TEST_STAGES)

lint: setup ## ansible-lint (production profile), yamllint, ruff
	ansible-lint
	yamllint --strict .
	ruff check .
	ruff format --check .

unit: setup ## Unit tests of the Python helpers, plugins and role interfaces
	pytest tests/unit

# MOLECULE_JOBS scenarios at a time (default 2); each one's log is printed when it ends.
molecule: setup ## Every role's molecule scenario (podman, testinfra, idempotence)
	@PYTHON=$(PY) tools/molecule-scenarios.sh debian12 $(ROLES_WITH_SCENARIOS)

molecule-noble: setup ## The scenarios of the roles that support Ubuntu 24.04, in its image (not in make test)
	@PYTHON=$(PY) tools/molecule-scenarios.sh ubuntu2404 $(ROLES_ON_NOBLE)

lab-test: setup ## site.yml through the bastion on a fresh lab, twice; error paths
	pytest tests/lab --durations=15

patch: lab ## Apply security updates to the lab server (playbooks/patch.yml)
	source .lab/env && ansible-playbook -i inventory/lab.aws_ec2.yml playbooks/patch.yml

audit: patch ## Lynis and ssh-audit figures for the provisioned, patched lab server beside the unhardened image
	$(PY) lab/audit.py

bench: setup ## Converge and re-run timings of site.yml on the lab
	$(PY) bench/bench_site.py

# ------------------------------------------------------------------ locks

lock-controller: venv ## Regenerate requirements/*.txt from the .in files
	@tools/lock-controller.sh

# The analysts' lock: python-env/{requirements.in,pylock.toml,approvals.toml}.
COOLDOWN_DAYS ?= 7
BASE ?= $(shell git rev-parse --verify --quiet origin/main >/dev/null && echo origin/main || echo HEAD)
LOCKCTL := $(PY) tools/lockctl.py
UV := $(ROOT)/.cache/lock-tools/bin/uv

lock: venv $(UV) ## Regenerate python-env/pylock.toml (COOLDOWN_DAYS=7; UPGRADE=1 for newest versions)
	@$(LOCKCTL) lock --cooldown-days $(COOLDOWN_DAYS) $(if $(UPGRADE),--upgrade)

lock-check: venv ## Is python-env/pylock.toml acceptable? Offline; part of make test
	@$(LOCKCTL) check --cooldown-days $(COOLDOWN_DAYS)

lock-review: venv ## Markdown report of the lock against BASE (default origin/main, else HEAD)
	@$(LOCKCTL) review --base $(BASE) --cooldown-days $(COOLDOWN_DAYS)

# uv, hash-pinned, in a throwaway folder: as tools/lock-controller.sh gets it.
$(UV):
	$(PY) -m venv $(ROOT)/.cache/lock-tools
	PIP_CONFIG_FILE=/dev/null $(ROOT)/.cache/lock-tools/bin/python -m pip install --quiet --require-hashes --no-deps \
	  -r requirements/lock-tools.txt

bench-env: setup $(UV) ## The environment's build beside uv's, and a no-op run, on the lab (LOCK=path)
	$(PY) bench/bench_env.py
