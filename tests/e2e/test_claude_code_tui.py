"""Claude Code's interactive TUI driven through tmux against the relay and the simulator.

One session, several turns: the same Bash tool every turn (issue 11.1: Kimi's ids repeat, Claude
Code must still get every result to the model), then `/model` (every Kimi model listed, issue
11.4) and `/context` (Kimi's window). The environment is `claude_env`'s, as `kimrel launch
claude` builds it. Skipped where `claude` or `tmux` is missing.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kimrel_cli.catalogue import MODELS
from kimrel_cli.relay.app import create_app
from kimrel_cli.relay.context import RelayConfig, build_context
from kimrel_cli.servers import bind_socket, start_in_thread
from kimrel_cli.setup.tools import claude_env
from tests.support.recorder import Recorder

CLAUDE = shutil.which("claude")
TMUX = shutil.which("tmux")
TOKEN = "kr-local-tui-test"

pytestmark = [
    pytest.mark.realclient,
    pytest.mark.skipif(CLAUDE is None, reason="Claude Code (`claude`) is not installed"),
    pytest.mark.skipif(TMUX is None, reason="tmux is not installed"),
]


class Pane:
    """One tmux session on a private socket (a file in the test's temporary directory)."""

    def __init__(self, socket: Path) -> None:
        self.socket = socket

    def tmux(self, *args: str) -> str:
        proc = subprocess.run(
            [TMUX or "tmux", "-S", str(self.socket), *args],
            capture_output=True,
            text=True,
            timeout=10,
        )
        return proc.stdout

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-J", "-S", "-200", "-t", "kr")

    def send(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "kr", *keys)

    def type_line(self, text: str) -> None:
        self.send("-l", text)
        time.sleep(0.3)
        self.send("Enter")

    def wait_for(self, check: Callable[[str], bool], what: str, timeout: float = 20) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if check(screen):
                return screen
            time.sleep(0.3)
        raise AssertionError(f"timed out waiting for {what}; screen:\n{self.screen()}")


@pytest.fixture
def stack() -> Iterator[tuple[str, Recorder]]:
    from kimrel_cli.simulator.app import SimulatorSettings
    from kimrel_cli.simulator.app import create_app as create_simulator

    upstream = Recorder(create_simulator(SimulatorSettings()))
    sim = start_in_thread(upstream, bind_socket())
    config = RelayConfig(api_key="sk-sim-demo", base_url=sim.url + "/api", token=TOKEN)
    relay = start_in_thread(create_app(build_context(config)), bind_socket())
    yield relay.url, upstream
    relay.stop()
    sim.stop()


@pytest.fixture
def claude_tui(stack: tuple[str, Recorder], tmp_path: Path) -> Iterator[tuple[Pane, Recorder]]:
    url, upstream = stack
    work = tmp_path / "project"
    work.mkdir()
    config_dir = Path(os.environ["CLAUDE_CONFIG_DIR"])
    config_dir.mkdir(parents=True, exist_ok=True)
    # a user who finished Claude Code's onboarding and trusted this folder
    (config_dir / ".claude.json").write_text(
        json.dumps(
            {
                "hasCompletedOnboarding": True,
                "theme": "dark",
                "projects": {
                    str(work): {
                        "hasTrustDialogAccepted": True,
                        "hasCompletedProjectOnboarding": True,
                    }
                },
            }
        )
    )
    env = {
        name: os.environ[name]
        for name in ("HOME", "PATH", "CLAUDE_CONFIG_DIR", "XDG_CONFIG_HOME", "NO_PROXY")
        if name in os.environ
    }
    env.update(claude_env(url, TOKEN, model="kimi-k2.5", small_model="kimi-k2"))
    env.update({"DISABLE_AUTOUPDATER": "1", "TERM": "xterm-256color"})
    assignments = [shlex.quote(f"{k}={v}") for k, v in env.items()]
    claude = shlex.quote(CLAUDE or "claude")
    command = " ".join(["env", "-i", *assignments, claude, "--allowedTools", "Bash"])
    pane = Pane(tmp_path / "tmux.sock")
    pane.tmux("new-session", "-d", "-s", "kr", "-x", "160", "-y", "50", "-c", str(work), command)
    try:
        pane.wait_for(lambda s: "❯" in s, "Claude Code's prompt")
        yield pane, upstream
    finally:
        pane.tmux("kill-server")


def _chat_bodies(upstream: Recorder) -> list[dict[str, Any]]:
    return [
        json.loads(e["body"])
        for e in upstream.seen
        if e["path"].endswith("/chat/completions") and e["method"] == "POST"
    ]


def test_tui_session_with_repeated_tool_calls_then_model_picker_and_context(claude_tui):
    pane, upstream = claude_tui
    turns = 3
    for turn in range(1, turns + 1):
        pane.type_line("Run the Bash tool" if turn == 1 else f"Run the Bash tool again ({turn})")
        pane.wait_for(
            lambda s, n=turn: s.count("The tool returned: simulated") >= n,
            f"the answer to turn {turn}",
        )
    screen = pane.screen()
    assert "(no content)" not in screen

    # what the model got on the last turn: its own ids back, every result's real text
    history = _chat_bodies(upstream)[-1]["messages"]
    tool_messages = [m for m in history if m["role"] == "tool"]
    calls = [c["id"] for m in history for c in m.get("tool_calls") or []]
    assert calls == ["functions.Bash:0"] * turns, calls
    assert [m["tool_call_id"] for m in tool_messages] == calls
    assert all("simulated" in str(m["content"]) for m in tool_messages), tool_messages

    # /model lists every Kimi model by name, the default without a 1M suffix
    pane.type_line("/model")
    picker = pane.wait_for(lambda s: "Select model" in s, "the /model picker")
    for model in MODELS:
        assert f" {model} " in picker, (model, picker)
    assert "[1m]" not in picker and "currently kimi-k2.5)" in picker
    pane.send("Escape")
    time.sleep(0.5)

    # /context shows Kimi's 256K window for kimi-k2.5, not 200K or 1M
    pane.type_line("/context")
    context = pane.wait_for(lambda s: "Context Usage" in s, "/context")
    assert "/256k tokens" in context, context
