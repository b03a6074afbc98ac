"""Auth, credits, rate limits and validation over real HTTP, in both error shapes."""

from __future__ import annotations

import base64

import httpx
import pytest

from tests.support import loopback

DEMO = {"Authorization": "Bearer sk-sim-demo"}
CHAT = {"model": "kimi-k2", "messages": [{"role": "user", "content": "hi"}]}
MSG = {"model": "kimi-k2", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 32


def chat(url, body, headers=DEMO):
    return loopback.post(url + "/v1/chat/completions", json=body, headers=headers)


def msgs(url, body, headers=None):
    return loopback.post(
        url + "/v1/messages", json=body, headers=headers or {"x-api-key": "sk-sim-demo"}
    )


def openai_error(response, status, code, type_="invalid_request_error"):
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert (error["code"], error["type"]) == (code, type_)
    assert error["message"]
    return error


def anthropic_error(response, status, type_="invalid_request_error"):
    assert response.status_code == status, response.text
    body = response.json()
    assert body["type"] == "error" and body["error"]["type"] == type_
    assert body["error"]["message"]
    return body["error"]


def test_both_auth_headers_work_on_every_route(simulator):
    for headers in (DEMO, {"X-API-Key": "sk-sim-demo"}):
        assert loopback.get(simulator + "/v1/models", headers=headers).status_code == 200
        assert loopback.get(simulator + "/user/credits", headers=headers).status_code == 200
        assert chat(simulator, CHAT, headers).status_code == 200
        assert msgs(simulator, MSG, headers).status_code == 200


def test_missing_or_unknown_key_is_401_in_each_shape(simulator):
    for headers in ({}, {"Authorization": "Bearer sk-nope"}):
        openai_error(chat(simulator, CHAT, headers), 401, "invalid_api_key")
        r = loopback.get(simulator + "/user/credits", headers=headers)
        openai_error(r, 401, "invalid_api_key")
    anthropic_error(msgs(simulator, MSG, {"x-api-key": "sk-nope"}), 401, "authentication_error")


def test_models_lists_the_five_catalogue_models(simulator):
    r = loopback.get(simulator + "/v1/models", headers=DEMO)
    body = r.json()
    assert body["object"] == "list"
    assert [m["id"] for m in body["data"]] == [
        "kimi-k2",
        "kimi-k2-0905",
        "kimi-k2-thinking",
        "kimi-k2.5",
        "kimi-k2.6",
    ]
    assert all(m["object"] == "model" and m["owned_by"] == "moonshot-ai" for m in body["data"])
    assert r.headers["X-Credits-Remaining"] == "1000"


def test_success_charges_the_catalogue_price_and_failure_charges_nothing(simulator):
    assert chat(simulator, {**CHAT, "model": "kimi-k2.6"}).headers["X-Credits-Remaining"] == "997"
    assert msgs(simulator, {**MSG, "model": "kimi-k2.5"}).headers["X-Credits-Remaining"] == "995"
    failed = chat(simulator, {**CHAT, "temperature": 5})
    assert failed.status_code == 400
    assert failed.headers["X-Credits-Remaining"] == "995"
    credits = loopback.get(simulator + "/user/credits", headers=DEMO).json()
    assert credits["credits_remaining"] == 995
    assert credits["credits_used"] == 5
    assert credits["tier"] == "101-1,000"
    assert credits["limits"]["requests_per_minute"] == 60


def test_an_empty_balance_is_403_in_each_shape(simulator):
    empty = {"Authorization": "Bearer sk-sim-empty"}
    error = openai_error(
        chat(simulator, CHAT, empty), 403, "insufficient_credits", "insufficient_quota"
    )
    assert "balance is 0" in error["message"]
    r = msgs(simulator, MSG, {"x-api-key": "sk-sim-empty"})
    assert "insufficient credits" in anthropic_error(r, 403, "permission_error")["message"].lower()
    assert r.headers["X-Credits-Remaining"] == "0"


def test_a_balance_below_the_price_is_403(make_simulator):
    url = make_simulator(keys={"sk-two": 2})
    r = chat(url, {**CHAT, "model": "kimi-k2.6"}, {"Authorization": "Bearer sk-two"})
    openai_error(r, 403, "insufficient_credits", "insufficient_quota")


def test_the_21st_request_in_a_minute_is_429_for_a_small_balance(make_simulator):
    url = make_simulator(keys={"sk-small": 50})
    headers = {"Authorization": "Bearer sk-small"}
    seen = []
    for _ in range(20):
        r = loopback.get(url + "/v1/models", headers=headers)
        assert r.status_code == 200
        seen.append(int(r.headers["X-RateLimit-Remaining"]))
    assert r.headers["X-RateLimit-Limit"] == "20"
    assert seen[0] == 19 and seen[-1] == 0
    over = loopback.get(url + "/v1/models", headers=headers)
    openai_error(over, 429, "rate_limit_exceeded", "rate_limit_error")
    assert int(over.headers["Retry-After"]) >= 1
    assert int(over.headers["X-RateLimit-Reset"]) > 1_700_000_000
    over = loopback.post(url + "/v1/messages", json=MSG, headers={"x-api-key": "sk-small"})
    anthropic_error(over, 429, "rate_limit_error")


def test_a_scaled_window_reopens_quickly(make_simulator):
    import time

    url = make_simulator(keys={"sk-small": 50}, rate_window_scale=0.03)  # a "minute" is 1.8 s
    with httpx.Client(headers={"Authorization": "Bearer sk-small"}) as client:
        codes = [client.get(url + "/v1/models").status_code for _ in range(21)]
        assert codes[-1] == 429
        # Refused requests do not count, so poll until the window reopens (bounded: a real
        # minute would never end within it).
        deadline = time.monotonic() + 5
        while (code := client.get(url + "/v1/models").status_code) == 429:
            assert time.monotonic() < deadline, "the scaled window did not reopen within 5 s"
            time.sleep(0.05)
        assert code == 200


CHAT_400 = [
    ({"messages": CHAT["messages"]}, "invalid_request"),
    ({"model": "kimi-k2"}, "invalid_request"),
    ({**CHAT, "temperature": 2.5}, "invalid_request"),
    ({**CHAT, "stop": ["a", "b", "c", "d", "e"]}, "invalid_request"),
    ({**CHAT, "max_tokens": 9000}, "invalid_request"),
    ({**CHAT, "max_completion_tokens": 9000}, "invalid_request"),
    ({**CHAT, "n": 6}, "invalid_request"),
    ({**CHAT, "messages": [{"role": "user", "content": "x" * 600_000}]}, "context_length_exceeded"),
]


@pytest.mark.parametrize(("body", "code"), CHAT_400)
def test_chat_validation_errors_carry_the_documented_code(simulator, body, code):
    openai_error(chat(simulator, body), 400, code)


MSG_400 = [
    {"model": "kimi-k2", "messages": MSG["messages"]},
    {"max_tokens": 10, "messages": MSG["messages"]},
    {**MSG, "temperature": 1.5},
    {**MSG, "stop_sequences": ["a", "b", "c", "d", "e"]},
    {**MSG, "max_tokens": 9000},
    {**MSG, "messages": [{"role": "user", "content": "x" * 600_000}]},
]


@pytest.mark.parametrize("body", MSG_400)
def test_messages_validation_errors_use_the_anthropic_shape(simulator, body):
    anthropic_error(msgs(simulator, body), 400)


def test_unknown_model_is_404_model_not_found(simulator):
    openai_error(chat(simulator, {**CHAT, "model": "gpt-9"}), 404, "model_not_found")
    anthropic_error(msgs(simulator, {**MSG, "model": "gpt-9"}), 404, "not_found_error")


def test_unknown_paths_wrong_methods_and_bad_json_in_shape(simulator):
    r = loopback.get(simulator + "/v1/engines", headers=DEMO)
    openai_error(r, 404, "not_found")
    assert r.headers["X-Credits-Remaining"] == "1000"
    anthropic_error(
        loopback.get(simulator + "/v1/messages/batches", headers=DEMO), 404, "not_found_error"
    )
    openai_error(
        loopback.get(simulator + "/v1/chat/completions", headers=DEMO), 405, "method_not_allowed"
    )
    anthropic_error(loopback.get(simulator + "/v1/messages", headers=DEMO), 405)
    bad = {**DEMO, "Content-Type": "application/json"}
    openai_error(
        loopback.post(simulator + "/v1/chat/completions", content=b"{nope", headers=bad),
        400,
        "invalid_request",
    )
    anthropic_error(loopback.post(simulator + "/v1/messages", content=b"[1]", headers=bad), 400)


def image_chat(model, url):
    content = [{"type": "image_url", "image_url": {"url": url}}, {"type": "text", "text": "what"}]
    return {"model": model, "messages": [{"role": "user", "content": content}]}


def data_url(raw, mime="image/png"):
    return f"data:{mime};base64," + base64.b64encode(raw).decode()


def test_images_are_sniffed_and_sized(simulator):
    assert chat(simulator, image_chat("kimi-k2.5", data_url(PNG))).status_code == 200
    openai_error(
        chat(simulator, image_chat("kimi-k2.5", data_url(b"plain text"))), 400, "invalid_request"
    )
    big = b"\x89PNG\r\n\x1a\n" + b"\0" * (6 * 1024 * 1024 + 10)
    # Over 6 MB decoded is always over 8 MB encoded: the encoded limit answers first.
    too_big = chat(simulator, image_chat("kimi-k2.5", data_url(big)))
    openai_error(too_big, 400, "encoded_image_too_large")
    huge = "data:image/png;base64," + "A" * (8 * 1024 * 1024 + 4)
    openai_error(chat(simulator, image_chat("kimi-k2.5", huge)), 400, "encoded_image_too_large")
    openai_error(chat(simulator, image_chat("kimi-k2", data_url(PNG))), 400, "invalid_request")


def test_remote_image_urls_only_for_k2_6_and_never_video(simulator):
    assert chat(simulator, image_chat("kimi-k2.6", "https://example.com/a.png")).status_code == 200
    openai_error(
        chat(simulator, image_chat("kimi-k2.5", "https://example.com/a.png")),
        400,
        "invalid_request",
    )
    video = {
        "model": "kimi-k2.6",
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "video_url", "video_url": {"url": "https://example.com/a.mp4"}}
                ],
            }
        ],
    }
    openai_error(chat(simulator, video), 400, "invalid_request")
    block = {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}}
    body = {**MSG, "model": "kimi-k2.6", "messages": [{"role": "user", "content": [block]}]}
    assert msgs(simulator, body).status_code == 200
    anthropic_error(msgs(simulator, {**body, "model": "kimi-k2.5"}), 400)
    b64 = {
        "type": "image",
        "source": {
            "type": "base64",
            "media_type": "image/png",
            "data": base64.b64encode(PNG).decode(),
        },
    }
    ok = {**MSG, "model": "kimi-k2.5", "messages": [{"role": "user", "content": [b64]}]}
    assert msgs(simulator, ok).status_code == 200
