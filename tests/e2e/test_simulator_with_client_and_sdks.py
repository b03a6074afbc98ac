"""The simulator over real HTTP, through kimrel's hosted client and the official SDKs."""

from __future__ import annotations

import base64
import json

import anthropic
import openai
import pytest

from kimrel_cli import errors
from kimrel_cli.hosted.client import Client
from kimrel_cli.protocols.sse import SSEDecoder
from tests.support import loopback, sdk

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 16
FAST = {"backoff_base": 0.01, "backoff_max": 0.05}
TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city", "days"],
        },
    },
}


def chat_body(**extra):
    return {"model": "kimi-k2", "messages": [{"role": "user", "content": "hello"}], **extra}


@pytest.fixture
def client(simulator):
    with Client("sk-sim-demo", simulator, **FAST) as c:
        yield c


# --- documented errors through our client ----------------------------------------------


@pytest.mark.parametrize(
    ("key", "body", "exc", "code"),
    [
        ("sk-wrong", chat_body(), errors.InvalidKey, "invalid_api_key"),
        ("sk-sim-empty", chat_body(), errors.InsufficientCredits, "insufficient_credits"),
        ("sk-sim-demo", chat_body(model="kimi-k9"), errors.NotFound, "model_not_found"),
        ("sk-sim-demo", chat_body(temperature=2.5), errors.BadRequest, "invalid_request"),
        (
            "sk-sim-demo",
            chat_body(stop=["a", "b", "c", "d", "e"]),
            errors.BadRequest,
            "invalid_request",
        ),
        ("sk-sim-demo", chat_body(max_tokens=100_000), errors.BadRequest, "invalid_request"),
        (
            "sk-sim-demo",
            chat_body(messages=[{"role": "user", "content": "x" * 600_000}]),
            errors.BadRequest,
            "context_length_exceeded",
        ),
        (
            "sk-sim-demo",
            chat_body(
                model="kimi-k2.6",
                messages=[
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "image_url",
                                "image_url": {
                                    "url": "data:image/png;base64," + "A" * (8 * 1024 * 1024 + 4)
                                },
                            }
                        ],
                    }
                ],
            ),
            errors.BadRequest,
            "encoded_image_too_large",
        ),
        (
            "sk-sim-demo",
            chat_body(
                messages=[
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "image_url",
                                "image_url": {
                                    "url": "data:image/png;base64," + base64.b64encode(PNG).decode()
                                },
                            }
                        ],
                    }
                ]
            ),
            errors.BadRequest,
            "invalid_request",
        ),
    ],
    ids=[
        "401",
        "403-credits",
        "404-model",
        "temperature",
        "stops",
        "max-tokens",
        "context",
        "image-8mb",
        "image-for-text-model",
    ],
)
def test_documented_errors_reach_the_client_typed(simulator, key, body, exc, code):
    with Client(key, simulator, max_retries=0) as c, pytest.raises(exc) as info:
        c.chat(body)
    assert info.value.wire_code == code


def test_messages_route_errors_use_the_anthropic_shape(simulator):
    response = loopback.post(
        simulator + "/v1/messages",
        json={"model": "kimi-k2", "messages": [{"role": "user", "content": "x"}]},
        headers={"x-api-key": "sk-sim-demo"},
    )
    assert response.status_code == 400 and response.json()["type"] == "error"
    assert response.json()["error"]["type"] == "invalid_request_error"
    response = loopback.post(simulator + "/v1/messages", json={}, headers={"x-api-key": "nope"})
    assert (
        response.status_code == 401 and response.json()["error"]["type"] == "authentication_error"
    )


def test_unknown_routes_and_methods_are_refused_in_shape(simulator):
    r = loopback.get(simulator + "/v1/engines", headers={"Authorization": "Bearer sk-sim-demo"})
    assert r.status_code == 404 and "error" in r.json()
    r = loopback.get(simulator + "/v1/messages")
    assert r.status_code == 405 and r.json()["type"] == "error"


def test_either_auth_header_works_on_every_route(simulator):
    for headers in ({"Authorization": "Bearer sk-sim-demo"}, {"X-API-Key": "sk-sim-demo"}):
        assert loopback.get(simulator + "/v1/models", headers=headers).status_code == 200
        assert loopback.get(simulator + "/user/credits", headers=headers).status_code == 200


# --- credits and limits ------------------------------------------------------------------


def test_success_charges_the_price_and_failure_charges_nothing(client):
    start = client.credits().data["credits_remaining"]
    assert client.chat(chat_body(model="kimi-k2.6")).rate.credits_remaining == start - 3
    with pytest.raises(errors.BadRequest):
        client.chat(chat_body(temperature=9))
    assert client.credits().data["credits_remaining"] == start - 3


def test_rate_limit_by_tier_then_429_with_reset(make_simulator):
    url = make_simulator(keys={"sk-small": 50})
    with Client("sk-small", url, max_retries=0) as c:
        results = [c.list_models() for _ in range(20)]
        assert results[0].rate.limit == 20 and results[-1].rate.remaining == 0
        with pytest.raises(errors.RateLimited) as info:
            c.list_models()
    assert info.value.retry_after is not None and info.value.retry_after > 0


def test_429_then_success_is_retried_through_a_fault(client):
    result = client.chat(
        chat_body(), headers={"X-Kimrel-Fault": "status=429,times=1,retry_after=0"}
    )
    assert result.data["choices"][0]["message"]["content"] == "Simulated reply to: hello"


def test_503_twice_then_success(client):
    assert client.chat(chat_body(), headers={"X-Kimrel-Fault": "status=503,times=2"}).status == 200


def test_dropped_stream_is_not_retried(simulator):
    with Client("sk-sim-demo", simulator, **FAST) as c:
        before = c.credits().data["credits_remaining"]
        got = []
        with (
            pytest.raises(errors.UpstreamUnavailable),
            c.stream_chat(chat_body(), headers={"X-Kimrel-Fault": "drop_after=2"}) as stream,
        ):
            for chunk in stream:
                got.append(chunk)
        assert len(got) == 2
        assert c.credits().data["credits_remaining"] == before, "a dropped stream is not charged"


def test_slow_fault_delays_the_answer(client):
    import time

    started = time.monotonic()
    client.list_models()
    quick = time.monotonic() - started
    started = time.monotonic()
    client.chat(chat_body(), headers={"X-Kimrel-Fault": "delay=0.3"})
    assert time.monotonic() - started >= 0.3 > quick


# --- generation --------------------------------------------------------------------------


def test_chat_stream_has_kimi_framing(simulator):
    r = loopback.post(
        simulator + "/v1/chat/completions",
        json=chat_body(
            model="kimi-k2-thinking", stream=True, stream_options={"include_usage": True}
        ),
        headers={"Authorization": "Bearer sk-sim-demo"},
    )
    events = SSEDecoder().feed(r.content)
    assert events[-1].data == "[DONE]"
    chunks = [json.loads(e.data) for e in events[:-1]]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    reasoning = "".join(
        c["choices"][0]["delta"].get("reasoning_content", "") for c in chunks if c["choices"]
    )
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert reasoning == "Considering: hello" and text == "Simulated reply to: hello"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0
    assert all(c.get("usage") is None for c in chunks[:-1])


def test_tool_call_streams_arguments_in_fragments_valid_against_the_schema(client):
    with client.stream_chat(chat_body(tools=[TOOL], tool_choice="required")) as stream:
        chunks = list(stream)
    fragments = [
        tc
        for c in chunks
        if c["choices"]
        for tc in c["choices"][0]["delta"].get("tool_calls") or []
    ]
    assert fragments[0]["id"] == "functions.get_weather:0" and len(fragments) >= 3
    args = json.loads("".join(f["function"].get("arguments", "") for f in fragments))
    assert isinstance(args["city"], str) and isinstance(args["days"], int)


def test_reasoning_content_missing_on_a_tool_turn_is_refused_when_thinking(client):
    history = [
        {"role": "user", "content": "weather?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "functions.get_weather:0",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": "{}"},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "functions.get_weather:0", "content": "sunny"},
    ]
    with pytest.raises(errors.BadRequest) as info:
        client.chat({"model": "kimi-k2.6", "messages": history, "tools": [TOOL]})
    assert (
        "reasoning_content is missing in assistant tool call message at index 1"
        in info.value.message
    )
    history[1]["reasoning_content"] = ""
    answer = client.chat({"model": "kimi-k2.6", "messages": history, "tools": [TOOL]})
    assert answer.data["choices"][0]["message"]["content"] == "The tool returned: sunny"


def test_stop_max_tokens_and_n(client):
    out = client.chat(chat_body(stop=["to"], n=2)).data
    assert (
        len(out["choices"]) == 2 and out["choices"][0]["message"]["content"] == "Simulated reply "
    )
    out = client.chat(chat_body(max_tokens=2)).data
    assert out["choices"][0]["finish_reason"] == "length"


# --- the official SDKs as clients --------------------------------------------------------


def test_openai_sdk_lists_creates_streams_and_sees_typed_errors(simulator):
    client = sdk.openai_client(base_url=simulator + "/v1", api_key="sk-sim-demo", max_retries=0)
    assert {m.id for m in client.models.list()} >= {"kimi-k2", "kimi-k2.6"}
    assert (
        client.chat.completions.create(
            model="kimi-k2", messages=[{"role": "user", "content": "hi"}]
        )
        .choices[0]
        .message.content
        == "Simulated reply to: hi"
    )
    with client.chat.completions.stream(
        model="kimi-k2",
        messages=[{"role": "user", "content": "hi"}],
        tools=[TOOL],
        tool_choice="required",
    ) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.tool_calls[0].function.name == "get_weather"
    with pytest.raises(openai.AuthenticationError):
        sdk.openai_client(base_url=simulator + "/v1", api_key="bad", max_retries=0).models.list()
    with pytest.raises(openai.PermissionDeniedError):
        sdk.openai_client(
            base_url=simulator + "/v1", api_key="sk-sim-empty", max_retries=0
        ).chat.completions.create(model="kimi-k2", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="kimi-k9", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(
            model="kimi-k2", messages=[{"role": "user", "content": "x"}], temperature=3
        )


def test_anthropic_sdk_creates_streams_uses_tools_and_sees_typed_errors(simulator):
    client = sdk.anthropic_client(base_url=simulator, api_key="sk-sim-demo", max_retries=0)
    message = client.messages.create(
        model="kimi-k2.6", max_tokens=100, messages=[{"role": "user", "content": "hi"}]
    )
    assert [b.type for b in message.content] == ["thinking", "text"]
    with client.messages.stream(
        model="kimi-k2",
        max_tokens=100,
        messages=[{"role": "user", "content": "use get_weather"}],
        tools=[{"name": "get_weather", "input_schema": TOOL["function"]["parameters"]}],
    ) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use" and final.content[0].input["city"]
    with pytest.raises(anthropic.AuthenticationError):
        sdk.anthropic_client(base_url=simulator, api_key="bad", max_retries=0).messages.create(
            model="kimi-k2", max_tokens=5, messages=[{"role": "user", "content": "x"}]
        )
    with pytest.raises(anthropic.NotFoundError):
        client.messages.create(
            model="kimi-k9", max_tokens=5, messages=[{"role": "user", "content": "x"}]
        )
    with pytest.raises(anthropic.BadRequestError):
        client.messages.create(
            model="kimi-k2",
            max_tokens=5,
            messages=[{"role": "user", "content": "x"}],
            extra_body={"temperature": 1.5},
        )
    with pytest.raises(anthropic.RateLimitError):
        client.messages.create(
            model="kimi-k2",
            max_tokens=5,
            messages=[{"role": "user", "content": "x"}],
            extra_headers={"X-Kimrel-Fault": "status=429"},
        )
