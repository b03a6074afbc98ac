"""The Messages route as Claude Code and the anthropic SDK meet it, against a real relay and the
simulator: validation errors in Anthropic's shape, and thinking/effort reaching Kimi as chosen."""

from __future__ import annotations

import io
import json
from typing import Any

import anthropic
import pytest

from kimrel_cli.relay.context import RelayConfig
from kimrel_cli.relay.run import start_relay_in_thread
from kimrel_cli.servers import bind_socket, start_in_thread
from tests.support import loopback, sdk
from tests.support.relay_idle import settle

TOKEN = "kr-local-messages-test"


class Upstream:
    """The simulator, keeping the chat bodies the relay sent it."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.bodies: list[dict[str, Any]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].endswith("/chat/completions"):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []

        async def recv() -> Any:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                self.bodies.append(json.loads(b"".join(chunks) or b"{}"))
            return message

        await self.app(scope, recv, send)


@pytest.fixture
def stack_with_log():
    from kimrel_cli.relay.dashboard import RequestLog
    from kimrel_cli.simulator.app import SimulatorSettings, create_app

    out = io.StringIO()
    sim = start_in_thread(create_app(SimulatorSettings()), bind_socket())
    relay = start_relay_in_thread(
        RelayConfig(
            api_key="sk-sim-demo",
            base_url=sim.url + "/api",
            token=TOKEN,
            max_retries=0,
            log=RequestLog("pretty", stream=out),
        )
    )
    yield relay, out
    relay.stop()
    sim.stop()


@pytest.fixture
def stack():
    from kimrel_cli.simulator.app import SimulatorSettings, create_app

    upstream = Upstream(create_app(SimulatorSettings()))
    sim = start_in_thread(upstream, bind_socket())
    relay = start_relay_in_thread(
        RelayConfig(api_key="sk-sim-demo", base_url=sim.url + "/api", token=TOKEN, max_retries=0)
    )
    yield relay, upstream
    relay.stop()
    sim.stop()


def _client(relay: Any) -> anthropic.Anthropic:
    return sdk.anthropic_client(base_url=relay.url, auth_token=TOKEN, max_retries=0)


def test_a_tool_without_name_is_a_400_in_anthropic_shape(stack):
    relay, upstream = stack
    with pytest.raises(anthropic.BadRequestError) as caught:
        _client(relay).messages.create(
            model="kimi-k2.5",
            max_tokens=100,
            messages=[{"role": "user", "content": "hi"}],
            tools=[{"description": "no name", "input_schema": {"type": "object"}}],  # type: ignore[list-item,typeddict-item]
        )
    assert caught.value.status_code == 400
    body = caught.value.body
    assert isinstance(body, dict) and body["type"] == "error"
    assert body["error"]["type"] == "invalid_request_error"
    assert "tools.0.name" in body["error"]["message"]
    assert upstream.bodies == []  # refused before anything went upstream

    # streaming and a non-list `tools` get the same treatment
    response = loopback.post(
        relay.url + "/v1/messages",
        headers={"authorization": f"Bearer {TOKEN}", "anthropic-version": "2023-06-01"},
        json={
            "model": "kimi-k2.5",
            "max_tokens": 10,
            "stream": True,
            "messages": [{"role": "user", "content": "hi"}],
            "tools": {"name": "Bash"},
        },
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_the_request_log_shows_what_a_claude_name_was_mapped_to(stack_with_log):
    relay, out = stack_with_log
    client = _client(relay)
    answer = client.messages.create(
        model="claude-opus-4-8", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
    )
    assert answer.model == "claude-opus-4-8"  # the client still sees its own name
    with client.messages.stream(
        model="kimi-k2.6", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        stream.get_final_message()
    settle(relay.ctx)  # the stream is logged when the relay closes it, after the client's end
    lines = [line for line in out.getvalue().splitlines() if "/v1/messages" in line]
    assert "claude-opus-4-8 → kimi-k2.5" in lines[0], lines
    assert "kimi-k2.6" in lines[1] and "→ kimi" not in lines[1], lines
