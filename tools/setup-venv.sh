#!/usr/bin/env bash
# Create .venv with the Python that .python-version names and install the
# controller lock into it with --require-hashes. A stamp holding the lock's
# hash makes a second run a no-op until requirements/controller.txt changes.
set -euo pipefail
cd "$(dirname "$0")/.."

lock=requirements/controller.txt
want=$(cat .python-version)
stamp=.venv/.lock-sha256
digest=$( (cat .python-version; cat "$lock") | sha256sum | cut -d' ' -f1)

if [[ -f $stamp && $(cat "$stamp") == "$digest" ]]; then
  exit 0
fi

# The interpreter: pyenv's when it has the version, else python3.12 on PATH.
python=""
if command -v pyenv >/dev/null && pyenv prefix "$want" >/dev/null 2>&1; then
  python="$(pyenv prefix "$want")/bin/python"
elif command -v "python${want%.*}" >/dev/null; then
  python=$(command -v "python${want%.*}")
fi
if [[ -z $python ]] || ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 12))'; then
  echo "setup: Python ${want} is needed (ansible-core 2.21 runs on 3.12+)." >&2
  echo "setup: install it with 'pyenv install ${want}' or your distribution's python3.12, then run again." >&2
  exit 1
fi

echo "setup: creating .venv with $("$python" --version) from $lock"
rm -rf .venv
"$python" -m venv .venv
# Only the lock, only with its hashes: a file that does not match is refused.
# PIP_CONFIG_FILE=/dev/null: the machine's pip configuration (extra indexes,
# find-links) plays no part; the files are those the lock was made from.
PIP_CONFIG_FILE=/dev/null .venv/bin/python -m pip install --quiet --require-hashes --no-deps --only-binary=:all: -r "$lock"
.venv/bin/python -m pip check >/dev/null
echo "$digest" > "$stamp"
