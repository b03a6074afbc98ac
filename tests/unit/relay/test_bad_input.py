"""Malformed but valid JSON is a 400 in the route's protocol, never a 5xx (issue 14)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import loopback
from tests.support.clients import TOKEN, Stack, relay_stack

CHAT = "/v1/chat/completions"
MESSAGES = "/v1/messages"
RESPONSES = "/v1/responses"
MODEL = "kimi-k2.5"


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with relay_stack() as s:
        yield s


def post_raw(stack: Stack, path: str, raw: bytes) -> Any:
    return loopback.post(
        stack.relay_url + path,
        content=raw,
        headers={
            "authorization": f"Bearer {TOKEN}",
            "x-api-key": TOKEN,
            "content-type": "application/json",
            "anthropic-version": "2023-06-01",
        },
        timeout=30,
    )


def _msgs(**extra: Any) -> dict[str, Any]:
    return {
        "model": MODEL,
        "max_tokens": 16,
        "messages": [{"role": "user", "content": "hi"}],
        **extra,
    }


NESTED = b"[" * 1000 + b"]" * 1000
CASES: list[tuple[str, str, bytes]] = [
    (
        "count_tokens messages 5",
        MESSAGES + "/count_tokens",
        json.dumps({"model": MODEL, "messages": 5}).encode(),
    ),
    ("chat messages 5", CHAT, json.dumps({"model": MODEL, "messages": 5}).encode()),
    (
        "messages messages 5",
        MESSAGES,
        json.dumps({"model": MODEL, "max_tokens": 8, "messages": 5}).encode(),
    ),
    ("messages system 5", MESSAGES, json.dumps(_msgs(system=5)).encode()),
    (
        "messages content 5",
        MESSAGES,
        json.dumps(
            {"model": MODEL, "max_tokens": 8, "messages": [{"role": "user", "content": 5}]}
        ).encode(),
    ),
    (
        "chat content 5",
        CHAT,
        json.dumps({"model": MODEL, "messages": [{"role": "user", "content": 5}]}).encode(),
    ),
    (
        "image source string",
        MESSAGES,
        json.dumps(
            {
                "model": MODEL,
                "max_tokens": 8,
                "messages": [
                    {"role": "user", "content": [{"type": "image", "source": "http://x"}]}
                ],
            }
        ).encode(),
    ),
    (
        "stream_options not object",
        CHAT,
        json.dumps(
            {
                "model": MODEL,
                "stream": True,
                "stream_options": 5,
                "messages": [{"role": "user", "content": "hi"}],
            }
        ).encode(),
    ),
    ("responses input 5", RESPONSES, json.dumps({"model": MODEL, "input": 5}).encode()),
    (  # found by the route fuzz (test_fuzz_routes): a null type and a number for output
        "responses null-type item with numeric output",
        RESPONSES,
        json.dumps({"model": MODEL, "input": [{"type": None, "output": 1.0}]}).encode(),
    ),
    (
        "responses tool output 5",
        RESPONSES,
        json.dumps(
            {
                "model": MODEL,
                "input": [{"type": "function_call_output", "call_id": "c", "output": 5}],
            }
        ).encode(),
    ),
    (
        "NaN chat",
        CHAT,
        b'{"model": "kimi-k2.5", "temperature": NaN, "messages": [{"role": "user", "content": "hi"}]}',
    ),
    (
        "Infinity messages",
        MESSAGES,
        b'{"model": "kimi-k2.5", "max_tokens": Infinity, "messages": []}',
    ),
    (
        "lone surrogate chat",
        CHAT,
        b'{"model": "kimi-k2.5", "messages": [{"role": "user", "content": "\\ud800"}]}',
    ),
    (
        "lone surrogate messages",
        MESSAGES,
        json.dumps(_msgs(system="\ud800")).encode("utf-8", "surrogatepass"),
    ),
    ("nested chat", CHAT, b'{"model": "kimi-k2.5", "messages": ' + NESTED + b"}"),
    ("nested messages", MESSAGES, b'{"model": "kimi-k2.5", "max_tokens": 8, "x": ' + NESTED + b"}"),
    ("nested responses", RESPONSES, b'{"model": "kimi-k2.5", "input": ' + NESTED + b"}"),
    (
        "tool without name",
        MESSAGES,
        json.dumps(
            _msgs(tools=[{"description": "d", "input_schema": {"type": "object"}}])
        ).encode(),
    ),
    (
        "tool_use without name",
        MESSAGES,
        json.dumps(
            {
                "model": MODEL,
                "max_tokens": 8,
                "messages": [
                    {"role": "user", "content": "hi"},
                    {
                        "role": "assistant",
                        "content": [{"type": "tool_use", "id": "t1", "input": {}}],
                    },
                    {
                        "role": "user",
                        "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "ok"}],
                    },
                ],
            }
        ).encode(),
    ),
    (
        "responses tool without name",
        RESPONSES,
        json.dumps(
            {"model": MODEL, "input": "hi", "tools": [{"type": "function", "parameters": {}}]}
        ).encode(),
    ),
    (
        "responses function_call without name",
        RESPONSES,
        json.dumps(
            {
                "model": MODEL,
                "input": [
                    {"type": "function_call", "call_id": "c1", "arguments": "{}"},
                    {"type": "function_call_output", "call_id": "c1", "output": "ok"},
                ],
            }
        ).encode(),
    ),
    ("responses input item 5", RESPONSES, json.dumps({"model": MODEL, "input": [5]}).encode()),
    (
        "responses content 5",
        RESPONSES,
        json.dumps({"model": MODEL, "input": [{"role": "user", "content": 5}]}).encode(),
    ),
    ("messages tools 5", MESSAGES, json.dumps(_msgs(tools=5)).encode()),
    (
        "chat tools 5",
        CHAT,
        json.dumps(
            {"model": MODEL, "tools": 5, "messages": [{"role": "user", "content": "hi"}]}
        ).encode(),
    ),
]


@pytest.mark.parametrize(("name", "path", "raw"), CASES, ids=[c[0] for c in CASES])
def test_malformed_body_is_a_400_in_the_route_protocol(
    stack: Stack, name: str, path: str, raw: bytes
) -> None:
    r = post_raw(stack, path, raw)
    assert r.status_code == 400, (name, r.status_code, r.text[:300])
    body = r.json()
    if path.startswith(MESSAGES):
        assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    else:
        assert body["error"]["type"] == "invalid_request_error", body
    assert body["error"]["message"]
