"""The real relay app's guards and local routes, driven in-process (no upstream is called)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from kimrel_cli.relay.app import create_app
from kimrel_cli.relay.context import RelayConfig, RelayContext
from kimrel_cli.relay.dashboard import RequestLog

TOKEN = "kr-local-unit"


def make_app(**changes: Any) -> Any:
    options: dict[str, Any] = dict(
        api_key="sk-distinctive-upstream-key-4242",
        base_url="https://user:pw@upstream.example/api?x=1",
        token=TOKEN,
    )
    options.update(changes)
    config = RelayConfig(**options)
    # No upstream client: these requests must be answered before any upstream call.
    return create_app(RelayContext(config=config, upstream=None, log=RequestLog("silent")))  # type: ignore[arg-type]


def call(app: Any, method: str, path: str, *, host: str = "127.0.0.1:8723", **kw: Any):
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=f"http://{host}") as client:
            return await client.request(method, path, **kw)

    return asyncio.run(go())


AUTH = {"x-api-key": TOKEN}


def test_health_needs_no_token_and_hides_upstream_credentials():
    response = call(make_app(), "GET", "/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["upstream"] == "https://upstream.example/api"
    assert body["simulate"] is False
    assert "pw" not in response.text and "4242" not in response.text


def test_head_root_answers_200_without_token():
    assert call(make_app(), "HEAD", "/").status_code == 200


def test_rebinding_host_is_refused_on_the_real_app():
    response = call(make_app(), "GET", "/health", host="evil.example:8723")
    assert response.status_code == 421


@pytest.mark.parametrize("path", ["/v1/models", "/v1/messages", "/v1/chat/completions"])
def test_model_routes_need_the_token(path):
    method = "GET" if path == "/v1/models" else "POST"
    assert call(make_app(), method, path, json={}).status_code == 401


def test_no_auth_mode_needs_no_token():
    response = call(make_app(token=None), "POST", "/v1/nope", json={})
    assert response.status_code == 404


def test_body_over_the_cap_gets_413_in_anthropic_shape():
    response = call(
        make_app(max_body=1000), "POST", "/v1/messages", headers=AUTH, content=b"x" * 2000
    )
    assert response.status_code == 413
    assert response.json()["error"]["type"] == "request_too_large"


@pytest.mark.parametrize(
    ("path", "anthropic"),
    [("/v1/messages", True), ("/v1/v1/messages", True), ("/v1/chat/completions", False)],
)
def test_bad_json_gets_400_in_the_routes_shape(path, anthropic):
    response = call(make_app(), "POST", path, headers=AUTH, content=b"{oops")
    assert response.status_code == 400
    body = response.json()
    if anthropic:
        assert body["type"] == "error"
        assert body["error"]["type"] == "invalid_request_error"
    else:
        assert body["error"]["type"] == "invalid_request_error"


def test_json_that_is_not_an_object_gets_400():
    response = call(make_app(), "POST", "/v1/chat/completions", headers=AUTH, json=[1, 2])
    assert response.status_code == 400
    assert "JSON object" in response.json()["error"]["message"]


def test_unknown_route_gets_404_in_openai_shape():
    response = call(make_app(), "GET", "/v1/files", headers=AUTH)
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_unknown_route_with_anthropic_version_gets_404_in_anthropic_shape():
    response = call(
        make_app(), "GET", "/v1/files", headers={**AUTH, "anthropic-version": "2023-06-01"}
    )
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "not_found_error"


def test_claude_code_telemetry_is_swallowed():
    response = call(make_app(), "POST", "/api/event_logging/batch", headers=AUTH, json={"e": 1})
    assert response.status_code == 200
    assert response.json() == {}


def test_unexpected_failure_becomes_500_in_shape_without_traceback():
    # upstream=None makes the models route fail inside the handler: the guard must catch it.
    response = call(make_app(), "GET", "/v1/models", headers=AUTH)
    assert response.status_code == 500
    body = response.json()
    assert body["error"]["type"] == "server_error"
    assert "Traceback" not in response.text


def test_cors_only_when_configured():
    origin = {"Origin": "http://localhost:5173"}
    plain = call(make_app(), "GET", "/health", headers=origin)
    allowed = call(make_app(cors_origin="http://localhost:5173"), "GET", "/health", headers=origin)
    assert "access-control-allow-origin" not in plain.headers
    assert allowed.headers["access-control-allow-origin"] == "http://localhost:5173"


def test_relay_socket_answers_without_delayed_ack_stalls():
    """A listening socket made with proto 0 left TCP_NODELAY off: ~40 ms per request."""
    import time

    from kimrel_cli.relay.run import bind_tcp
    from kimrel_cli.servers import start_in_thread

    server = start_in_thread(make_app(), bind_tcp())
    try:
        with httpx.Client(base_url=server.url) as client:
            client.get("/health")
            rounds = []  # a stall costs every request ~40 ms; a busy machine, the odd round
            for _ in range(3):
                started = time.perf_counter()
                for _ in range(20):
                    assert client.get("/health").status_code == 200
                rounds.append(time.perf_counter() - started)
    finally:
        server.stop()
    assert min(rounds) < 0.6, f"20 requests took {min(rounds):.2f} s at best"
