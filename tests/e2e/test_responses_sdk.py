"""The openai SDK's Responses API (create and the stream helper) through the relay, on the simulator."""

from __future__ import annotations

import openai
import pytest

from kimrel_cli.relay.context import RelayConfig
from kimrel_cli.relay.run import start_relay_in_thread
from tests.support import sdk

TOKEN = "kr-local-responses-token"
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


@pytest.fixture
def client(make_simulator):
    relay = start_relay_in_thread(
        RelayConfig(
            api_key="sk-sim-demo",
            base_url=make_simulator(),
            token=TOKEN,
            max_retries=1,
            backoff_base=0.01,
        )
    )
    yield sdk.openai_client(base_url=relay.url + "/v1", api_key=TOKEN, max_retries=0)
    relay.stop()


def test_text_answer(client):
    response = client.responses.create(
        model="kimi-k2", input="hello there", instructions="be brief"
    )
    assert response.output_text == "Simulated reply to: hello there"
    assert response.status == "completed" and response.usage.total_tokens > 0


def test_stream_helper_assembles_reasoning_and_text(client):
    with client.responses.stream(
        model="kimi-k2-thinking", input="why?", reasoning={"summary": "auto"}
    ) as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == final.output_text == "Simulated reply to: why?"
    assert (
        final.output[0].type == "reasoning"
        and final.output[0].summary[0].text == "Considering: why?"
    )


def test_function_calling_over_two_turns_with_full_history(client):
    first = client.responses.create(
        model="kimi-k2.6", input="use get_weather for Paris", tools=[WEATHER]
    )
    call = next(item for item in first.output if item.type == "function_call")
    assert call.name == "get_weather" and call.arguments
    history = [
        {"role": "user", "content": "use get_weather for Paris"},
        *[item.model_dump(exclude_none=True) for item in first.output],
    ]
    history.append(
        {"type": "function_call_output", "call_id": call.call_id, "output": "sunny, 21 C"}
    )
    with client.responses.stream(model="kimi-k2.6", input=history, tools=[WEATHER]) as stream:
        second = stream.get_final_response()
    assert second.output_text == "The tool returned: sunny, 21 C"


def test_previous_response_id_carries_the_conversation(client):
    first = client.responses.create(model="kimi-k2", input="use get_weather", tools=[WEATHER])
    call = next(item for item in first.output if item.type == "function_call")
    second = client.responses.create(
        model="kimi-k2",
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "rain"}],
        tools=[WEATHER],
    )
    assert second.output_text == "The tool returned: rain"
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model="kimi-k2", input="x", previous_response_id="resp_unknown")
    assert info.value.code == "previous_response_not_found"


def test_length_limit_gives_an_incomplete_response(client):
    response = client.responses.create(
        model="kimi-k2", input="a long question indeed", max_output_tokens=2
    )
    assert (
        response.status == "incomplete"
        and response.incomplete_details.reason == "max_output_tokens"
    )


def test_exhausted_credits_come_back_as_the_hosted_apis_403_with_where_to_buy(make_simulator):
    relay = start_relay_in_thread(
        RelayConfig(api_key="sk-sim-empty", base_url=make_simulator(), token=TOKEN, max_retries=0)
    )
    client = sdk.openai_client(base_url=relay.url, api_key=TOKEN, max_retries=0)
    try:
        with pytest.raises(openai.PermissionDeniedError) as info:
            client.responses.create(model="kimi-k2", input="x")
        assert info.value.code == "insufficient_credits"
        assert "Buy credits at https://kimrel.com/my-credits" in info.value.message
        assert info.value.response.headers["x-should-retry"] == "false"
    finally:
        relay.stop()


def test_unknown_model_is_not_found_in_openai_shape(client):
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model="kimi-k9", input="x")
