#!/usr/bin/env bash
# Run the stages of `make test` one after another, stopping at the first that
# fails, and print the time of each and the total at the end (also after a
# failure), beside the suite's budget (TEST_BUDGET_MINUTES, the README's
# figure for a fresh machine). The budget is reported, never enforced: a
# noisy machine must not fail a correct suite.
#   tools/test-stages.sh lint lock-check unit molecule lab-test
set -euo pipefail

if [[ $# -lt 1 ]]; then
  echo "usage: $0 STAGE [STAGE ...]" >&2
  exit 2
fi
budget=${TEST_BUDGET_MINUTES:-50}
if ! [[ $budget =~ ^[1-9][0-9]*$ ]]; then
  echo "TEST_BUDGET_MINUTES must be a positive number of minutes, not '$budget'" >&2
  exit 2
fi

names=()
seconds=()
failed=""
start=$SECONDS

summary() {
  local i total=$((SECONDS - start))
  echo
  echo "== make test: stage times"
  for i in "${!names[@]}"; do
    printf '  %-12s %5d s  (%d min %02d s)\n' "${names[$i]}" "${seconds[$i]}" $((seconds[i] / 60)) $((seconds[i] % 60))
  done
  printf '  %-12s %5d s  (%d min %02d s); budget %d min: %s\n' total "$total" $((total / 60)) $((total % 60)) \
    "$budget" "$([[ $total -le $((budget * 60)) ]] && echo within it || echo OVER it)"
  if [[ -n $failed ]]; then
    echo "== make test: stage '$failed' failed; the stages after it did not run"
  fi
}
trap summary EXIT

for stage in "$@"; do
  echo "== make test: $stage"
  stage_start=$SECONDS
  status=0
  "${MAKE:-make}" --no-print-directory "$stage" || status=$?
  names+=("$stage")
  seconds+=($((SECONDS - stage_start)))
  if [[ $status -ne 0 ]]; then
    failed=$stage
    exit "$status"
  fi
done
