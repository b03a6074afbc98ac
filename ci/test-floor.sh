#!/usr/bin/env bash
# Test the lower bounds of pyproject.toml: install kimrel[test] with every direct dependency
# pinned to its floor (ci/constraints-floor.txt) into a throwaway venv, on the oldest supported
# Python when it is present, then run scripts/test.sh in it (ruff, then pytest without the
# real-client tests, which exercise Claude Code and Codex rather than our dependencies).
# Arguments go to pytest. FLOOR_PYTHON picks the interpreter.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { echo "test-floor.sh: $*" >&2; }

python=${FLOOR_PYTHON:-}
if [ -z "$python" ]; then
  for candidate in python3.10 "$HOME/.pyenv/versions/3.10"*/bin/python3.10 python3; do
    if "$candidate" -c 'import sys' >/dev/null 2>&1; then python=$candidate; break; fi
  done
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
started=$SECONDS
say "creating a throwaway venv with $("$python" --version 2>&1) ($python)"
"$python" -m venv "$work/venv"
say "installing kimrel[test] with the lower bounds pinned by ci/constraints-floor.txt…"
if ! "$work/venv/bin/python" -m pip install -q --disable-pip-version-check \
  -c ci/constraints-floor.txt -e '.[test]' >"$work/pip.log" 2>&1; then
  grep -v "^WARNING: Location '" "$work/pip.log" >&2
  say "pip could not install the floors"
  exit 1
fi
say "installed in $((SECONDS - started)) s: $("$work/venv/bin/python" -m pip list --format=freeze 2>/dev/null \
  | grep -i -E "^($(grep -v '^#' ci/constraints-floor.txt | sed -e 's/==.*//' -e 's/[-_]/[-_]/g' | paste -sd'|'))==" | paste -sd' ')"
VIRTUAL_ENV="$work/venv" PATH="$work/venv/bin:$PATH" bash scripts/test.sh -q -m "not realclient" "$@"
