"""The official openai and anthropic SDKs against the simulator: calls, streams, typed errors."""

from __future__ import annotations

import json

import anthropic
import openai
import pytest

from tests.support import sdk

WEATHER = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
}
HELLO = [{"role": "user", "content": "hello"}]


@pytest.fixture
def oai(simulator):
    return sdk.openai_client(base_url=simulator + "/v1", api_key="sk-sim-demo", max_retries=0)


@pytest.fixture
def ant(simulator):
    return sdk.anthropic_client(base_url=simulator, api_key="sk-sim-demo", max_retries=0)


def test_openai_lists_models_and_creates(oai):
    assert "kimi-k2.6" in [m.id for m in oai.models.list().data]
    done = oai.chat.completions.create(model="kimi-k2", messages=HELLO)
    assert done.choices[0].message.content == "Simulated reply to: hello"
    assert done.usage.completion_tokens == 7


def test_openai_streams_raw_and_with_the_helper(oai):
    stream = oai.chat.completions.create(
        model="kimi-k2", messages=HELLO, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Simulated reply to: hello"
    assert chunks[-1].usage.total_tokens > 0
    with oai.chat.completions.stream(model="kimi-k2.6", messages=HELLO) as helper:
        final = helper.get_final_completion()
    assert final.choices[0].message.content == "Simulated reply to: hello"


def test_openai_tool_call_arguments_parse(oai):
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER}}]
    done = oai.chat.completions.create(
        model="kimi-k2", messages=HELLO, tools=tools, tool_choice="required"
    )
    call = done.choices[0].message.tool_calls[0]
    assert call.id == "functions.get_weather:0"
    assert json.loads(call.function.arguments) == {"city": "echo simulated"}
    with oai.chat.completions.stream(
        model="kimi-k2", messages=HELLO, tools=tools, tool_choice="required"
    ) as helper:
        final = helper.get_final_completion()
    assert json.loads(final.choices[0].message.tool_calls[0].function.arguments) == {
        "city": "echo simulated"
    }


def test_openai_sees_typed_errors(simulator, make_simulator):
    bad = sdk.openai_client(base_url=simulator + "/v1", api_key="sk-nope", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.models.list()
    empty = sdk.openai_client(base_url=simulator + "/v1", api_key="sk-sim-empty", max_retries=0)
    with pytest.raises(openai.PermissionDeniedError):
        empty.chat.completions.create(model="kimi-k2", messages=HELLO)
    demo = sdk.openai_client(base_url=simulator + "/v1", api_key="sk-sim-demo", max_retries=0)
    with pytest.raises(openai.NotFoundError) as info:
        demo.chat.completions.create(model="gpt-9", messages=HELLO)
    assert info.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError):
        demo.chat.completions.create(model="kimi-k2", messages=HELLO, temperature=3)
    with pytest.raises(openai.RateLimitError):
        demo.chat.completions.create(
            model="kimi-k2", messages=HELLO, extra_headers={"X-Kimrel-Fault": "status=429"}
        )
    small_url = make_simulator(keys={"sk-small": 50})
    small = sdk.openai_client(base_url=small_url + "/v1", api_key="sk-small", max_retries=0)
    with pytest.raises(openai.RateLimitError):
        for _ in range(21):
            small.models.list()


def test_anthropic_creates_and_streams(ant):
    message = ant.messages.create(model="kimi-k2", max_tokens=100, messages=HELLO)
    assert message.content[0].text == "Simulated reply to: hello"
    assert message.stop_reason == "end_turn"
    with ant.messages.stream(model="kimi-k2", max_tokens=100, messages=HELLO) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "Simulated reply to: hello"
    assert final.usage.output_tokens == 7


def test_anthropic_tool_use_and_thinking(ant):
    tools = [{"name": "get_weather", "description": "weather", "input_schema": WEATHER}]
    message = ant.messages.create(
        model="kimi-k2-thinking",
        max_tokens=200,
        messages=HELLO,
        tools=tools,
        tool_choice={"type": "tool", "name": "get_weather"},
    )
    assert [b.type for b in message.content] == ["thinking", "tool_use"]
    assert message.content[0].thinking == "Considering: hello"
    assert message.content[1].input == {"city": "echo simulated"}
    assert message.stop_reason == "tool_use"
    with ant.messages.stream(
        model="kimi-k2.6", max_tokens=200, messages=HELLO, tools=tools, tool_choice={"type": "any"}
    ) as stream:
        final = stream.get_final_message()
    assert [b.type for b in final.content] == ["thinking", "tool_use"]
    assert final.content[0].signature
    assert final.content[1].input == {"city": "echo simulated"}


def test_anthropic_sees_typed_errors(simulator):
    bad = sdk.anthropic_client(base_url=simulator, api_key="sk-nope", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError):
        bad.messages.create(model="kimi-k2", max_tokens=10, messages=HELLO)
    empty = sdk.anthropic_client(base_url=simulator, api_key="sk-sim-empty", max_retries=0)
    with pytest.raises(anthropic.PermissionDeniedError):
        empty.messages.create(model="kimi-k2", max_tokens=10, messages=HELLO)
    demo = sdk.anthropic_client(base_url=simulator, api_key="sk-sim-demo", max_retries=0)
    with pytest.raises(anthropic.NotFoundError):
        demo.messages.create(model="gpt-9", max_tokens=10, messages=HELLO)
    with pytest.raises(anthropic.BadRequestError):
        demo.messages.create(
            model="kimi-k2", max_tokens=10, messages=HELLO, extra_body={"temperature": 1.5}
        )
    with pytest.raises(anthropic.RateLimitError):
        demo.messages.create(
            model="kimi-k2",
            max_tokens=10,
            messages=HELLO,
            extra_headers={"X-Kimrel-Fault": "status=429"},
        )
    with pytest.raises(anthropic.InternalServerError):
        demo.messages.create(
            model="kimi-k2",
            max_tokens=10,
            messages=HELLO,
            extra_headers={"X-Kimrel-Fault": "status=503"},
        )
