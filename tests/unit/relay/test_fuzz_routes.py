"""A bounded hypothesis fuzz of each relay route through a real relay in front of the
simulator: whatever JSON arrives, the answer is never a 5xx (issue 14)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given

from tests.support import loopback
from tests.support.clients import TOKEN, Stack, relay_stack
from tests.support.fuzz import CHAT, FUZZ, MESSAGES, RESPONSES


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    # a balance above 10,000 credits: 500 requests a minute, so the relay's rate-limit pacing
    # never holds the fuzz's few hundred requests (it would hold them past the 30 s timeout)
    with relay_stack(keys={"sk-sim-demo": 50_000}) as s:
        yield s


def _post(stack: Stack, path: str, body: dict[str, Any]) -> None:
    raw = json.dumps(body)
    r = loopback.post(
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
    assert r.status_code < 500, (path, raw[:400], r.status_code, r.text[:400])


@FUZZ
@given(body=CHAT)
def test_chat_route_never_answers_5xx(stack: Stack, body: dict[str, Any]) -> None:
    _post(stack, "/v1/chat/completions", body)


@FUZZ
@given(body=MESSAGES)
def test_messages_route_never_answers_5xx(stack: Stack, body: dict[str, Any]) -> None:
    _post(stack, "/v1/messages", body)


@FUZZ
@given(body=RESPONSES)
def test_responses_route_never_answers_5xx(stack: Stack, body: dict[str, Any]) -> None:
    _post(stack, "/v1/responses", body)
