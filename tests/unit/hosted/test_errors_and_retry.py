"""Error mapping (both wire shapes, every documented code) and the retry policy, as pure functions."""

from __future__ import annotations

import time

import pytest

from kimrel_cli import errors
from kimrel_cli.hosted.errors import error_from_response, retry_after_seconds
from kimrel_cli.hosted.retry import Backoff, is_retryable


def openai_body(code, kind="invalid_request_error", message="m"):
    return {"error": {"message": message, "type": kind, "code": code}}


def anthropic_body(kind, message="m"):
    return {"type": "error", "error": {"type": kind, "message": message}}


CASES = [
    (401, openai_body("invalid_api_key"), errors.InvalidKey),
    (403, openai_body("insufficient_credits", "insufficient_quota"), errors.InsufficientCredits),
    (429, openai_body("rate_limit_exceeded", "rate_limit_error"), errors.RateLimited),
    (400, openai_body("invalid_request"), errors.BadRequest),
    (404, openai_body("model_not_found"), errors.NotFound),
    (400, openai_body("model_not_found"), errors.NotFound),
    (400, openai_body("context_length_exceeded"), errors.BadRequest),
    (400, openai_body("encoded_image_too_large"), errors.BadRequest),
    (401, anthropic_body("authentication_error"), errors.InvalidKey),
    (400, anthropic_body("invalid_request_error"), errors.BadRequest),
    (429, anthropic_body("rate_limit_error"), errors.RateLimited),
    (500, anthropic_body("api_error"), errors.ServerError),
    (529, anthropic_body("overloaded_error"), errors.ServerError),
    (403, anthropic_body("permission_error", "insufficient credits"), errors.InsufficientCredits),
    (403, anthropic_body("permission_error", "nope"), errors.PermissionDenied),
    (503, None, errors.ServerError),
    (413, None, errors.BadRequest),
    (422, None, errors.BadRequest),
]


@pytest.mark.parametrize(
    ("status", "body", "cls"),
    CASES,
    ids=[
        f"{s}-{(b or {}).get('error', {}).get('code') or (b or {}).get('error', {}).get('type')}"
        for s, b, _ in CASES
    ],
)
def test_documented_errors_map_to_typed_exceptions(status, body, cls):
    error = error_from_response(status, body, {})
    assert type(error) is cls
    assert error.status == status


def test_insufficient_credits_says_how_many_are_left_and_where_to_buy():
    error = error_from_response(
        403, openai_body("insufficient_credits", "insufficient_quota"), {"X-Credits-Remaining": "0"}
    )
    assert error.credits_remaining == 0
    assert "the balance is 0" in error.message and "kimrel.com/my-credits" in (error.hint or "")


def test_out_of_credits_says_it_once_and_offers_no_cheaper_model_at_zero():
    # issue 12: the message repeated itself and suggested "a model that costs less" at 0
    body = openai_body("insufficient_credits", "insufficient_quota")
    body["error"]["message"] = (
        "Insufficient credits: kimi-k2.5 costs 2 per request and the balance is 0"
    )
    error = error_from_response(403, body, {"X-Credits-Remaining": "0"})
    assert error.message == "out of credits: the balance is 0"
    assert error.hint == "Buy credits at https://kimrel.com/my-credits."
    low = error_from_response(403, body, {"X-Credits-Remaining": "1"})
    assert low.message == "not enough credits for this model: the balance is 1"
    assert "costs at most 1 credit a request" in (low.hint or "")


def test_rate_limited_says_when_the_limit_resets():
    error = error_from_response(429, openai_body("rate_limit_exceeded"), {"Retry-After": "17"})
    assert error.retry_after == 17 and "17 s" in error.message


def test_retry_after_falls_back_to_ratelimit_reset():
    assert retry_after_seconds({"X-RateLimit-Reset": "1060"}, now=1000) == 60
    assert retry_after_seconds({"retry-after": "Thu, 01 Jan 1970 00:16:50 GMT"}, now=1000) == 10
    assert retry_after_seconds({}, now=1000) is None


@pytest.mark.parametrize(
    ("error", "retry"),
    [
        (errors.RateLimited("x"), True),
        (errors.ServerError("x", status=503), True),
        (errors.ServerError("x", status=500), True),
        (errors.UpstreamUnavailable("x"), True),
        (errors.InsufficientCredits("x"), False),
        (errors.InvalidKey("x"), False),
        (errors.BadRequest("x"), False),
    ],
    ids=["429", "503", "500", "unreachable", "credits", "401", "400"],
)
def test_only_safe_failures_are_retried(error, retry):
    assert is_retryable(error) is retry


def test_backoff_grows_with_jitter_and_honours_server_wait():
    backoff = Backoff(base=1.0, maximum=8.0)
    assert backoff.delay(0, retry_after=None, random=lambda: 0.0) == 0.5
    assert backoff.delay(3, retry_after=None, random=lambda: 1.0) == 8.0
    assert backoff.delay(5, retry_after=None, random=lambda: 1.0) == 8.0
    assert backoff.delay(0, retry_after=3.0, random=lambda: 0.0) == 3.0
    assert backoff.delay(0, retry_after=8.0, random=lambda: 0.0) == 8.0


def test_a_server_wait_longer_than_max_wait_is_not_waited_for():
    backoff = Backoff(base=1.0, maximum=8.0, max_wait=10.0)
    assert backoff.delay(0, retry_after=10.0, random=lambda: 0.0) == 8.0
    assert backoff.delay(0, retry_after=60.0, random=lambda: 0.0) is None


def test_an_anthropic_shaped_context_overflow_is_recognised_without_a_code():
    body = {
        "type": "error",
        "error": {
            "type": "invalid_request_error",
            "message": "input of about 140000 tokens exceeds the 128000-token context window",
        },
    }
    error = error_from_response(400, body, {})
    assert error.wire_code == "context_length_exceeded"


def test_a_429_with_room_left_in_the_window_is_not_a_minute_long_wait():
    # X-RateLimit-Reset is the whole window's reset: only a full window (or Retry-After) means it
    room = {"X-RateLimit-Remaining": "12", "X-RateLimit-Reset": str(int(time.time()) + 60)}
    assert error_from_response(429, openai_body("rate_limit_exceeded"), room).retry_after is None
    full = {**room, "X-RateLimit-Remaining": "0"}
    wait = error_from_response(429, openai_body("rate_limit_exceeded"), full).retry_after
    assert wait is not None and wait > 50


@pytest.mark.parametrize(("status", "body", "cls"), [c for c in CASES if c[1] is not None])
def test_an_error_inside_a_stream_maps_as_the_same_error_answered_over_http(status, body, cls):
    """`kimrel chat` streams: an error event mid-stream gets the class an HTTP answer would."""
    import json

    import httpx

    from kimrel_cli.hosted.client import Client

    def upstream(request: httpx.Request) -> httpx.Response:
        sse = b'data: {"choices": []}\n\n' + b"data: " + json.dumps(body).encode() + b"\n\n"
        return httpx.Response(200, content=sse, headers={"content-type": "text/event-stream"})

    client = Client(
        "sk-test-0123456789", "http://127.0.0.1:9", transport=httpx.MockTransport(upstream)
    )
    body_sent = {"model": "kimi-k2", "messages": []}
    with client.stream_chat(body_sent) as stream, pytest.raises(errors.UpstreamError) as caught:
        list(stream)
    assert type(caught.value) is cls
    as_http = error_from_response(status, body, {})
    assert type(as_http) is cls
    if status in (429, 529):  # the types that name their status
        assert caught.value.status == status
