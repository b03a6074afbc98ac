"""Every request reaches the relay's request log, rejections with their reason (a real relay)."""

from __future__ import annotations

import httpx

from kimrel_cli.relay.context import RelayConfig
from kimrel_cli.relay.dashboard import RequestLog
from kimrel_cli.relay.run import start_relay_in_thread

TOKEN = "kr-local-request-log"


def test_every_request_is_logged_with_the_reason_for_a_rejection(simulator):
    log = RequestLog("silent")
    relay = start_relay_in_thread(
        RelayConfig(
            api_key="sk-sim-demo", base_url=simulator, token=TOKEN, max_body=10_000, log=log
        )
    )
    good = {"authorization": f"Bearer {TOKEN}"}
    message = {
        "model": "kimi-k2.5",
        "max_tokens": 16,
        "messages": [{"role": "user", "content": "hi"}],
    }
    try:
        with httpx.Client(base_url=relay.url, timeout=30) as http:
            assert http.post("/v1/messages", json=message, headers=good).status_code == 200
            assert http.post("/v1/messages", json=message).status_code == 401
            wrong = {"authorization": "Bearer kr-local-stale"}
            assert http.post("/v1/messages", json=message, headers=wrong).status_code == 401
            evil = {**good, "host": "evil.example"}
            assert http.get("/v1/models", headers=evil).status_code == 421
            big = {**message, "pad": "x" * 20_000}
            assert http.post("/v1/messages", json=big, headers=good).status_code == 413
            assert http.get("/v1/nope", headers=good).status_code == 404
            assert http.get("/v1/models", headers=good).status_code == 200
            count = http.post("/v1/messages/count_tokens", json=message, headers=good)
            assert count.status_code == 200
            assert http.get("/health").status_code == 200
    finally:
        relay.stop()
    seen = [(r.route, r.status, r.error) for r in log.recent]
    assert [(route, status) for route, status, _ in seen] == [
        ("/v1/messages", 200),
        ("/v1/messages", 401),
        ("/v1/messages", 401),
        ("GET /v1/models", 421),
        ("/v1/messages", 413),
        ("GET /v1/nope", 404),
        ("GET /v1/models", 200),
        ("/v1/messages/count_tokens", 200),
    ], seen
    reasons = [error for _, status, error in seen if status >= 400]
    assert reasons[0] == "rejected: no local token"
    assert reasons[1] == "rejected: wrong local token"
    assert "evil.example" in reasons[2] and "loopback" in reasons[2]
    assert "limit" in reasons[3]
    assert "no route GET /v1/nope" in reasons[4]
    assert TOKEN not in repr(seen) and "kr-local-stale" not in repr(seen)
