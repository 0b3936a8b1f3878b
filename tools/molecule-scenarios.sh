#!/usr/bin/env bash
# Run the default molecule scenario of each named role in one release's lab
# image, MOLECULE_JOBS (default 2) at a time. Scenarios of different roles can
# run side by side: each container is named after its role, and the scenarios
# that need a network make their own subnet. Each scenario's output goes to
# .cache/molecule/<release>-<role>.log and is printed whole when it ends, with
# its time; the script fails, after the running ones end, if any failed.
#   tools/molecule-scenarios.sh debian12 firewall users
set -euo pipefail

if [[ $# -lt 2 ]]; then
  echo "usage: $0 RELEASE ROLE [ROLE ...]" >&2
  exit 2
fi
release=$1
shift
jobs=${MOLECULE_JOBS:-2}
if ! [[ $jobs =~ ^[1-9][0-9]*$ ]]; then
  echo "MOLECULE_JOBS must be a positive number, not '$jobs'" >&2
  exit 2
fi

root=$(cd "$(dirname "$0")/.." && pwd)
logs=$root/.cache/molecule
mkdir -p "$logs"
image=$("${PYTHON:-$root/.venv/bin/python}" "$root/lab/labctl.py" image --release "$release")

declare -A started=() role_of=()
failed=()

run_one() {
  local role=$1
  cd "$root/roles/$role"
  LAB_IMAGE=$image MOLECULE_PLATFORM_NAME=molecule-$role \
    molecule -c "$root/molecule/config.yml" test
}

# Print the log of the scenario that ran as process $1, which ended with status $2.
report() {
  local pid=$1 status=$2 role=${role_of[$1]}
  echo "== molecule: $role ($release)"
  cat "$logs/$release-$role.log"
  if [[ $status -eq 0 ]]; then
    echo "== molecule: $role ($release) passed in $((SECONDS - started[$pid])) s"
  else
    echo "== molecule: $role ($release) FAILED (exit $status) after $((SECONDS - started[$pid])) s"
    failed+=("$role")
  fi
  unset "role_of[$pid]"
}

# Wait for any one scenario to end and report it.
reap() {
  local pid status=0
  wait -n -p pid "${!role_of[@]}" || status=$?
  report "$pid" "$status"
}

for role in "$@"; do
  while [[ ${#role_of[@]} -ge $jobs ]]; do
    reap
  done
  run_one "$role" >"$logs/$release-$role.log" 2>&1 &
  started[$!]=$SECONDS
  role_of[$!]=$role
done
while [[ ${#role_of[@]} -gt 0 ]]; do
  reap
done

if [[ ${#failed[@]} -gt 0 ]]; then
  echo "== molecule ($release): failed: ${failed[*]}" >&2
  exit 1
fi
echo "== molecule ($release): all ${#} scenarios passed"
