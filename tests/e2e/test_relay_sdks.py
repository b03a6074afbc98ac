"""The official `openai` and `anthropic` SDKs against the relay against the simulator, on loopback."""

from __future__ import annotations

import io
import json
import logging
import socket
import time

import anthropic
import httpx
import openai
import pytest

from kimrel_cli.relay.context import RelayConfig
from kimrel_cli.relay.dashboard import RequestLog
from kimrel_cli.relay.run import start_relay_in_thread
from tests.support import loopback, sdk

TOKEN = "kr-local-e2e-token"
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
BASH = {
    "name": "Bash",
    "description": "Run a shell command",
    "input_schema": {
        "type": "object",
        "properties": {"command": {"type": "string"}},
        "required": ["command"],
    },
}


@pytest.fixture
def start_relay():
    running = []

    def start(base_url: str, **changes):
        options = dict(
            api_key="sk-sim-demo",
            base_url=base_url,
            token=TOKEN,
            max_retries=2,
            backoff_base=0.01,
        )
        options.update(changes)
        relay = start_relay_in_thread(RelayConfig(**options))
        running.append(relay)
        return relay

    yield start
    for relay in running:
        relay.stop()


@pytest.fixture
def relay(simulator, start_relay):
    return start_relay(simulator)


def wait_for(condition, *, timeout: float, interval: float = 0.01) -> None:
    """Poll `condition` until it holds; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"condition not met within {timeout} s"
        time.sleep(interval)


def oai(relay, **kwargs) -> openai.OpenAI:
    return sdk.openai_client(base_url=relay.url + "/v1", api_key=TOKEN, max_retries=0, **kwargs)


def ant(relay, **kwargs) -> anthropic.Anthropic:
    return sdk.anthropic_client(base_url=relay.url, auth_token=TOKEN, max_retries=0, **kwargs)


# ---- OpenAI SDK on /v1/chat/completions ------------------------------------------------


def test_openai_create_answers_under_the_requested_model_name(relay):
    raw = oai(relay).chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hello there"}]
    )
    completion = raw.parse()
    assert completion.choices[0].message.content == "Simulated reply to: hello there"
    assert completion.model == "gpt-4o-mini"
    assert raw.headers["x-kimrel-upstream-model"] == "kimi-k2"


def test_openai_stream_arrives_in_chunks_without_a_usage_only_chunk(relay):
    stream = oai(relay).chat.completions.create(
        model="kimi-k2", messages=[{"role": "user", "content": "stream me"}], stream=True
    )
    chunks = list(stream)
    assert all(chunk.choices for chunk in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text == "Simulated reply to: stream me"
    assert len(chunks) > 2


def test_openai_stream_with_include_usage_gets_usage(relay):
    stream = oai(relay).chat.completions.create(
        model="kimi-k2",
        messages=[{"role": "user", "content": "count"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    usage = [c.usage for c in stream if c.usage]
    assert usage and usage[-1].completion_tokens > 0


def test_openai_forced_tool_call_comes_back_with_valid_arguments(relay):
    completion = oai(relay).chat.completions.create(
        model="kimi-k2",
        messages=[{"role": "user", "content": "weather in Paris"}],
        tools=[WEATHER],
        tool_choice="required",
    )
    call = completion.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert isinstance(json.loads(call.function.arguments)["city"], str)


def test_openai_streamed_tool_call_arguments_assemble(relay):
    stream = oai(relay).chat.completions.create(
        model="kimi-k2",
        messages=[{"role": "user", "content": "weather in Paris"}],
        tools=[WEATHER],
        tool_choice="required",
        stream=True,
    )
    args = "".join(
        (tc.function.arguments or "")
        for chunk in stream
        for tc in (chunk.choices[0].delta.tool_calls or [])
    )
    assert "city" in json.loads(args)


def test_openai_empty_account_gets_permission_denied(simulator, start_relay):
    relay = start_relay(simulator, api_key="sk-sim-empty")
    with pytest.raises(openai.PermissionDeniedError):
        oai(relay).chat.completions.create(
            model="kimi-k2", messages=[{"role": "user", "content": "x"}]
        )


def test_openai_unknown_model_gets_not_found(relay):
    with pytest.raises(openai.NotFoundError):
        oai(relay).chat.completions.create(
            model="kimi-nonexistent", messages=[{"role": "user", "content": "x"}]
        )


def test_openai_wrong_local_token_gets_authentication_error(relay):
    client = sdk.openai_client(base_url=relay.url + "/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        client.models.list()


def test_openai_models_list_in_openai_shape(relay):
    ids = [m.id for m in oai(relay).models.list()]
    assert "kimi-k2.6" in ids


def test_one_upstream_503_is_retried_before_any_byte(relay):
    completion = oai(relay).chat.completions.create(
        model="kimi-k2",
        messages=[{"role": "user", "content": "retry me"}],
        extra_headers={"X-Kimrel-Fault": "status=503,times=1"},
    )
    assert completion.choices[0].message.content == "Simulated reply to: retry me"


def test_openai_stream_broken_mid_way_raises_in_the_sdk(relay):
    stream = oai(relay).chat.completions.create(
        model="kimi-k2",
        messages=[{"role": "user", "content": "a fairly long prompt to get many chunks out"}],
        stream=True,
        extra_headers={"X-Kimrel-Fault": "drop_after=2"},
    )
    with pytest.raises(openai.APIError):
        list(stream)


# ---- Anthropic SDK on /v1/messages -------------------------------------------------------


def test_anthropic_create_answers_under_the_requested_model_name(relay):
    message = ant(relay).messages.create(
        model="claude-3-5-haiku-latest",
        max_tokens=200,
        messages=[{"role": "user", "content": "hello there"}],
    )
    assert message.model == "claude-3-5-haiku-latest"
    assert message.content[-1].type == "text"
    assert message.content[-1].text == "Simulated reply to: hello there"
    assert message.stop_reason == "end_turn"
    assert message.usage.output_tokens > 0


def test_anthropic_stream_helper_assembles_the_final_message(relay):
    with ant(relay).messages.stream(
        model="kimi-k2", max_tokens=200, messages=[{"role": "user", "content": "stream it"}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "Simulated reply to: stream it"
    assert final.content[0].text == text
    assert final.stop_reason == "end_turn"


def test_anthropic_beta_resource_and_doubled_v1_path_work(relay):
    client = sdk.anthropic_client(base_url=relay.url + "/v1", api_key=TOKEN, max_retries=0)
    message = client.beta.messages.create(
        model="kimi-k2", max_tokens=50, messages=[{"role": "user", "content": "beta"}]
    )
    assert message.content[0].text == "Simulated reply to: beta"


def _tool_turns(client, model: str, **extra):
    messages = [{"role": "user", "content": "Use the Bash tool to list the files"}]
    first = client.messages.create(
        model=model, max_tokens=1000, tools=[BASH], messages=messages, **extra
    )
    assert first.stop_reason == "tool_use"
    call = next(b for b in first.content if b.type == "tool_use")
    assert call.name == "Bash"
    assert isinstance(call.input["command"], str)
    messages.append({"role": "assistant", "content": [b.model_dump() for b in first.content]})
    messages.append(
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "a.txt b.txt"}],
        }
    )
    second = client.messages.create(
        model=model, max_tokens=1000, tools=[BASH], messages=messages, **extra
    )
    return first, second


def test_anthropic_tool_use_over_two_turns(relay):
    _first, second = _tool_turns(ant(relay), "kimi-k2")
    assert second.stop_reason == "end_turn"
    assert second.content[-1].text == "The tool returned: a.txt b.txt"


def test_anthropic_thinking_model_round_trips_reasoning_over_tool_turns(relay):
    first, second = _tool_turns(
        ant(relay), "kimi-k2.6", thinking={"type": "enabled", "budget_tokens": 1024}
    )
    assert first.content[0].type == "thinking"
    assert first.content[0].thinking.startswith("Considering: ")
    assert first.content[0].signature
    assert second.content[-1].text == "The tool returned: a.txt b.txt"


def test_anthropic_streamed_tool_use_has_its_input(relay):
    with ant(relay).messages.stream(
        model="kimi-k2.6",
        max_tokens=2000,
        thinking={"type": "enabled", "budget_tokens": 1024},  # absent means no thinking
        tools=[BASH],
        messages=[{"role": "user", "content": "Use the Bash tool please"}],
    ) as stream:
        final = stream.get_final_message()
    kinds = [b.type for b in final.content]
    assert kinds[0] == "thinking"
    assert kinds[-1] == "tool_use"
    assert isinstance(final.content[-1].input["command"], str)
    assert final.stop_reason == "tool_use"


def test_anthropic_empty_account_gets_a_billing_error(simulator, start_relay):
    # 402 billing_error: a 403 reads as "Failed to authenticate · Please run /login" in Claude Code
    relay = start_relay(simulator, api_key="sk-sim-empty")
    with pytest.raises(anthropic.APIStatusError) as caught:
        ant(relay).messages.create(
            model="kimi-k2", max_tokens=10, messages=[{"role": "user", "content": "x"}]
        )
    assert caught.value.status_code == 402
    assert caught.value.response.headers.get("x-should-retry") == "false"
    assert "kimrel.com/my-credits" in caught.value.message


def test_anthropic_empty_account_stream_fails_before_the_stream_starts(simulator, start_relay):
    relay = start_relay(simulator, api_key="sk-sim-empty")
    with (
        pytest.raises(anthropic.APIStatusError),
        ant(relay).messages.stream(
            model="kimi-k2", max_tokens=10, messages=[{"role": "user", "content": "x"}]
        ) as stream,
    ):
        stream.get_final_message()


def test_anthropic_unknown_model_gets_not_found(relay):
    with pytest.raises(anthropic.NotFoundError):
        ant(relay).messages.create(
            model="kimi-nonexistent", max_tokens=10, messages=[{"role": "user", "content": "x"}]
        )


def test_anthropic_wrong_token_gets_authentication_error(relay):
    client = sdk.anthropic_client(base_url=relay.url, api_key="nope", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError):
        client.messages.create(
            model="kimi-k2", max_tokens=10, messages=[{"role": "user", "content": "x"}]
        )


def test_anthropic_count_tokens_counts_tools_too(relay):
    client = ant(relay)
    messages = [{"role": "user", "content": "hello there, how are you?"}]
    plain = client.messages.count_tokens(model="kimi-k2", messages=messages).input_tokens
    with_tools = client.messages.count_tokens(
        model="kimi-k2", messages=messages, tools=[BASH]
    ).input_tokens
    assert plain > 0
    assert with_tools > plain


def test_anthropic_models_list_in_anthropic_shape(relay):
    models = list(ant(relay).models.list())
    ids = [m.id for m in models]
    assert "kimi-k2.6" in ids
    assert all(m.type == "model" for m in models)
    one = ant(relay).models.retrieve("kimi-k2.6")
    assert one.id == "kimi-k2.6"


# ---- relay behaviour on the wire ---------------------------------------------------------


def test_health_and_head_root_need_no_token_and_say_nothing_secret(relay):
    health = loopback.get(relay.url + "/health")
    assert health.status_code == 200
    body = health.json()
    assert body["status"] == "ok"
    assert "sk-sim-demo" not in health.text
    assert body["upstream"].endswith("/api")
    assert httpx.head(relay.url + "/").status_code == 200


def test_claude_code_telemetry_is_accepted_quietly(relay):
    response = loopback.post(
        relay.url + "/api/event_logging/batch", json={"events": []}, headers={"x-api-key": TOKEN}
    )
    assert response.status_code == 200
    assert response.json() == {}


@pytest.mark.parametrize(
    ("path", "headers", "anthropic_shape"),
    [
        ("/v1/nothing", {}, False),
        ("/v1/messages/batches", {}, True),
        ("/v2/whatever", {"anthropic-version": "2023-06-01"}, True),
    ],
)
def test_unknown_routes_get_404_in_the_paths_protocol(relay, path, headers, anthropic_shape):
    response = loopback.post(relay.url + path, headers={"x-api-key": TOKEN, **headers}, json={})
    assert response.status_code == 404
    body = response.json()
    if anthropic_shape:
        assert body["type"] == "error" and body["error"]["type"] == "not_found_error"
    else:
        assert body["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize("path", ["/v1/messages", "/v1/chat/completions"])
def test_bad_json_gets_400_in_shape(relay, path):
    response = loopback.post(relay.url + path, headers={"x-api-key": TOKEN}, content=b"{not json")
    assert response.status_code == 400
    body = response.json()
    assert ("type" in body) == (path == "/v1/messages")


def _closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def test_unreachable_upstream_gives_502_in_both_shapes(start_relay):
    relay = start_relay(f"http://127.0.0.1:{_closed_port()}/api", max_retries=0)
    with pytest.raises(anthropic.APIStatusError) as a:
        ant(relay).messages.create(
            model="kimi-k2", max_tokens=10, messages=[{"role": "user", "content": "x"}]
        )
    assert a.value.status_code == 502
    with pytest.raises(openai.APIStatusError) as o:
        oai(relay).chat.completions.create(
            model="kimi-k2", messages=[{"role": "user", "content": "x"}]
        )
    assert o.value.status_code == 502


def test_slow_upstream_gives_504(simulator, start_relay):
    relay = start_relay(simulator, read_timeout=0.3, max_retries=0)
    with pytest.raises(openai.APIStatusError) as caught:
        oai(relay).chat.completions.create(
            model="kimi-k2",
            messages=[{"role": "user", "content": "x"}],
            extra_headers={"X-Kimrel-Fault": "delay=2"},
        )
    assert caught.value.status_code == 504


def test_silent_upstream_gets_pings_in_the_anthropic_stream(simulator, start_relay):
    relay = start_relay(simulator, ping_interval=0.05)
    with loopback.stream(
        "POST",
        relay.url + "/v1/messages",
        headers={"x-api-key": TOKEN, "X-Kimrel-Fault": "chunk_delay=0.2"},
        json={
            "model": "kimi-k2",
            "max_tokens": 50,
            "stream": True,
            "messages": [{"role": "user", "content": "slow"}],
        },
    ) as response:
        text = response.read().decode()
    names = [line[7:] for line in text.splitlines() if line.startswith("event: ")]
    first_delta = names.index("content_block_delta")
    assert "ping" in names[first_delta:]
    assert names[-1] == "message_stop"


def test_client_disconnect_closes_the_upstream_stream(simulator, start_relay):
    relay = start_relay(simulator)
    stats = relay.ctx.stats
    with loopback.stream(
        "POST",
        relay.url + "/v1/messages",
        headers={"x-api-key": TOKEN, "X-Kimrel-Fault": "chunk_delay=0.5"},
        json={
            "model": "kimi-k2",
            "max_tokens": 50,
            "stream": True,
            "messages": [{"role": "user", "content": "a slow answer with several chunks in it"}],
        },
    ) as response:
        # Keep the iterator referenced: a discarded `iter_raw()` generator is finalised at once,
        # which closes the connection before the checks below (the old flake, ~1 run in 10).
        chunks = response.iter_raw()
        next(chunks)
        assert stats.streams_opened == 1
        assert stats.streams_closed == 0
        assert stats.in_flight == 1
    # The relay closes upstream, records the request, then leaves in_flight: wait for all of it,
    # but well within the ~5 s the whole slow answer takes, so only the disconnect can end it.
    wait_for(lambda: stats.streams_closed == 1 and stats.in_flight == 0, timeout=2.5)
    logged = relay.ctx.log.recent[-1]
    assert logged.status == 499 and logged.error.startswith("aborted: client disconnected")


def test_the_upstream_key_never_appears_in_output_logs_or_answers(
    make_simulator, start_relay, caplog
):
    secret = "sk-sim-canary-0123456789abcdef"
    base = make_simulator(keys={secret: 1000})
    out = io.StringIO()
    relay = start_relay(base, api_key=secret, log=RequestLog("json", stream=out))
    caplog.set_level(logging.DEBUG)
    seen = []
    a, o = ant(relay), oai(relay)
    seen.append(
        a.messages.with_raw_response.create(
            model="kimi-k2", max_tokens=10, messages=[{"role": "user", "content": "x"}]
        ).http_response
    )
    for bad in (
        lambda: a.messages.create(
            model="kimi-none", max_tokens=10, messages=[{"role": "user", "content": "x"}]
        ),
        lambda: o.chat.completions.create(
            model="kimi-none", messages=[{"role": "user", "content": "x"}]
        ),
    ):
        with pytest.raises(Exception) as caught:
            bad()
        seen.append(caught.value.response)
    seen.append(loopback.get(relay.url + "/health"))
    seen.append(
        loopback.post(relay.url + "/v1/messages", headers={"x-api-key": TOKEN}, content=b"{")
    )
    relay.ctx.log.flush()
    texts = [out.getvalue(), caplog.text]
    texts += [r.text + json.dumps(dict(r.headers)) for r in seen]
    assert out.getvalue().count('"event": "request"') >= 3
    for text in texts:
        assert secret not in text
        assert "0123456789abcdef" not in text


# ---- remote images and the messages pass-through setting --------------------------------

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d49444154789c63000100000500010d0a2db40000000049454e44ae426082"
)


@pytest.fixture
def image_server():
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    from kimrel_cli.servers import bind_socket, start_in_thread

    async def png(request):
        return Response(PNG, media_type="image/png")

    async def text(request):
        return Response(b"not an image at all", media_type="image/png")

    server = start_in_thread(
        Starlette(routes=[Route("/cat.png", png), Route("/fake.png", text)]), bind_socket()
    )
    yield server.url
    server.stop()


@pytest.fixture
def image_relay(simulator, start_relay):
    """A relay whose image fetches may reach the 127.0.0.1 image server (relay.image_fetch_allow)."""
    from kimrel_cli.config import Settings

    return start_relay(simulator, settings=Settings(image_fetch_allow="127.0.0.1"))


def _image_message(url: str) -> list:
    return [
        {
            "role": "user",
            "content": [
                {"type": "image", "source": {"type": "url", "url": url}},
                {"type": "text", "text": "what is in the picture"},
            ],
        }
    ]


def test_remote_image_url_is_fetched_by_the_relay(image_relay, image_server):
    message = ant(image_relay).messages.create(
        model="kimi-k2.6",
        max_tokens=100,
        thinking={"type": "disabled"},
        messages=_image_message(image_server + "/cat.png"),
    )
    assert message.content[-1].text.startswith("Simulated reply to:")
    assert "what is in the picture" in message.content[-1].text


def test_remote_url_that_is_not_an_image_is_a_400_in_anthropic_shape(image_relay, image_server):
    with pytest.raises(anthropic.BadRequestError) as caught:
        ant(image_relay).messages.create(
            model="kimi-k2.6", max_tokens=100, messages=_image_message(image_server + "/fake.png")
        )
    assert caught.value.body["error"]["type"] == "invalid_request_error"


def test_non_http_image_url_is_refused(relay):
    with pytest.raises(anthropic.BadRequestError):
        ant(relay).messages.create(
            model="kimi-k2.6", max_tokens=100, messages=_image_message("file:///etc/passwd")
        )


def test_messages_upstream_setting_passes_messages_through(simulator, start_relay):
    from kimrel_cli.config import Settings

    relay = start_relay(simulator, settings=Settings(messages_upstream="messages"))
    client = ant(relay)
    message = client.messages.create(
        model="claude-sonnet-next", max_tokens=50, messages=[{"role": "user", "content": "pass"}]
    )
    assert message.model == "claude-sonnet-next"
    assert "pass" in message.content[-1].text
    with client.messages.stream(
        model="kimi-k2", max_tokens=50, messages=[{"role": "user", "content": "stream pass"}]
    ) as stream:
        final = stream.get_final_message()
    assert "stream pass" in final.content[-1].text


def _chat_image(url: str) -> list:
    return [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "describe"},
                {"type": "image_url", "image_url": {"url": url}},
            ],
        }
    ]


def test_chat_route_inlines_remote_images_for_vision_models(image_relay, image_server):
    completion = oai(image_relay).chat.completions.create(
        model="kimi-k2.6",
        messages=_chat_image(image_server + "/cat.png"),
        extra_body={"thinking": {"type": "disabled"}},
    )
    assert completion.choices[0].message.content.startswith("Simulated reply to:")


def test_chat_route_refuses_a_remote_non_image_with_400(image_relay, image_server):
    with pytest.raises(openai.BadRequestError):
        oai(image_relay).chat.completions.create(
            model="kimi-k2.6", messages=_chat_image(image_server + "/fake.png")
        )
