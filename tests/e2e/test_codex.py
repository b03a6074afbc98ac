"""Codex itself (npm @openai/codex) through `kimrel launch codex --simulate`: a text turn and a tool round trip.

Skipped, with the reason, where the `codex` binary is absent; .ci/run installs it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

pytestmark = [
    pytest.mark.realclient,
    pytest.mark.skipif(
        shutil.which("codex") is None,
        reason="codex is not installed (npm install -g @openai/codex)",
    ),
]


def launch(tmp_path, prompt):
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    (tmp_path / "home" / ".codex").mkdir(parents=True, exist_ok=True)
    args = [
        sys.executable,
        "-m",
        "kimrel_cli",
        "launch",
        "codex",
        "--simulate",
        "--model",
        "kimi-k2.6",
        "exec",
        "--skip-git-repo-check",
        "--json",
        prompt,
    ]
    out = subprocess.run(
        args,
        cwd=work,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    events = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    return out, events


@pytest.fixture
def relay_cleanup():
    yield
    subprocess.run(
        [sys.executable, "-m", "kimrel_cli", "serve", "stop"], capture_output=True, timeout=30
    )


def test_codex_completes_a_text_turn(tmp_path, relay_cleanup):
    out, events = launch(tmp_path, "say hello")
    assert out.returncode == 0, out.stderr[-2000:]
    messages = [
        e["item"]["text"]
        for e in events
        if e.get("type") == "item.completed" and e["item"]["type"] == "agent_message"
    ]
    assert messages == ["Simulated reply to: say hello"]
    assert any(e.get("type") == "turn.completed" for e in events)


def test_codex_runs_a_shell_command_and_finishes_the_turn(tmp_path, relay_cleanup):
    out, events = launch(tmp_path, "please use exec_command to show something")
    assert out.returncode == 0, out.stderr[-2000:]
    commands = [
        e["item"]
        for e in events
        if e.get("type") == "item.completed" and e["item"]["type"] == "command_execution"
    ]
    assert (
        commands
        and commands[0]["exit_code"] == 0
        and "simulated" in commands[0]["aggregated_output"]
    )
    final = [
        e["item"]["text"]
        for e in events
        if e.get("type") == "item.completed" and e["item"]["type"] == "agent_message"
    ]
    assert final and final[-1].startswith("The tool returned:") and "simulated" in final[-1]
    reasoning = [
        e for e in events if e.get("type") == "item.completed" and e["item"]["type"] == "reasoning"
    ]
    assert reasoning, "thinking from kimi-k2.6 reached Codex as reasoning items"
