"""The simulator (our test oracle) answers malformed but valid JSON with a 4xx, never a 5xx."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given

from kimrel_cli.servers import bind_socket, start_in_thread
from kimrel_cli.simulator.app import SimulatorSettings, create_app
from tests.support import loopback
from tests.support.fuzz import CHAT, FUZZ, MESSAGES

KEY = "sk-sim-demo"


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    server = start_in_thread(create_app(SimulatorSettings()), bind_socket())
    try:
        yield server.url + "/api"
    finally:
        server.stop()


def _post(base: str, path: str, body: Any) -> None:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    r = loopback.post(
        base + path,
        content=raw,
        headers={"authorization": f"Bearer {KEY}", "content-type": "application/json"},
        timeout=30,
    )
    assert r.status_code < 500, (path, raw[:400], r.status_code, r.text[:400])


@pytest.mark.parametrize(
    "body",
    [
        {"model": "kimi-k2", "messages": [{"role": "user", "content": "hi"}], "tools": [5]},
        {"model": "kimi-k2", "messages": [{"role": "user", "content": "hi"}], "stop": 5},
        {"model": "kimi-k2", "messages": [{"role": "user", "content": 5}]},
        {
            "model": "kimi-k2",
            "messages": [{"role": "user", "content": "hi"}],
            "tool_choice": {"function": 5},
        },
        {
            "model": "kimi-k2",
            "messages": [{"role": "user", "content": "hi"}],
            "stream_options": 5,
            "stream": True,
        },
        {
            "model": "kimi-k2",
            "messages": [{"role": "user", "content": "hi"}],
            "tools": [{"function": 5}],
        },
        b'{"model": "kimi-k2", "messages": [{"role": "user", "content": "\\ud800"}]}',
        b'{"model": "kimi-k2", "temperature": NaN, "messages": [{"role": "user", "content": "hi"}]}',
        b'{"model": "kimi-k2", "messages": ' + b"[" * 1000 + b"]" * 1000 + b"}",
    ],
)
def test_malformed_chat_bodies_are_4xx(base: str, body: Any) -> None:
    _post(base, "/v1/chat/completions", body)


@FUZZ
@given(body=CHAT)
def test_chat_never_answers_5xx(base: str, body: dict[str, Any]) -> None:
    _post(base, "/v1/chat/completions", body)


@FUZZ
@given(body=MESSAGES)
def test_messages_never_answers_5xx(base: str, body: dict[str, Any]) -> None:
    _post(base, "/v1/messages", body)
