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
from typing import Any

import pytest

from kimrel_cli.relay.app import create_app
from kimrel_cli.relay.context import RelayConfig, build_context
from kimrel_cli.servers import bind_socket, start_in_thread

CLAUDE = shutil.which("claude")
TOKEN = "kr-local-claude-code-test"

pytestmark = [
    pytest.mark.realclient,
    pytest.mark.skipif(CLAUDE is None, reason="Claude Code (`claude`) is not installed"),
]


class Recorder:
    """ASGI wrapper that keeps (method, path, query, headers, body) of every request."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.seen: list[dict[str, Any]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        entry: dict[str, Any] = {
            "method": scope["method"],
            "path": scope["path"],
            "query": scope.get("query_string", b"").decode(),
            "headers": {k.decode().lower(): v.decode() for k, v in scope["headers"]},
            "body": b"",
            "status": None,
        }
        self.seen.append(entry)

        async def recv() -> Any:
            message = await receive()
            if message["type"] == "http.request":
                entry["body"] += message.get("body", b"")
            return message

        async def snd(message: Any) -> None:
            if message["type"] == "http.response.start":
                entry["status"] = message["status"]
            await send(message)

        await self.app(scope, recv, snd)


@pytest.fixture
def recorded_relay(simulator):
    config = RelayConfig(api_key="sk-sim-demo", base_url=simulator, token=TOKEN)
    recorder = Recorder(create_app(build_context(config)))
    server = start_in_thread(recorder, bind_socket())
    yield server.url, recorder
    server.stop()


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
