"""What the relay notes of an upstream `usage` object for the ledger, in either wire shape."""

from __future__ import annotations

from kimrel_cli.relay.context import UpstreamCall


def test_chat_usage_with_reasoning_tokens():
    call = UpstreamCall(protocol="chat")
    call.note_usage(
        {
            "prompt_tokens": 120,
            "completion_tokens": 80,
            "completion_tokens_details": {"reasoning_tokens": 50},
        }
    )
    assert (call.tokens_in, call.tokens_out, call.tokens_reasoning) == (120, 80, 50)


def test_anthropic_usage_arrives_in_two_events_and_keeps_what_each_said():
    call = UpstreamCall(protocol="anthropic")
    call.note_usage({"input_tokens": 30, "output_tokens": 1})  # message_start
    call.note_usage({"output_tokens": 42})  # message_delta
    assert (call.tokens_in, call.tokens_out, call.tokens_reasoning) == (30, 42, None)


def test_garbage_usage_changes_nothing():
    call = UpstreamCall(protocol="chat")
    for usage in (None, "x", {"prompt_tokens": "5", "completion_tokens": True}):
        call.note_usage(usage)
    assert (call.tokens_in, call.tokens_out) == (None, None)
