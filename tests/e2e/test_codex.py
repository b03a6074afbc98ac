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


def launch_args(tmp_path, *args):
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    (tmp_path / "home" / ".codex").mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "kimrel_cli", "launch", "codex", "--simulate", *args]
    out = subprocess.run(
        command,
        cwd=work,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    return out, [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]


def test_the_session_id_codex_prints_resumes_through_launch(tmp_path):
    """Codex prints `codex resume ID`; through kimrel that is `kimrel launch codex resume ID`
    (here its non-interactive form `exec resume ID`): same thread, and the model gets the
    earlier turn (its tool output included) again."""
    from kimrel_cli.relay.state import clear_state, relay_token
    from tests.e2e.codex_support import advertise, start_stack

    stack = start_stack(token=relay_token())
    advertise(stack)
    try:
        first, events = launch_args(
            tmp_path, "exec", "--skip-git-repo-check", "--json", "please use exec_command to look"
        )
        assert first.returncode == 0, first.stderr[-2000:]
        thread = next(e["thread_id"] for e in events if e.get("type") == "thread.started")
        again, events = launch_args(
            tmp_path, "exec", "--skip-git-repo-check", "--json", "resume", thread, "say hi again"
        )
    finally:
        clear_state()
        stack.stop()
    assert again.returncode == 0, again.stderr[-2000:]
    assert next(e["thread_id"] for e in events if e.get("type") == "thread.started") == thread
    final = [
        e["item"]["text"]
        for e in events
        if e.get("type") == "item.completed" and e["item"]["type"] == "agent_message"
    ]
    assert final == ["Simulated reply to: say hi again"]
    last = stack.chat_bodies()[-1]["messages"]
    assert any("please use exec_command to look" in str(m["content"]) for m in last)
    tools = [m["content"] for m in last if m["role"] == "tool"]
    assert len(tools) == 1 and "simulated" in tools[0]
