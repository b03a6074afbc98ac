#!/usr/bin/env bash
# The test command (README): install kimrel with its test extras, lint, and run pytest inside a
# private D-Bus session with an unlocked gnome-keyring, so the keyring tests use a real
# Secret Service. Arguments go to pytest. pytest's exit code 5 (no tests collected) fails.
#
# Where it installs: into the Python environment `python3` runs in when that is a virtual
# environment (an activated venv, or a conda env); otherwise into `.venv` in the repository,
# created on first use. So it works as written on a system Python that refuses pip installs
# (Debian/Ubuntu, PEP 668) and never touches that Python's packages.
set -uo pipefail
cd "$(dirname "$0")/.."
say() { echo "test.sh: $*" >&2; }

if python3 -c 'import sys; sys.exit(0 if sys.prefix != sys.base_prefix else 1)' 2>/dev/null \
  || [ -n "${CONDA_PREFIX:-}" ]; then
  py=$(python3 -c 'import sys; print(sys.executable)')
else
  if [ ! -x .venv/bin/python ]; then
    say "creating a virtual environment in .venv ($(python3 --version 2>&1))"
    if ! python3 -m venv .venv; then
      say "cannot create .venv. On Debian/Ubuntu: sudo apt install python3-venv"
      rm -rf .venv
      exit 1
    fi
  fi
  py=$PWD/.venv/bin/python
fi

started=$SECONDS
say "installing kimrel and its test tools (pip install -e '.[test]') into $(dirname "$(dirname "$py")")…"
pip_log=$(mktemp)
"$py" -m pip install -q --disable-pip-version-check -e '.[test]' >"$pip_log" 2>&1
pip_rc=$?
grep -v -e 'WARNING: Running pip as' -e '^\[notice\]' -e "^WARNING: Location '" "$pip_log" >&2
rm -f "$pip_log"
if [ "$pip_rc" -ne 0 ]; then
  say "pip install failed (exit $pip_rc; its messages are above)"
  exit 1
fi
say "installed in $((SECONDS - started)) s; linting (ruff check, ruff format --check, mypy)"
"$py" -m ruff check kimrel_cli tests benchmarks || exit 1
"$py" -m ruff format --check kimrel_cli tests benchmarks || exit 1
"$py" -m mypy || exit 1  # [tool.mypy] in pyproject.toml: which packages, strict

say "running pytest $*"
export KIMREL_TEST_PYTHON=$py
inner='
if command -v gnome-keyring-daemon >/dev/null; then
  keyring_home=$(mktemp -d)   # a fresh keyring, never the real home'"'"'s
  eval "$(printf "kimrel-ci" | XDG_DATA_HOME="$keyring_home" gnome-keyring-daemon --unlock --components=secrets 2>/dev/null)" || true
  export KIMREL_TEST_SECRET_SERVICE=1
fi
"$KIMREL_TEST_PYTHON" -m pytest -n "${KIMREL_TEST_WORKERS:-2}" "$@"  # 2 xdist workers; -n 0: serial
'
if command -v dbus-run-session >/dev/null; then
  dbus-run-session -- bash -c "$inner" pytest "$@" 2> >(grep -v "Failed to set fd limit" >&2)
else
  bash -c "$inner" pytest "$@"
fi
rc=$?
if [ "$rc" -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi
exit "$rc"
