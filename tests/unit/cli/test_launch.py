"""`kimrel launch`: help starts nothing, relays are never mixed, start failures say why, tokens.

The tools are stand-in scripts on PATH named `claude`/`codex` that record their arguments, the
relay token in their environment and the `--settings` file they were given; kimrel runs as its
console entry point (`python -m kimrel_cli`) in a subprocess.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kimrel_cli.relay.state import RelayState, read_state, write_state

KIMREL = [sys.executable, "-m", "kimrel_cli"]
FAKE = """#!/bin/sh
if [ "$1" = "--version" ]; then echo "9.9.9 (fake)"; exit 0; fi
out="$FAKE_OUT"
printf '%s\\n' "$@" > "$out.args"
printf '%s' "$KIMREL_RELAY_TOKEN" > "$out.token"
if [ "$1" = "--settings" ]; then cat "$2" > "$out.settings"; fi
exit 0
"""


@pytest.fixture
def fake_tools(sandbox: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = sandbox / "bin"
    bin_dir.mkdir()
    for name in ("claude", "codex"):
        path = bin_dir / name
        path.write_text(FAKE)
        path.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_OUT", str(sandbox / "fake"))
    return sandbox / "fake"


def _kimrel(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*KIMREL, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "COLUMNS": "100"},
    )


def _announce(*, simulate: bool, account: str | None = None, token: str | None = None) -> None:
    """relay.json for a relay "running" in this test process (a live pid)."""
    write_state(
        RelayState(
            pid=os.getpid(),
            host="127.0.0.1",
            port=9,
            url="http://127.0.0.1:9",
            upstream="http://sim" if simulate else "https://kimrel.example/api",
            simulate=simulate,
            account=account,
            started_at=time.time(),
            token=token,
        )
    )


@pytest.mark.parametrize("tool", ["claude", "codex"])
def test_help_shows_kimrels_options_and_starts_nothing(fake_tools, tool):
    result = _kimrel("launch", tool, "--help")
    assert result.returncode == 0, result.stderr
    assert "--simulate" in result.stdout and "--account" in result.stdout
    assert f"kimrel launch {tool} -- --help" in result.stdout
    assert read_state() is None and not Path(f"{fake_tools}.args").exists()


def test_the_tools_own_help_after_a_double_dash(fake_tools):
    _announce(simulate=True, token="kr-local-x")
    result = _kimrel("launch", "claude", "--simulate", "--", "--help")
    assert result.returncode == 0, result.stderr
    assert Path(f"{fake_tools}.args").read_text().splitlines()[-1] == "--help"


def test_a_simulator_relay_is_not_used_for_a_real_launch(fake_tools):
    _announce(simulate=True)
    result = _kimrel("launch", "claude", "-p", "hi")
    assert result.returncode == 1
    assert "simulator" in result.stderr and "--simulate" in result.stderr
    assert not Path(f"{fake_tools}.args").exists()


def test_a_real_relay_is_not_used_for_a_simulated_launch_nor_another_account(fake_tools):
    _announce(simulate=False, account="work")
    refused = _kimrel("launch", "codex", "--simulate", "exec", "hi")
    assert refused.returncode == 1 and "real credits" in refused.stderr
    other = _kimrel("launch", "codex", "--account", "home", "exec", "hi")
    assert other.returncode == 1 and "account work" in other.stderr
    assert not Path(f"{fake_tools}.args").exists()


def test_launch_presents_the_running_relays_token(fake_tools):
    _announce(simulate=True, token="kr-local-from-serve-token-flag")
    codex = _kimrel("launch", "codex", "--simulate", "exec", "hi")
    assert codex.returncode == 0, codex.stderr
    assert Path(f"{fake_tools}.token").read_text() == "kr-local-from-serve-token-flag"
    args = Path(f"{fake_tools}.args").read_text().splitlines()
    assert 'model_provider="kimrel-launch"' in args
    assert any(a.startswith("model_providers.kimrel-launch=") for a in args)
    claude = _kimrel("launch", "claude", "--simulate", "-p", "hi")
    assert claude.returncode == 0, claude.stderr
    settings = json.loads(Path(f"{fake_tools}.settings").read_text())
    assert settings["apiKeyHelper"] == ""
    assert settings["env"]["ANTHROPIC_AUTH_TOKEN"] == "kr-local-from-serve-token-flag"
    assert settings["env"]["ANTHROPIC_BASE_URL"] == "http://127.0.0.1:9"
    assert _kimrel("serve", "token").stdout.strip() == "kr-local-from-serve-token-flag"
    leftovers = list((Path(os.environ["KIMREL_STATE_DIR"])).glob("launch-claude-*"))
    assert leftovers == [], "the private settings file is removed after the run"


def test_a_relay_that_cannot_start_says_why(fake_tools):
    result = _kimrel("launch", "claude", "-p", "hi")
    assert result.returncode == 1
    assert "not logged in" in result.stderr and "kimrel login" in result.stderr
    assert not Path(f"{fake_tools}.args").exists()


def test_a_busy_port_names_its_owner():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = _kimrel("serve", "--background", "--simulate", "--port", str(port))
    assert result.returncode == 1
    assert f"port {port} is in use by pid {os.getpid()}" in result.stderr
    assert read_state() is None


def test_a_relay_started_by_launch_is_said_to_be_left_running(fake_tools):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = Path(os.environ["KIMREL_CONFIG_DIR"])
    config.mkdir(parents=True, exist_ok=True)
    (config / "config.toml").write_text(f"[relay]\nport = {port}\n")
    try:
        result = _kimrel("launch", "claude", "--simulate", "-p", "hi")
        assert result.returncode == 0, result.stderr
        state = read_state()
        assert state is not None and state.port == port and state.simulate
        assert "still running" in result.stderr and "kimrel serve stop" in result.stderr
        log = Path(os.environ["KIMREL_STATE_DIR"]) / "relay.log"
        assert log.stat().st_mode & 0o077 == 0, "relay.log may show the token: private"
    finally:
        _kimrel("serve", "stop")


def test_launch_moves_to_a_free_port_when_the_relay_port_is_taken(fake_tools):
    config = Path(os.environ["KIMREL_CONFIG_DIR"])
    config.mkdir(parents=True, exist_ok=True)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        (config / "config.toml").write_text(f"[relay]\nport = {port}\n")
        try:
            result = _kimrel("launch", "codex", "--simulate", "exec", "hi")
            assert result.returncode == 0, result.stderr
            assert f"port {port} is in use by pid {os.getpid()}" in result.stderr
            state = read_state()
            assert state is not None and state.port != port
        finally:
            _kimrel("serve", "stop")
