"""The chat pass-through renames the model in each streamed chunk without re-serialising it."""

from __future__ import annotations

from kimrel_cli.protocols.sse import SSEEvent
from kimrel_cli.relay.chat_route import ChatPassThrough

CHUNK = (
    '{"id":"c1", "model": "kimi-k2.5", "choices":[{"index":0,"delta":{"content":"a \\u00e9"},'
    '"finish_reason":null}], "system_fingerprint": null, "x_score": 1e5}'
)


def test_a_renamed_chunk_is_the_upstream_text_with_only_the_model_swapped():
    relay = ChatPassThrough("gpt-4o", "kimi-k2.5", wants_usage=False)
    out = relay.feed(SSEEvent(None, CHUNK))
    expected = CHUNK.replace('"model": "kimi-k2.5"', '"model":"gpt-4o"')
    assert out == f"data: {expected}\n\n".encode()


def test_usage_and_errors_are_still_read():
    relay = ChatPassThrough("gpt-4o", "kimi-k2.5", wants_usage=False)
    usage = '{"id":"c1","model":"kimi-k2.5","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4}}'
    assert (
        relay.feed(SSEEvent(None, usage)) == b""
    )  # the usage-only chunk the client did not ask for
    assert (relay.outcome().tokens_in, relay.outcome().tokens_out) == (3, 4)
    error = '{"model":"kimi-k2.5","error":{"message":"boom","type":"server_error"}}'
    assert b'"error"' in relay.feed(SSEEvent(None, error))
    assert relay.outcome().error == "upstream error mid-stream"


def test_a_chunk_naming_another_model_is_renamed_through_json():
    relay = ChatPassThrough("gpt-4o", "kimi-k2.5", wants_usage=False)
    out = relay.feed(SSEEvent(None, '{"id":"c1","model":"kimi-k2","choices":[]}'))
    assert out == b'data: {"id":"c1","model":"gpt-4o","choices":[]}\n\n'
