"""`kimrel setup` and `kimrel launch` side by side, with the real Claude Code and Codex.

Whatever setup wrote (relay or direct mode, user or project scope), and in either order, launch
must reach the running relay with that relay's token, and nothing may go to the URL setup wrote
for direct mode (here a local trap standing in for kimrel.com). The relay is served in this
process behind a recorder and announced through relay.json, as `kimrel serve` does.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from kimrel_cli.cli.app import app
from kimrel_cli.relay.app import create_app
from kimrel_cli.relay.context import RelayConfig, build_context
from kimrel_cli.relay.state import RelayState, clear_state, write_state
from kimrel_cli.servers import bind_socket, start_in_thread
from tests.support.older_claude import older_claude_on_path
from tests.support.recorder import Recorder

TOKEN = "kr-local-launch-setup-test"
KIMREL = [sys.executable, "-m", "kimrel_cli"]
runner = CliRunner()
pytestmark = pytest.mark.realclient


async def _trap_app(scope: Any, receive: Any, send: Any) -> None:
    """Stands in for the hosted API: answers 401 to everything (and is recorded)."""
    if scope["type"] != "http":
        return
    body = b'{"type":"error","error":{"type":"authentication_error","message":"trap"}}'
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})


@pytest.fixture
def relays(simulator):
    """(relay recorder, trap recorder, trap URL): a simulate-mode relay announced in relay.json."""
    recorder = Recorder(
        create_app(
            build_context(RelayConfig(api_key="sk-sim-demo", base_url=simulator, token=TOKEN))
        )
    )
    server = start_in_thread(recorder, bind_socket())
    trap = Recorder(_trap_app)
    trap_server = start_in_thread(trap, bind_socket())
    port = int(server.url.rsplit(":", 1)[1])
    write_state(
        RelayState(
            pid=os.getpid(),
            host="127.0.0.1",
            port=port,
            url=server.url,
            upstream=simulator,
            simulate=True,
            account=None,
            started_at=time.time(),
            token=TOKEN,
        )
    )
    yield recorder, trap, trap_server.url + "/api"
    clear_state()
    server.stop()
    trap_server.stop()


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")}


def _model_calls(recorder: Recorder, path: str) -> list[dict[str, Any]]:
    return [e for e in recorder.seen if e["path"] == path and e["method"] == "POST"]


def _assert_token(calls: list[dict[str, Any]]) -> None:
    assert calls, "no model call reached the relay"
    for call in calls:
        headers = call["headers"]
        presented = {headers.get("x-api-key"), headers.get("authorization", "")[7:] or None}
        assert presented - {None} == {TOKEN}, headers  # the relay's token, nothing else


def _setup(*args: str, trap_url: str, where: Path) -> None:
    os.environ["KIMREL_BASE_URL"] = trap_url  # direct mode writes this URL instead of kimrel.com
    try:
        # direct mode is refused for today's Claude Code; its settings are still what a user has
        # who set it up with an older one and upgraded since, so write them as setup did then
        with older_claude_on_path(where):
            result = runner.invoke(app, ["setup", *args, "--yes"])
    finally:
        del os.environ["KIMREL_BASE_URL"]
    assert result.exit_code == 0, result.output


claude_only = pytest.mark.skipif(shutil.which("claude") is None, reason="claude is not installed")
codex_only = pytest.mark.skipif(shutil.which("codex") is None, reason="codex is not installed")


def _launch_claude(sandbox: Any, prompt: str, **env: str) -> str:
    out = subprocess.run(
        [*KIMREL, "launch", "claude", "--simulate", "-p", prompt, "--output-format", "json"],
        capture_output=True,
        text=True,
        timeout=90,
        stdin=subprocess.DEVNULL,
        cwd=sandbox / "cwd",
        env={**_env(), **env},
    )
    assert out.returncode == 0, (out.stdout + out.stderr)[-2000:]
    return json.loads(out.stdout)["result"]


@claude_only
@pytest.mark.parametrize(
    "setup_args",
    [
        ["--via", "relay"],
        ["--via", "relay", "--scope", "project"],
        ["--via", "direct"],
        ["--via", "direct", "--scope", "project"],
    ],
    ids=["relay-user", "relay-project", "direct-user", "direct-project"],
)
def test_claude_launch_before_and_after_setup(sandbox, relays, setup_args):
    recorder, trap, trap_url = relays
    assert _launch_claude(sandbox, "launch one").startswith("Simulated reply to:")
    _setup("claude-code", *setup_args, trap_url=trap_url, where=sandbox)
    # an Anthropic key in the user's shell is not sent to the relay either
    second = _launch_claude(sandbox, "launch two", ANTHROPIC_API_KEY="sk-ant-from-the-shell")
    assert second.startswith("Simulated reply to:")
    calls = _model_calls(recorder, "/v1/messages")
    assert any(b"launch one" in c["body"] for c in calls)
    assert any(b"launch two" in c["body"] for c in calls)
    _assert_token(calls)
    assert trap.seen == [], "a token went to the URL setup wrote for direct mode"


@codex_only
@pytest.mark.parametrize("setup_args", [[], ["--default"]], ids=["profiles", "default"])
def test_codex_launch_before_and_after_setup(sandbox, relays, setup_args):
    recorder, _trap, trap_url = relays
    (sandbox / "home" / ".codex").mkdir(parents=True, exist_ok=True)

    def launch(prompt: str) -> str:
        out = subprocess.run(
            [
                *KIMREL,
                "launch",
                "codex",
                "--simulate",
                "exec",
                "--skip-git-repo-check",
                "--json",
                prompt,
            ],
            capture_output=True,
            text=True,
            timeout=90,
            stdin=subprocess.DEVNULL,
            cwd=sandbox / "cwd",
        )
        assert out.returncode == 0, (out.stdout + out.stderr)[-2000:]
        return out.stdout

    assert "Simulated reply to: launch one" in launch("launch one")
    _setup("codex", *setup_args, trap_url=trap_url, where=sandbox)
    assert "Simulated reply to: launch two" in launch("launch two")
    calls = _model_calls(recorder, "/v1/responses")
    assert len(calls) >= 2
    _assert_token(calls)
