"""Tool-call ids: unique per call across a session, and mapped back to the model's own ids."""

from __future__ import annotations

import base64

from hypothesis import given
from hypothesis import strategies as st

from kimrel_cli.catalogue import MODELS
from kimrel_cli.protocols.anthropic_to_chat import ChatTarget, anthropic_to_chat
from kimrel_cli.protocols.chat_to_anthropic import chat_to_anthropic
from kimrel_cli.protocols.chat_to_anthropic_stream import ChatToAnthropicStream
from kimrel_cli.protocols.ids import decode_tool_id, encode_tool_id

K25 = ChatTarget(model="kimi-k2.5", info=MODELS["kimi-k2.5"], max_output_tokens=8192)
ANTHROPIC_ID = r"^[a-zA-Z0-9_-]+$"


def _answer(call_id: str = "functions.Bash:0") -> dict:
    """A chat completion as Kimi answers it: the first call of every answer is `…:0`."""
    call = {
        "id": call_id,
        "type": "function",
        "function": {"name": "Bash", "arguments": '{"command": "ls"}'},
    }
    return {
        "choices": [
            {
                "message": {"role": "assistant", "content": None, "tool_calls": [call]},
                "finish_reason": "tool_calls",
            }
        ]
    }


def _tool_use(message_id: str) -> dict:
    msg = chat_to_anthropic(
        _answer(), requested_model="kimi-k2.5", message_id=message_id, input_tokens_estimate=1
    )
    return next(b for b in msg["content"] if b["type"] == "tool_use")


def _streamed_tool_use(message_id: str) -> dict:
    tx = ChatToAnthropicStream(model="kimi-k2.5", message_id=message_id, input_tokens=1)
    events = tx.start()
    fragment = {
        "index": 0,
        "id": "functions.Bash:0",
        "type": "function",
        "function": {"name": "Bash", "arguments": '{"command": "ls"}'},
    }
    events += tx.feed({"choices": [{"delta": {"tool_calls": [fragment]}}]})
    events += tx.feed({"choices": [{"delta": {}, "finish_reason": "tool_calls"}]})
    events += tx.finish()
    return next(
        data["content_block"]
        for name, data in events
        if name == "content_block_start" and data["content_block"]["type"] == "tool_use"
    )


def test_the_same_kimi_id_in_two_answers_gets_two_different_client_ids():
    first = _tool_use("msg_kr_aaaaaaaaaaaaaaaaaaaa1111")
    second = _tool_use("msg_kr_aaaaaaaaaaaaaaaaaaaa2222")
    assert first["id"] != second["id"]
    assert decode_tool_id(first["id"]) == decode_tool_id(second["id"]) == "functions.Bash:0"


def test_streamed_ids_are_unique_per_message_too_and_match_the_whole_answer():
    a = _streamed_tool_use("msg_kr_00000000000000000000aaaa")
    b = _streamed_tool_use("msg_kr_00000000000000000000bbbb")
    assert a["id"] != b["id"]
    assert a["id"] == _tool_use("msg_kr_00000000000000000000aaaa")["id"]
    assert decode_tool_id(a["id"]) == "functions.Bash:0"


def test_a_session_of_five_turns_maps_every_result_back_to_the_kimi_id_of_its_turn():
    """Five answers each calling `functions.Bash:0`; the history Claude Code sends back
    reaches Kimi with the model's own id on every call and its result."""
    messages: list[dict] = [{"role": "user", "content": "run it"}]
    seen: set[str] = set()
    for turn in range(5):
        use = _tool_use(f"msg_kr_{turn:024x}")
        assert use["id"] not in seen
        seen.add(use["id"])
        messages.append({"role": "assistant", "content": [use]})
        messages.append(
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": use["id"], "content": f"out {turn}"}
                ],
            }
        )
    body = {"model": "kimi-k2.5", "max_tokens": 100, "messages": messages}
    chat, _ = anthropic_to_chat(body, K25)
    calls = [c["id"] for m in chat["messages"] for c in m.get("tool_calls") or []]
    results = [(m["tool_call_id"], m["content"]) for m in chat["messages"] if m["role"] == "tool"]
    assert calls == ["functions.Bash:0"] * 5
    assert results == [("functions.Bash:0", f"out {n}") for n in range(5)]


def test_ids_minted_before_the_nonce_still_decode_and_foreign_ids_pass_through():
    old = "toolu_kr_" + base64.urlsafe_b64encode(b"functions.Read:3").decode().rstrip("=")
    assert decode_tool_id(old) == "functions.Read:3"
    for foreign in ("toolu_01ABC", "toolu_krXYZ", "call_123", ""):
        assert decode_tool_id(foreign) == foreign


@given(
    upstream=st.text(min_size=1, max_size=40),
    message_id=st.text(alphabet="abcdef0123456789_", min_size=0, max_size=40),
)
def test_round_trip_for_any_upstream_id(upstream: str, message_id: str):
    client = encode_tool_id(upstream, "msg_kr_" + message_id)
    assert decode_tool_id(client) == upstream
    import re

    assert re.match(ANTHROPIC_ID, client)
