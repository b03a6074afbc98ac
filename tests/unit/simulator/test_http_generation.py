"""Answers over real HTTP: text, thinking, tools, stop/max_tokens/n, and both stream framings."""

from __future__ import annotations

import json

from kimrel_cli.protocols.sse import SSEDecoder
from tests.support import loopback

DEMO = {"Authorization": "Bearer sk-sim-demo"}
WEATHER = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
    "required": ["city"],
}
CHAT_TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER}}]
MSG_TOOLS = [{"name": "get_weather", "input_schema": WEATHER}]


def chat(url, **body):
    body.setdefault("model", "kimi-k2")
    body.setdefault("messages", [{"role": "user", "content": "hello"}])
    r = loopback.post(url + "/v1/chat/completions", json=body, headers=DEMO)
    assert r.status_code == 200, r.text
    return r.json()


def msgs(url, **body):
    body.setdefault("model", "kimi-k2")
    body.setdefault("max_tokens", 256)
    body.setdefault("messages", [{"role": "user", "content": "hello"}])
    r = loopback.post(url + "/v1/messages", json=body, headers={"x-api-key": "sk-sim-demo"})
    assert r.status_code == 200, r.text
    return r.json()


def events(url, path, body):
    headers = {"x-api-key": "sk-sim-demo"}
    with loopback.stream("POST", url + path, json=body, headers=headers) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        decoder = SSEDecoder()
        out = []
        for raw in r.iter_bytes():
            out += decoder.feed(raw)
        return out + decoder.flush()


def test_chat_text_usage_and_n_choices(simulator):
    body = chat(simulator, n=3)
    assert [c["index"] for c in body["choices"]] == [0, 1, 2]
    message = body["choices"][0]["message"]
    assert message == {"role": "assistant", "content": "Simulated reply to: hello"}
    assert body["choices"][0]["finish_reason"] == "stop"
    usage = body["usage"]
    assert usage["completion_tokens"] == 7  # ceil(25 / 4)
    assert usage["total_tokens"] == usage["prompt_tokens"] + 7


def test_chat_stop_and_max_tokens(simulator):
    stopped = chat(simulator, stop="hello")["choices"][0]
    assert stopped["message"]["content"] == "Simulated reply to: "
    assert stopped["finish_reason"] == "stop"
    assert (
        chat(simulator, stop=["zzz", "reply"])["choices"][0]["message"]["content"] == "Simulated "
    )
    cut = chat(simulator, max_tokens=2)["choices"][0]
    assert (cut["message"]["content"], cut["finish_reason"]) == ("Simulate", "length")
    assert chat(simulator, max_completion_tokens=1)["choices"][0]["finish_reason"] == "length"


def test_chat_thinking_models_reason_first_unless_disabled(simulator):
    message = chat(simulator, model="kimi-k2-thinking")["choices"][0]["message"]
    assert message["reasoning_content"] == "Considering: hello"
    assert "reasoning_content" in chat(simulator, model="kimi-k2.6")["choices"][0]["message"]
    off = chat(simulator, model="kimi-k2.5", thinking={"type": "disabled"})
    assert "reasoning_content" not in off["choices"][0]["message"]


def test_chat_tool_call_when_forced_or_named(simulator):
    forced = chat(simulator, tools=CHAT_TOOLS, tool_choice="required")["choices"][0]
    assert forced["finish_reason"] == "tool_calls"
    call = forced["message"]["tool_calls"][0]
    assert call["id"] == "functions.get_weather:0"
    assert json.loads(call["function"]["arguments"]) == {"city": "echo simulated"}
    named = [{"role": "user", "content": "call get_weather now"}]
    assert chat(simulator, tools=CHAT_TOOLS, messages=named)["choices"][0]["message"]["tool_calls"]
    plain = chat(simulator, tools=CHAT_TOOLS)["choices"][0]["message"]
    assert "tool_calls" not in plain


def test_chat_tool_result_is_quoted_and_reasoning_content_is_required(simulator):
    call = {
        "id": "functions.get_weather:0",
        "type": "function",
        "function": {"name": "get_weather", "arguments": "{}"},
    }
    history = [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": "", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call["id"], "content": "sunny"},
    ]
    answer = chat(simulator, messages=history, tools=CHAT_TOOLS)["choices"][0]["message"]
    assert answer["content"] == "The tool returned: sunny"
    r = loopback.post(
        simulator + "/v1/chat/completions",
        json={"model": "kimi-k2.6", "messages": history},
        headers=DEMO,
    )
    assert r.status_code == 400
    assert r.json()["error"]["message"] == (
        "thinking is enabled but reasoning_content is missing in assistant tool call message at index 1"
    )
    history[1]["reasoning_content"] = "thought"
    assert chat(simulator, model="kimi-k2.6", messages=history)["choices"][0]["message"]["content"]


def test_chat_stream_framing_with_usage_chunk(simulator):
    body = {
        "model": "kimi-k2-thinking",
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": [{"role": "user", "content": "a longer prompt to split"}],
    }
    got = events(simulator, "/v1/chat/completions", body)
    assert got[-1].data == "[DONE]"
    chunks = [json.loads(e.data) for e in got[:-1]]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    reasoning = "".join(
        c["choices"][0]["delta"].get("reasoning_content", "") for c in chunks if c["choices"]
    )
    text_parts = [
        c["choices"][0]["delta"]["content"]
        for c in chunks[1:]
        if c["choices"] and "content" in c["choices"][0]["delta"]
    ]
    assert reasoning == "Considering: a longer prompt to split"
    assert (
        len(text_parts) > 2
        and "".join(text_parts) == "Simulated reply to: a longer prompt to split"
    )
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] > 0
    assert all("usage" not in c for c in chunks[:-1])


def test_chat_stream_without_include_usage_puts_usage_in_the_finish_chunk(simulator):
    got = events(
        simulator,
        "/v1/chat/completions",
        {"model": "kimi-k2", "stream": True, "messages": [{"role": "user", "content": "hi"}]},
    )
    last = json.loads(got[-2].data)
    assert last["choices"][0]["finish_reason"] == "stop"
    assert last["choices"][0]["usage"]["completion_tokens"] == 6


def test_chat_stream_tool_arguments_arrive_in_fragments(simulator):
    body = {
        "model": "kimi-k2",
        "stream": True,
        "tools": CHAT_TOOLS,
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "messages": [{"role": "user", "content": "hi"}],
    }
    chunks = [json.loads(e.data) for e in events(simulator, "/v1/chat/completions", body)[:-1]]
    calls = [
        c["choices"][0]["delta"]["tool_calls"][0]
        for c in chunks
        if "tool_calls" in c["choices"][0]["delta"]
    ]
    assert (
        calls[0]["id"] == "functions.get_weather:0"
        and calls[0]["function"]["name"] == "get_weather"
    )
    fragments = [c["function"]["arguments"] for c in calls[1:]]
    assert len(fragments) >= 2 and json.loads("".join(fragments)) == {"city": "echo simulated"}
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_stream_is_charged_when_it_completes(simulator):
    events(
        simulator,
        "/v1/chat/completions",
        {"model": "kimi-k2.6", "stream": True, "messages": [{"role": "user", "content": "hi"}]},
    )
    credits = loopback.get(simulator + "/user/credits", headers=DEMO).json()
    assert credits["credits_remaining"] == 997


def test_messages_text_stop_sequence_and_max_tokens(simulator):
    body = msgs(simulator)
    assert body["content"] == [{"type": "text", "text": "Simulated reply to: hello"}]
    assert body["stop_reason"] == "end_turn" and body["stop_sequence"] is None
    assert body["usage"]["output_tokens"] == 7
    stopped = msgs(simulator, stop_sequences=["reply"])
    assert (stopped["stop_reason"], stopped["stop_sequence"]) == ("stop_sequence", "reply")
    assert stopped["content"][0]["text"] == "Simulated "
    assert msgs(simulator, max_tokens=2)["stop_reason"] == "max_tokens"


def test_messages_thinking_block_and_tool_use(simulator):
    body = msgs(simulator, model="kimi-k2.5", tools=MSG_TOOLS, tool_choice={"type": "any"})
    kinds = [b["type"] for b in body["content"]]
    assert kinds == ["thinking", "tool_use"]
    assert body["content"][0]["thinking"] == "Considering: hello"
    use = body["content"][1]
    assert use["id"].startswith("toolu_sim_") and use["input"] == {"city": "echo simulated"}
    assert body["stop_reason"] == "tool_use"
    history = [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": [use]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": use["id"], "content": "rain"}],
        },
    ]
    answer = msgs(
        simulator,
        messages=history,
        tools=MSG_TOOLS,
        thinking={"type": "disabled"},
        model="kimi-k2.6",
    )
    assert answer["content"] == [{"type": "text", "text": "The tool returned: rain"}]


def test_messages_stream_follows_the_anthropic_sequence(simulator):
    body = {
        "model": "kimi-k2-thinking",
        "max_tokens": 200,
        "stream": True,
        "tools": MSG_TOOLS,
        "messages": [{"role": "user", "content": "use get_weather"}],
    }
    got = events(simulator, "/v1/messages", body)
    names = [e.event for e in got]
    assert names[:2] == ["message_start", "ping"]
    assert names[-2:] == ["message_delta", "message_stop"]
    data = [json.loads(e.data) for e in got]
    assert all(d["type"] == e.event for d, e in zip(data, got, strict=True))
    starts = [d["content_block"]["type"] for d in data if d["type"] == "content_block_start"]
    assert starts == ["thinking", "tool_use"]
    thinking_deltas = [
        d["delta"]["type"] for d in data if d["type"] == "content_block_delta" and d["index"] == 0
    ]
    assert thinking_deltas[-1] == "signature_delta" and "thinking_delta" in thinking_deltas
    partial = [
        d["delta"]["partial_json"]
        for d in data
        if d.get("delta", {}).get("type") == "input_json_delta"
    ]
    assert len(partial) >= 2 and json.loads("".join(partial)) == {"city": "echo simulated"}
    final = data[-2]
    assert final["delta"]["stop_reason"] == "tool_use" and final["usage"]["output_tokens"] > 0
