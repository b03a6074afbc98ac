"""Codex's interactive TUI, driven through tmux against relay + simulator: three turns calling the
same tool, a `/model` switch to another Kimi model in between. Asserted from what the simulated
model received. Skipped, with the reason, without `codex` or `tmux`.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import time
import uuid

import pytest

from tests.e2e.codex_support import CODEX, TMUX, TOKEN, start_stack

pytestmark = [
    pytest.mark.realclient,
    pytest.mark.skipif(
        CODEX is None, reason="codex is not installed (npm install -g @openai/codex)"
    ),
    pytest.mark.skipif(TMUX is None, reason="tmux is not installed"),
]


class Pane:
    def __init__(self, socket: str) -> None:
        self.socket = socket

    def tmux(self, *args: str) -> str:
        assert TMUX is not None
        out = subprocess.run(
            [TMUX, "-L", self.socket, *args], capture_output=True, text=True, timeout=10
        )
        return out.stdout

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-J", "-S", "-200", "-t", "codex")

    def type(self, text: str) -> None:
        self.tmux("send-keys", "-t", "codex", "-l", text)
        time.sleep(0.3)
        self.tmux("send-keys", "-t", "codex", "Enter")

    def wait_for(self, check, what: str, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return
            time.sleep(0.25)
        raise AssertionError(f"timed out waiting for {what}; screen:\n{self.screen()}")


@pytest.fixture
def tui(tmp_path):
    stack = start_stack()
    socket = f"kimrel-test-{uuid.uuid4().hex[:8]}"
    pane = Pane(socket)
    work = tmp_path / "work"
    work.mkdir()
    env = stack.env()
    command = " ".join(shlex.quote(a) for a in stack.codex_args())
    exports = [f"{k}={env[k]}" for k in ("HOME", "CODEX_HOME") if k in env]
    pane.tmux(
        "new-session", "-d", "-s", "codex", "-x", "140", "-y", "45", "-c", str(work),
        *[arg for pair in exports for arg in ("-e", pair)],
        "-e", f"KIMREL_RELAY_TOKEN={TOKEN}",
        "-e", "NO_PROXY=127.0.0.1,localhost",
        command,
    )  # fmt: skip
    try:
        yield pane, stack
    finally:
        pane.tmux("kill-server")
        stack.stop()


def test_tui_three_turns_of_the_same_tool_and_a_model_switch(tui):
    pane, stack = tui
    pane.wait_for(lambda: "Ask Codex to do anything" in pane.screen(), "the prompt")

    def answered(n: int):
        def check() -> bool:
            bodies = stack.chat_bodies()
            done = [b for b in bodies if b["messages"][-1]["role"] == "tool"]
            return len(done) >= n and "The tool returned" in pane.screen()

        return check

    pane.type("please use exec_command to look")
    pane.wait_for(answered(1), "turn 1")
    pane.type("/model")
    pane.wait_for(lambda: "Select Model" in pane.screen(), "the model picker")
    screen = pane.screen()
    for model in ("kimi-k2.6", "kimi-k2.5", "kimi-k2-thinking", "kimi-k2-0905", "kimi-k2 "):
        assert model in screen, screen
    assert "gpt-" not in screen
    assert "128K context" in screen and "256K context" in screen
    pane.tmux("send-keys", "-t", "codex", "5")  # kimi-k2: no reasoning levels, picked at once
    pane.wait_for(lambda: "Model changed to kimi-k2" in pane.screen(), "the model switch")
    pane.type("please use exec_command again")
    pane.wait_for(answered(2), "turn 2")
    pane.type("and exec_command once more")
    pane.wait_for(answered(3), "turn 3")

    bodies = stack.chat_bodies()
    assert bodies[0]["model"] == "kimi-k2.6" and bodies[-1]["model"] == "kimi-k2"
    last = bodies[-1]["messages"]
    tools = [m for m in last if m["role"] == "tool"]
    assert len(tools) == 3 and all("simulated" in m["content"] for m in tools)
    for index, message in enumerate(last):
        if message["role"] == "tool":  # each output answers the call of the turn before it
            calls = [c["id"] for c in last[index - 1].get("tool_calls") or []]
            assert message["tool_call_id"] in calls
    prompts = [str(m["content"]) for m in last if m["role"] == "user"]
    for prompt in ("use exec_command to look", "exec_command again", "exec_command once more"):
        assert any(prompt in p for p in prompts)
    assert os.environ.get("KIMREL_RELAY_TOKEN") is None  # the token only went to tmux's env
