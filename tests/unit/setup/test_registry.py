"""Tool setups are a registry: a throwaway third tool ("toy", tests/support/toy_kimrel.py) is
registered and goes through `setup toy`, `setup status`, `launch kimrel-toy` and `setup undo toy`,
the real CLI code paths in a real process, with nothing in kimrel edited for it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kimrel_cli.relay.state import RelayState, write_state
from kimrel_cli.setup import registry

TOY_KIMREL = Path(__file__).resolve().parents[2] / "support" / "toy_kimrel.py"
TOKEN = "kr-local-toy-registry"
STAND_IN = """#!/bin/sh
if [ "$1" = "--version" ]; then echo "kimrel-toy 9.9.9"; exit 0; fi
printf '%s\\n' "$@" > "$TOY_OUT.args"
printf '%s' "$TOY_TOKEN" > "$TOY_OUT.token"
if [ "$3" = "--config" ]; then cat "$4" > "$TOY_OUT.config"; fi
exit 0
"""


def _toy_kimrel(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(TOY_KIMREL), *args],
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "COLUMNS": "100"},
    )


@pytest.fixture
def toy(sandbox: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The stand-in `kimrel-toy` on PATH (records its arguments, token and private config) and
    a simulator relay "running" in this process, announced in relay.json."""
    bin_dir = sandbox / "bin"
    bin_dir.mkdir()
    (bin_dir / "kimrel-toy").write_text(STAND_IN)
    (bin_dir / "kimrel-toy").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("TOY_OUT", str(sandbox / "toy"))
    write_state(
        RelayState(
            pid=os.getpid(),
            host="127.0.0.1",
            port=9,
            url="http://127.0.0.1:9",
            upstream="http://sim",
            simulate=True,
            account=None,
            started_at=time.time(),
            token=TOKEN,
        )
    )
    return sandbox / "toy"


def test_a_third_tool_is_one_module_and_one_registry_line(toy, sandbox):
    config = sandbox / "home" / ".toy" / "config.json"
    config.parent.mkdir()
    original = b'{\n    "theme": "dark"\n}\n'
    config.write_bytes(original)

    listed = _toy_kimrel("setup", "--help")
    assert listed.returncode == 0 and "toy" in listed.stdout, listed.stderr
    refused = _toy_kimrel("setup", "toy", "--model", "kimi-k2.66", "--yes")
    assert refused.returncode == 1 and "Did you mean 'kimi-k2.6'" in refused.stderr
    assert config.read_bytes() == original

    done = _toy_kimrel("setup", "toy", "--model", "kimi-k2.6", "--yes")
    assert done.returncode == 0, done.stderr
    assert "configured toy" in done.stderr and "kimrel setup undo toy" in done.stderr
    assert '+    "kimrel": {' in done.stdout, "the diff is shown, in the file's indentation"
    written = json.loads(config.read_text())
    assert written == {
        "theme": "dark",
        "kimrel": {"base_url": "http://127.0.0.1:9", "token": TOKEN, "model": "kimi-k2.6"},
    }
    assert config.stat().st_mode & 0o077 == 0, "a file holding the relay token is 0600"
    again = _toy_kimrel("setup", "toy", "--model", "kimi-k2.6", "--yes")
    assert again.returncode == 0 and "already configured" in again.stderr

    status = _toy_kimrel("setup", "status", "--json")
    assert status.returncode == 0, status.stderr
    rows = {row["tool"]: row for row in json.loads(status.stdout)["tools"]}
    assert list(rows) == ["claude-code", "codex", "toy"]
    assert rows["toy"] == {
        "tool": "toy",
        "installed": True,
        "version": "9.9.9",
        "file": str(config),
        "via": "relay",
        "problem": None,
    }

    launched = _toy_kimrel("launch", "kimrel-toy", "--simulate", "--model", "kimi-k2", "hello")
    assert launched.returncode == 0, launched.stderr
    args = Path(f"{toy}.args").read_text().splitlines()
    assert args[:3] == ["--base-url", "http://127.0.0.1:9", "--config"] and args[-1] == "hello"
    assert Path(f"{toy}.token").read_text() == TOKEN
    assert json.loads(Path(f"{toy}.config").read_text()) == {"model": "kimi-k2"}
    assert not Path(args[3]).exists(), "the private file is removed after the run"
    assert Path(args[3]).name.startswith("launch-kimrel-toy-")

    unknown = _toy_kimrel("setup", "undo", "nothing")
    assert unknown.returncode == 1 and "claude-code, codex or toy" in unknown.stderr
    undone = _toy_kimrel("setup", "undo", "toy")
    assert undone.returncode == 0, undone.stderr
    assert config.read_bytes() == original


def test_the_registry_refuses_a_second_tool_with_a_taken_name_or_program():
    class Again:
        name, program = "claude-code", "something-else"

    class SameProgram:
        name, program = "something-else", "codex"

    for target in (Again(), SameProgram()):
        with pytest.raises(ValueError, match="exists"):
            registry.register(target)  # type: ignore[arg-type]
    assert list(registry.TARGETS) == ["claude-code", "codex"]
