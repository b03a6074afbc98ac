#!/usr/bin/env bash
# The test command (README): install kimrel with its test extras, lint, and run pytest inside a
# private D-Bus session with an unlocked gnome-keyring, so the keyring tests use a real
# Secret Service. pytest's exit code 5 (no tests collected) counts as a failure here.
set -uo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install -q -e '.[test]' 2>&1 | grep -v -e 'WARNING: Running pip as' -e 'notice' || true
python3 -m ruff check kimrel_cli tests benchmarks || exit 1
inner='
if command -v gnome-keyring-daemon >/dev/null; then
  keyring_home=$(mktemp -d)   # a fresh keyring, never the real home'"'"'s
  eval "$(printf "kimrel-ci" | XDG_DATA_HOME="$keyring_home" gnome-keyring-daemon --unlock --components=secrets 2>/dev/null)" || true
  export KIMREL_TEST_SECRET_SERVICE=1
fi
python3 -m pytest -n "${KIMREL_TEST_WORKERS:-2}" "$@"  # 2 xdist workers; -n 0: serial
'
if command -v dbus-run-session >/dev/null; then
  dbus-run-session -- bash -c "$inner" pytest "$@" 2> >(grep -v "Failed to set fd limit" >&2)
else
  bash -c "$inner" pytest "$@"
fi
rc=$?
if [ "$rc" -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi
exit "$rc"
