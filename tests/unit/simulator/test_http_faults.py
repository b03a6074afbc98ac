"""Fault injection over real HTTP: status, code, retry_after, delay, chunk_delay, drop_after, times."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.support import loopback

DEMO = {"Authorization": "Bearer sk-sim-demo"}
CHAT = {"model": "kimi-k2", "messages": [{"role": "user", "content": "hello there, a long prompt"}]}
MSG = {**CHAT, "max_tokens": 100}


def post(url, path, body, fault=None, key_header=DEMO):
    headers = {**key_header, **({"X-Kimrel-Fault": fault} if fault else {})}
    return loopback.post(url + path, json=body, headers=headers, timeout=10)


def balance(url):
    return loopback.get(url + "/user/credits", headers=DEMO).json()["credits_remaining"]


def test_status_fault_fails_in_the_route_shape_and_charges_nothing(simulator):
    r = post(simulator, "/v1/chat/completions", CHAT, "status=503,retry_after=2")
    assert r.status_code == 503
    assert r.json()["error"]["type"] == "server_error"
    assert r.headers["Retry-After"] == "2"
    assert r.headers["X-Credits-Remaining"] == "1000"
    r = post(simulator, "/v1/messages", MSG, "status=529")
    assert r.json() == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "injected fault: HTTP 529"},
    }
    r = post(simulator, "/v1/chat/completions", CHAT, "status=400,code=context_length_exceeded")
    assert r.json()["error"]["code"] == "context_length_exceeded"
    assert (
        post(simulator, "/v1/chat/completions", CHAT, "status=429").json()["error"]["code"]
        == "rate_limit_exceeded"
    )
    assert balance(simulator) == 1000


def test_times_affects_only_the_first_requests_with_that_spec(simulator):
    codes = [
        post(simulator, "/v1/chat/completions", CHAT, "status=500,times=2").status_code
        for _ in range(3)
    ]
    assert codes == [500, 500, 200]
    assert post(simulator, "/v1/chat/completions", CHAT, "status=500,times=1").status_code == 500


def test_settings_fault_applies_and_the_header_wins(make_simulator):
    url = make_simulator(fault="status=502,times=1")
    assert post(url, "/v1/chat/completions", CHAT).status_code == 502
    assert post(url, "/v1/chat/completions", CHAT).status_code == 200
    url = make_simulator(fault="status=502")
    assert post(url, "/v1/chat/completions", CHAT, "delay=0").status_code == 200


def test_a_bad_spec_is_400_naming_the_problem(simulator):
    r = post(simulator, "/v1/chat/completions", CHAT, "explode=1")
    assert r.status_code == 400 and "unknown key 'explode'" in r.json()["error"]["message"]
    r = post(simulator, "/v1/messages", MSG, "status=abc")
    assert r.status_code == 400 and "status needs a whole number" in r.json()["error"]["message"]


def test_delay_waits_before_answering(simulator):
    start = time.monotonic()
    assert post(simulator, "/v1/chat/completions", CHAT, "delay=0.4").status_code == 200
    assert time.monotonic() - start >= 0.4


@pytest.mark.parametrize("path,body", [("/v1/chat/completions", CHAT), ("/v1/messages", MSG)])
def test_chunk_delay_paces_the_stream(simulator, path, body):
    headers = {**DEMO, "X-Kimrel-Fault": "chunk_delay=0.1"}
    with loopback.stream(
        "POST", simulator + path, json={**body, "stream": True}, headers=headers
    ) as r:
        stamps = [time.monotonic() for _ in r.iter_raw()]
    assert len(stamps) > 3
    assert stamps[-1] - stamps[0] >= 0.2


def test_settings_chunk_delay_applies_to_streams(make_simulator):
    url = make_simulator(chunk_delay=0.05)
    start = time.monotonic()
    with loopback.stream(
        "POST", url + "/v1/chat/completions", json={**CHAT, "stream": True}, headers=DEMO
    ) as r:
        r.read()
    assert time.monotonic() - start >= 0.2


@pytest.mark.parametrize("path,body", [("/v1/chat/completions", CHAT), ("/v1/messages", MSG)])
def test_drop_after_breaks_the_stream_and_charges_nothing(simulator, path, body):
    headers = {**DEMO, "X-Kimrel-Fault": "drop_after=2"}
    received = b""
    with (
        pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)),
        loopback.stream(
            "POST", simulator + path, json={**body, "stream": True}, headers=headers
        ) as r,
    ):
        assert r.status_code == 200
        for piece in r.iter_bytes():
            received += piece
    assert received.count(b"data:") == 2
    assert b"[DONE]" not in received and b"message_stop" not in received
    assert balance(simulator) == 1000
