"""The one streaming pipeline, through a real relay on 127.0.0.1:0 against the simulator."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.responses import Response

from kimrel_cli.relay.context import RelayConfig
from kimrel_cli.relay.pipeline import RelayStream
from kimrel_cli.relay.run import start_relay_in_thread

SLOW = {"x-kimrel-fault": "chunk_delay=0.5"}
USER = [{"role": "user", "content": "hello there"}]


@pytest.fixture
def relay(simulator: str) -> Iterator[Any]:
    running = start_relay_in_thread(
        RelayConfig(api_key="sk-sim-demo", base_url=simulator, ping_interval=0.1)
    )
    yield running
    running.stop()


def _stream(relay: Any, path: str, body: dict[str, Any]) -> str:
    with httpx.stream(
        "POST",
        relay.url + path,
        json={"model": "kimi-k2", "stream": True, **body},
        headers=SLOW,
        timeout=20,
    ) as answer:
        assert answer.status_code == 200
        return "".join(answer.iter_text())


def test_the_relays_stream_is_a_starlette_response():
    async def body() -> Any:
        yield b"data: 1\n\n"

    stream = RelayStream(body(), headers={"x-test": "1"})
    assert isinstance(stream, Response)
    assert stream.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert stream.headers["x-test"] == "1"
    assert "content-length" not in stream.headers


def test_chat_pass_through_gets_keepalives_while_upstream_is_silent(relay):
    text = _stream(relay, "/v1/chat/completions", {"messages": USER, "max_tokens": 20})
    assert ": keep-alive\n\n" in text
    assert text.rstrip().endswith("data: [DONE]")


@pytest.mark.parametrize(
    ("path", "body", "keepalive"),
    [
        ("/v1/messages", {"messages": USER, "max_tokens": 20}, "event: ping"),
        ("/v1/responses", {"input": "hello there"}, "event: response.in_progress"),
    ],
)
def test_translated_streams_get_their_protocols_keepalive(relay, path, body, keepalive):
    assert keepalive in _stream(relay, path, body)
