"""Client-only retry behaviour, driven through httpx.MockTransport (the library's own seam)."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from kimrel_cli.errors import InsufficientCredits, RateLimited, ServerError, UpstreamUnavailable
from kimrel_cli.hosted.client import AsyncClient, Client

FAST = {"backoff_base": 0.001, "backoff_max": 0.01}


def ok_chat():
    return httpx.Response(
        200,
        json={"choices": [{"message": {"content": "hi"}}]},
        headers={"X-Credits-Remaining": "41", "X-RateLimit-Limit": "60"},
    )


def test_429_then_success_is_retried_and_rate_headers_are_read():
    calls = []

    def handler(request):
        calls.append(request)
        if len(calls) == 1:
            return httpx.Response(
                429, json={"error": {"code": "rate_limit_exceeded"}}, headers={"Retry-After": "0"}
            )
        return ok_chat()

    with Client("sk-x", "http://h/api", transport=httpx.MockTransport(handler), **FAST) as client:
        result = client.chat({"model": "kimi-k2", "messages": []})
    assert len(calls) == 2
    assert result.rate.credits_remaining == 41 and result.rate.limit == 60
    assert calls[0].headers["authorization"] == "Bearer sk-x"


def test_retries_give_up_after_max_retries():
    calls = []

    def handler(request):
        calls.append(request)
        return httpx.Response(429, json={"error": {"code": "rate_limit_exceeded"}})

    with (
        Client(
            "sk-x", "http://h/api", transport=httpx.MockTransport(handler), max_retries=2, **FAST
        ) as c,
        pytest.raises(RateLimited),
    ):
        c.chat({"model": "kimi-k2", "messages": []})
    assert len(calls) == 3


def test_insufficient_credits_is_never_retried():
    calls = []

    def handler(request):
        calls.append(request)
        return httpx.Response(
            403, json={"error": {"type": "insufficient_quota", "code": "insufficient_credits"}}
        )

    with (
        Client("sk-x", "http://h/api", transport=httpx.MockTransport(handler), **FAST) as c,
        pytest.raises(InsufficientCredits),
    ):
        c.chat({"model": "kimi-k2", "messages": []})
    assert len(calls) == 1


def test_connection_errors_are_retried_then_reported_with_the_base_url():
    calls = []

    def handler(request):
        calls.append(request)
        raise httpx.ConnectError("refused")

    with (
        Client(
            "sk-x",
            "http://nowhere/api",
            transport=httpx.MockTransport(handler),
            max_retries=1,
            **FAST,
        ) as c,
        pytest.raises(UpstreamUnavailable) as info,
    ):
        c.list_models()
    assert len(calls) == 2 and "http://nowhere/api" in info.value.message


def test_non_json_success_body_is_a_clear_error():
    def handler(request):
        return httpx.Response(200, text="<html>hello</html>", headers={"content-type": "text/html"})

    with (
        Client("sk-x", "http://h/api", transport=httpx.MockTransport(handler), **FAST) as c,
        pytest.raises(UpstreamUnavailable) as info,
    ):
        c.list_models()
    assert "not JSON" in info.value.message


class BreaksAfterFirstChunk(httpx.SyncByteStream):
    def __iter__(self):
        yield b'data: {"choices":[{"delta":{"content":"a"}}]}\n\n'
        raise httpx.ReadError("connection reset")


def test_no_retry_once_a_stream_has_started():
    calls = []

    def handler(request):
        calls.append(request)
        return httpx.Response(
            200, stream=BreaksAfterFirstChunk(), headers={"content-type": "text/event-stream"}
        )

    got = []
    client = Client("sk-x", "http://h/api", transport=httpx.MockTransport(handler), **FAST)
    with (
        pytest.raises(UpstreamUnavailable),
        client.stream_chat({"model": "kimi-k2", "messages": []}) as stream,
    ):
        for chunk in stream:
            got.append(chunk)
    client.close()
    assert len(calls) == 1 and len(got) == 1
    assert json.loads(calls[0].content)["stream_options"] == {"include_usage": True}


def test_async_open_stream_retries_before_the_first_byte_only():
    calls = []

    async def handler(request):
        calls.append(request)
        if len(calls) == 1:
            return httpx.Response(503, json={"error": {"message": "busy"}})
        return httpx.Response(200, content=b'data: {"x":1}\n\ndata: [DONE]\n\n')

    async def run():
        client = AsyncClient("sk-x", "http://h/api", transport=httpx.MockTransport(handler), **FAST)
        try:
            async with client.open_stream("/v1/chat/completions", {"stream": True}) as stream:
                return [event.data async for event in stream.aiter_events()]
        finally:
            await client.aclose()

    assert asyncio.run(run()) == ['{"x":1}', "[DONE]"]
    assert len(calls) == 2


def test_client_repr_hides_the_key():
    client = Client("sk-secret-value-9999", "http://h/api")
    assert "secret" not in repr(client)
    client.close()


def test_a_long_server_wait_is_reported_at_once_and_marked_final():
    calls = []

    def handler(request):
        calls.append(request)
        return httpx.Response(
            429, json={"error": {"code": "rate_limit_exceeded"}}, headers={"Retry-After": "60"}
        )

    with (
        Client("sk-x", "http://h/api", transport=httpx.MockTransport(handler), **FAST) as c,
        pytest.raises(RateLimited) as caught,
    ):
        c.chat({"model": "kimi-k2", "messages": []})
    assert len(calls) == 1
    assert caught.value.final and caught.value.attempts == 1 and "60 s" in caught.value.message


def test_given_up_retries_are_final_and_counted_but_not_without_retries():
    def handler(request):
        return httpx.Response(500, json={"error": {"code": "server_error", "message": "boom"}})

    transport = httpx.MockTransport(handler)
    with (
        Client("sk-x", "http://h/api", transport=transport, max_retries=2, **FAST) as c,
        pytest.raises(ServerError) as caught,
    ):
        c.chat({"model": "kimi-k2", "messages": []})
    assert caught.value.final and caught.value.attempts == 3
    with (
        Client("sk-x", "http://h/api", transport=transport, max_retries=0, **FAST) as c,
        pytest.raises(ServerError) as caught,
    ):
        c.chat({"model": "kimi-k2", "messages": []})
    assert not caught.value.final  # kimrel did not retry: the caller may
