"""Claude Code itself (`claude -p`) against the relay against the simulator: a tool turn, then the
final answer after the tool result. Skipped where `claude` is not installed.

The relay is wrapped in a recorder so the test can check (and print, with -s) what Claude Code
sent: paths, headers, beta fields, count_tokens calls.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from kimrel_cli.relay.app import create_app
from kimrel_cli.relay.context import RelayConfig, build_context
from kimrel_cli.servers import bind_socket, start_in_thread
from tests.support.recorder import Recorder

CLAUDE = shutil.which("claude")
TOKEN = "kr-local-claude-code-test"

pytestmark = [
    pytest.mark.realclient,
    pytest.mark.skipif(CLAUDE is None, reason="Claude Code (`claude`) is not installed"),
]


@pytest.fixture
def recorded_relay(simulator):
    config = RelayConfig(api_key="sk-sim-demo", base_url=simulator, token=TOKEN)
    recorder = Recorder(create_app(build_context(config)))
    server = start_in_thread(recorder, bind_socket())
    yield server.url, recorder
    server.stop()


@pytest.fixture
def recorded_stack():
    """Simulator and relay, each wrapped in a Recorder: what Claude Code sent, what Kimi got."""
    from kimrel_cli.simulator.app import SimulatorSettings
    from kimrel_cli.simulator.app import create_app as create_simulator

    upstream = Recorder(create_simulator(SimulatorSettings()))
    sim = start_in_thread(upstream, bind_socket())
    config = RelayConfig(api_key="sk-sim-demo", base_url=sim.url + "/api", token=TOKEN)
    relay = Recorder(create_app(build_context(config)))
    server = start_in_thread(relay, bind_socket())
    yield server.url, relay, upstream
    server.stop()
    sim.stop()


def _claude_env(url: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "ANTHROPIC_BASE_URL": url,
        "ANTHROPIC_AUTH_TOKEN": TOKEN,
        "ANTHROPIC_MODEL": "kimi-k2.6",
        "ANTHROPIC_DEFAULT_HAIKU_MODEL": "kimi-k2",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_AUTOUPDATER": "1",
        **extra,
    }


def _run_claude(args: list[str], cwd: Any, env: dict[str, str]) -> dict[str, Any]:
    proc = subprocess.run(
        [CLAUDE, *args, "--output-format", "json"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, f"claude {args} failed: {proc.stderr[-2000:]}"
    return json.loads(proc.stdout)


def _messages_bodies(recorder: Recorder) -> list[dict[str, Any]]:
    return [
        json.loads(e["body"])
        for e in recorder.seen
        if e["path"] in ("/v1/messages", "/v1/v1/messages") and e["method"] == "POST"
    ]


def _summary(recorder: Recorder) -> str:
    lines = []
    for e in recorder.seen:
        h = e["headers"]
        line = f"{e['method']} {e['path']}?{e['query']} -> {e['status']}"
        if e["path"].endswith("/messages"):
            body = json.loads(e["body"])
            line += (
                f" | beta={h.get('anthropic-beta')} auth={'bearer' if 'authorization' in h else 'x-api-key' if 'x-api-key' in h else 'none'}"
                f" | keys={sorted(body)} model={body.get('model')} max_tokens={body.get('max_tokens')}"
                f" stream={body.get('stream')} thinking={body.get('thinking')} tools={len(body.get('tools') or [])}"
                f" roles={[m['role'] for m in body.get('messages', [])]} size={len(e['body'])}"
            )
            for message in body.get("messages", []):
                for block in message["content"] if isinstance(message["content"], list) else []:
                    if block.get("type") in ("tool_use", "tool_result"):
                        line += f"\n    {block['type']}: {json.dumps(block)[:160]}"
        lines.append(line)
    return "\n".join(lines)


def test_claude_code_runs_a_tool_and_finishes_the_turn(recorded_relay, tmp_path):
    url, recorder = recorded_relay
    workdir = tmp_path / "work"
    workdir.mkdir()
    (workdir / "hello.txt").write_text("hello\n")
    env = {
        **os.environ,
        "ANTHROPIC_BASE_URL": url,
        "ANTHROPIC_AUTH_TOKEN": TOKEN,
        "ANTHROPIC_MODEL": "kimi-k2.6",
        "ANTHROPIC_DEFAULT_HAIKU_MODEL": "kimi-k2",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_AUTOUPDATER": "1",
    }
    proc = subprocess.run(
        [
            CLAUDE,
            "-p",
            "Please use the Bash tool now",
            "--output-format",
            "json",
            "--allowedTools",
            "Bash",
        ],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    summary = _summary(recorder)
    print("\n--- what Claude Code sent ---\n" + summary)
    assert proc.returncode == 0, f"claude failed: {proc.stderr[-2000:]}\n{summary}"
    result = json.loads(proc.stdout)
    assert result["type"] == "result"
    assert result["is_error"] is False, result
    assert result["num_turns"] >= 2, result
    assert "The tool returned:" in result["result"]
    bodies = _messages_bodies(recorder)
    tool_results = [
        block
        for body in bodies
        for message in body["messages"]
        if isinstance(message.get("content"), list)
        for block in message["content"]
        if block.get("type") == "tool_result"
    ]
    assert tool_results, summary
    assert all(e["status"] < 400 for e in recorder.seen if e["path"].startswith("/v1/")), summary


def test_five_turns_with_the_same_tool_every_turn_deliver_every_result(recorded_stack, tmp_path):
    """Issue 11.1: Kimi's ids restart at `functions.Bash:0` in every answer. Claude Code must
    see a fresh tool_use id each turn (it drops repeated ones and sends "(no content)"), and
    the model must get every tool result under its own id."""
    url, relay, upstream = recorded_stack
    workdir = tmp_path / "work"
    workdir.mkdir()
    env = _claude_env(url)
    prompts = ["Run the Bash tool"] + [f"Run the Bash tool again ({n})" for n in range(2, 6)]
    for n, prompt in enumerate(prompts):
        args = (["--continue"] if n else []) + ["-p", prompt, "--allowedTools", "Bash"]
        result = _run_claude(args, workdir, env)
        assert result["is_error"] is False, result
        assert result["result"] == "The tool returned: simulated", (n, result, _summary(relay))

    # What Claude Code sent on the last turn: five tool_use ids, all different, five results.
    last = [
        b
        for b in _messages_bodies(relay)
        if any(m["role"] == "user" and isinstance(m["content"], list) for m in b["messages"])
    ][-1]
    blocks = [b for m in last["messages"] if isinstance(m["content"], list) for b in m["content"]]
    uses = [b["id"] for b in blocks if b.get("type") == "tool_use"]
    results = [b for b in blocks if b.get("type") == "tool_result"]
    assert len(uses) == 5 and len(set(uses)) == 5, uses
    assert [r["tool_use_id"] for r in results] == uses

    # What the model got on the last turn: its own ids back, and every result's real text.
    chats = [
        json.loads(e["body"])
        for e in upstream.seen
        if e["path"].endswith("/chat/completions") and e["method"] == "POST"
    ]
    history = chats[-1]["messages"]
    assert chats[-1]["thinking"] == {"type": "enabled"}  # Claude Code's default: adaptive, high
    calls = [c["id"] for m in history for c in m.get("tool_calls") or []]
    tool_messages = [m for m in history if m["role"] == "tool"]
    assert calls == ["functions.Bash:0"] * 5, calls
    assert [m["tool_call_id"] for m in tool_messages] == calls
    assert all("simulated" in str(m["content"]) for m in tool_messages), tool_messages
    assert "(no content)" not in json.dumps(history)


def _upstream_thinking(upstream: Recorder) -> list[Any]:
    return [
        json.loads(e["body"]).get("thinking")
        for e in upstream.seen
        if e["path"].endswith("/chat/completions") and e["method"] == "POST"
    ]


@pytest.mark.parametrize(
    ("args", "extra_env"),
    [([], {"MAX_THINKING_TOKENS": "0"}), (["--effort", "low"], {})],
    ids=["MAX_THINKING_TOKENS=0", "effort-low"],
)
def test_thinking_off_and_low_effort_reach_kimi_as_thinking_disabled(
    recorded_stack, tmp_path, args, extra_env
):
    """Issue 11.7: Claude Code omits `thinking` with MAX_THINKING_TOKENS=0 and sends
    output_config.effort "low" for --effort low; both mean no thinking on Kimi."""
    url, relay, upstream = recorded_stack
    result = _run_claude(["-p", "hello", *args], tmp_path, _claude_env(url, **extra_env))
    assert result["is_error"] is False, result
    sent = [json.loads(e["body"]) for e in relay.seen if e["path"].endswith("/messages")]
    assert sent, _summary(relay)
    thinking = _upstream_thinking(upstream)
    assert thinking and all(t == {"type": "disabled"} for t in thinking), (
        thinking,
        sent[-1].get("output_config"),
    )


def test_direct_mode_fails_on_the_system_message_even_with_the_output_cap(tmp_path):
    """Why `setup claude-code --via direct` refuses this Claude Code (issue 11.2): with every
    setting kimrel can write (max output 8192 included), Claude Code still puts a
    `role: "system"` message inside `messages`, and the hosted /v1/messages (the simulator
    follows its documented rules) refuses it. If this ever passes, direct mode can come back."""
    from kimrel_cli.setup.claude_code import model_env
    from kimrel_cli.simulator.app import SimulatorSettings
    from kimrel_cli.simulator.app import create_app as create_simulator

    upstream = Recorder(create_simulator(SimulatorSettings()))
    sim = start_in_thread(upstream, bind_socket())
    try:
        env = {
            **os.environ,
            **model_env("kimi-k2.6", "kimi-k2"),
            "ANTHROPIC_BASE_URL": sim.url + "/api",
            "ANTHROPIC_AUTH_TOKEN": "sk-sim-demo",
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        }
        proc = subprocess.run(
            [CLAUDE, "-p", "hello", "--output-format", "json"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=90,
            stdin=subprocess.DEVNULL,
        )
    finally:
        sim.stop()
    sent = [json.loads(e["body"]) for e in upstream.seen if e["path"].endswith("/v1/messages")]
    assert sent and all(body["max_tokens"] == 8192 for body in sent)
    assert any(m["role"] == "system" for m in sent[0]["messages"])
    assert "must be user or assistant" in proc.stdout + proc.stderr


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_kimrel_launch_claude_resume_continues_the_session_with_kimrels_settings(tmp_path):
    """Issue 11.8: Claude Code prints `claude --resume ID`, which has none of launch's settings;
    `kimrel launch claude --resume ID` passes the flag through and continues that session."""
    import sys

    def kimrel(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "kimrel_cli", *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=90,
            stdin=subprocess.DEVNULL,
        )

    assert kimrel("config", "set", "relay.port", str(_free_port())).returncode == 0
    try:
        first = kimrel(
            "launch", "claude", "--simulate", "-p", "first prompt", "--output-format", "json"
        )
        assert first.returncode == 0, first.stderr
        session = json.loads(first.stdout)["session_id"]
        second = kimrel(
            "launch", "claude", "--simulate", "--resume", session,
            "-p", "second prompt", "--output-format", "json",
        )  # fmt: skip
        assert second.returncode == 0, second.stderr
        resumed = json.loads(second.stdout)
        assert resumed["session_id"] == session
        assert resumed["result"] == "Simulated reply to: second prompt"
    finally:
        kimrel("serve", "stop")
    transcripts = list(Path(os.environ["CLAUDE_CONFIG_DIR"]).glob(f"projects/*/{session}.jsonl"))
    assert len(transcripts) == 1
    text = transcripts[0].read_text()
    assert "first prompt" in text and "second prompt" in text
