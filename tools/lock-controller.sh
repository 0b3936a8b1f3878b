#!/usr/bin/env bash
# Regenerate the controller locks from their .in files, with a hash for every
# file of every package. uv resolves for the Python of .python-version on
# manylinux x86_64; uv itself comes hash-pinned from requirements/lock-tools.txt
# into a throwaway folder and is never part of the controller environment.
set -euo pipefail
cd "$(dirname "$0")/.."

tools=.cache/lock-tools
if [[ ! -x $tools/bin/uv ]]; then
  .venv/bin/python -m venv "$tools"
  "$tools/bin/python" -m pip install --quiet --require-hashes --no-deps -r requirements/lock-tools.txt
fi

compile() {  # compile IN OUT [extra uv args]
  local in=$1 out=$2; shift 2
  "$tools/bin/uv" pip compile "$in" --quiet --generate-hashes \
    --python .venv/bin/python --python-platform x86_64-manylinux_2_28 \
    --index-url https://pypi.org/simple \
    --custom-compile-command "make lock-controller" "$@" -o "$out"
}
compile requirements/controller.in requirements/controller.txt
compile requirements/collections-source.in requirements/collections-source.txt --no-deps
compile requirements/lock-tools.in requirements/lock-tools.txt
echo "lock: requirements/*.txt regenerated; review the diff, then run make setup"
