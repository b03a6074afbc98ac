"""What the relay answers when the hosted API fails, against the simulator's fault injection:
status, error type, message and retry headers per protocol, and how many upstream requests
it took (retries happen once, in the relay; the client is told not to retry)."""

from __future__ import annotations

import httpx
import pytest

from tests.support.clients import TOKEN, relay_stack

AUTH = {"authorization": f"Bearer {TOKEN}"}
MESSAGES = {"model": "kimi-k2.5", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}
RESPONSES = {"model": "kimi-k2.5", "input": "hi", "stream": True}
FAST = {"backoff_base": 0.01}


def post(url: str, path: str, body: dict, **kw) -> httpx.Response:
    return httpx.post(url + path, json=body, headers=AUTH, timeout=30, **kw)


def test_out_of_credits_is_a_402_billing_error_with_balance_and_where_to_buy():
    with relay_stack(key="sk-sim-empty") as st:
        r = post(st.relay_url, "/v1/messages", MESSAGES)
        assert st.counter.model_requests == 1
    assert r.status_code == 402 and r.headers["x-should-retry"] == "false"
    error = r.json()["error"]
    assert error["type"] == "billing_error"
    assert error["message"] == (
        "kimrel: out of credits: the balance is 0. Buy credits at https://kimrel.com/my-credits."
    )
    assert "credit balance is too low" not in error["message"].lower()  # Claude Code's fixed text


def test_context_overflow_reads_as_prompt_is_too_long_with_token_counts():
    big = {
        **MESSAGES,
        "model": "kimi-k2",
        "messages": [{"role": "user", "content": "x " * 300_000}],
    }
    with relay_stack() as st:
        r = post(st.relay_url, "/v1/messages", big)
    assert r.status_code == 400
    message = r.json()["error"]["message"]
    assert message.startswith("prompt is too long: ")
    import re

    actual, limit = map(
        int, re.match(r"prompt is too long: (\d+) tokens > (\d+) maximum", message).groups()
    )
    assert actual > limit == 128_000  # kimi-k2's window


@pytest.mark.parametrize("status", [500, 503, 529])
def test_persistent_server_errors_are_retried_by_the_relay_only(status):
    with relay_stack(fault=f"status={status}", **FAST) as st:
        r = post(st.relay_url, "/v1/messages", MESSAGES)
        assert st.counter.model_requests == 4  # 1 + max_retries=3, then final
    assert r.headers["x-should-retry"] == "false"
    assert "overloaded_error" not in r.text  # Claude Code retries those whatever the header says
    assert r.status_code in (500, 503)
    assert "kimrel tried 4 times" in r.json()["error"]["message"]


@pytest.mark.parametrize("status", [503, 429])
def test_a_single_blip_is_survived_by_the_relay(status):
    with relay_stack(fault=f"status={status},times=1", **FAST) as st:
        r = post(st.relay_url, "/v1/messages", MESSAGES)
        assert st.counter.model_requests == 2
    assert r.status_code == 200 and r.json()["content"]


def test_a_long_rate_limit_wait_is_reported_at_once():
    with relay_stack(fault="status=429,retry_after=60", **FAST) as st:
        r = post(st.relay_url, "/v1/messages", MESSAGES)
        assert st.counter.model_requests == 1
    assert r.status_code == 429 and r.headers["x-should-retry"] == "false"
    assert "resets in 60 s" in r.json()["error"]["message"]


def _failed(r: httpx.Response) -> dict:
    assert r.status_code == 200
    events = [line for line in r.text.splitlines() if line.startswith("event: ")]
    assert events == ["event: response.created", "event: response.failed"]
    import json

    data = [json.loads(line[6:]) for line in r.text.splitlines() if line.startswith("data: ")]
    return data[-1]["response"]["error"]


def test_responses_stream_errors_use_codes_codex_shows_without_retrying():
    with relay_stack(key="sk-sim-empty") as st:
        error = _failed(post(st.relay_url, "/v1/responses", RESPONSES))
    assert error["code"] == "invalid_prompt"
    assert "Buy credits at https://kimrel.com/my-credits" in error["message"]
    with relay_stack(fault="status=500", **FAST) as st:
        error = _failed(post(st.relay_url, "/v1/responses", RESPONSES))
        assert st.counter.model_requests == 4
    assert error["code"] == "invalid_prompt" and "kimrel tried 4 times" in error["message"]
    with relay_stack(fault="status=400,code=context_length_exceeded") as st:
        error = _failed(post(st.relay_url, "/v1/responses", RESPONSES))
    assert error["code"] == "context_length_exceeded"


def test_without_relay_retries_the_client_is_allowed_to_retry():
    with relay_stack(fault="status=503", max_retries=0) as st:
        r = post(st.relay_url, "/v1/messages", MESSAGES)
        assert st.counter.model_requests == 1
    assert "x-should-retry" not in r.headers and r.json()["error"]["type"] == "overloaded_error"


def test_an_unreachable_api_says_to_check_the_network_after_the_relays_retries():
    from kimrel_cli.relay.app import create_app
    from kimrel_cli.relay.context import RelayConfig, build_context
    from kimrel_cli.servers import bind_socket, start_in_thread

    closed = bind_socket()
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there now
    config = RelayConfig(
        api_key="sk-x", base_url=f"http://127.0.0.1:{port}/api", token=TOKEN, **FAST
    )
    server = start_in_thread(create_app(build_context(config)), bind_socket())
    try:
        r = post(server.url, "/v1/messages", MESSAGES)
    finally:
        server.stop()
    assert r.status_code == 502 and r.headers["x-should-retry"] == "false"
    message = r.json()["error"]["message"]
    assert "cannot reach the API" in message and "kimrel tried 4 times" in message
    assert "Check your network" in message
