"""The relay's guards (Host check, local token, body limit, CORS, bind refusal) on tiny apps."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from kimrel_cli.errors import ConfigError
from kimrel_cli.relay.run import check_binding
from kimrel_cli.relay.security import (
    BodyLimit,
    Cors,
    HostGuard,
    TokenGuard,
    is_loopback_bind,
    is_loopback_host,
)

TOKEN = "kr-local-test-token"


async def echo_app(scope: Any, receive: Any, send: Any) -> None:
    """Reads the whole body and answers 200 with its length."""
    size = 0
    while True:
        message = await receive()
        size += len(message.get("body", b""))
        if not message.get("more_body"):
            break
    body = json.dumps({"ok": True, "size": size}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})


def call(app: Any, method: str, path: str, **kwargs: Any) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8723") as c:
            return await c.request(method, path, **kwargs)

    return asyncio.run(go())


@pytest.mark.parametrize(
    "host",
    [
        "localhost",
        "localhost:8723",
        "127.0.0.1",
        "127.0.0.1:80",
        "127.9.9.9:1",
        "[::1]",
        "[::1]:8723",
        "app.localhost:3000",
    ],
)
def test_loopback_host_names_are_accepted(host):
    assert is_loopback_host(host)


@pytest.mark.parametrize(
    "host",
    [
        "evil.example",
        "evil.example:8723",
        "127.0.0.1.nip.io",
        "localhost.evil.example",
        "10.0.0.5:8723",
        "0.0.0.0:8723",
        "[::]:8723",
        "::1",
        "",
        "localhost:notaport",
    ],
)
def test_rebinding_and_foreign_host_names_are_refused(host):
    assert not is_loopback_host(host)


def test_foreign_host_header_gets_421_in_anthropic_shape_on_messages_path():
    response = call(HostGuard(echo_app), "POST", "/v1/messages", headers={"Host": "evil.example"})
    assert response.status_code == 421
    body = response.json()
    assert body["type"] == "error"
    assert body["error"]["type"] == "invalid_request_error"


def test_foreign_host_header_gets_421_in_openai_shape_on_chat_path():
    response = call(
        HostGuard(echo_app), "POST", "/v1/chat/completions", headers={"Host": "attacker.test:8723"}
    )
    assert response.status_code == 421
    assert response.json()["error"]["code"] == "invalid_host"


def test_loopback_host_header_passes_host_guard():
    response = call(HostGuard(echo_app), "GET", "/v1/models", headers={"Host": "localhost:8723"})
    assert response.status_code == 200


def test_remote_mode_lets_any_host_through():
    response = call(
        HostGuard(echo_app, allow_any=True), "GET", "/v1/models", headers={"Host": "relay.lan"}
    )
    assert response.status_code == 200


def test_missing_token_is_refused_with_401_in_openai_shape():
    response = call(
        TokenGuard(echo_app, token=TOKEN), "POST", "/v1/chat/completions", content=b"{}"
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"


def test_missing_token_is_refused_with_401_in_anthropic_shape():
    response = call(
        TokenGuard(echo_app, token=TOKEN), "POST", "/v1/messages?beta=true", content=b"{}"
    )
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"


def test_wrong_token_is_refused():
    response = call(
        TokenGuard(echo_app, token=TOKEN),
        "GET",
        "/v1/models",
        headers={"Authorization": "Bearer kr-local-wrong"},
    )
    assert response.status_code == 401


@pytest.mark.parametrize(
    "headers",
    [{"Authorization": f"Bearer {TOKEN}"}, {"x-api-key": TOKEN}, {"X-Api-Key": TOKEN}],
    ids=["bearer", "x-api-key", "X-Api-Key"],
)
def test_token_is_accepted_in_either_header(headers):
    response = call(TokenGuard(echo_app, token=TOKEN), "GET", "/v1/models", headers=headers)
    assert response.status_code == 200


@pytest.mark.parametrize(("method", "path"), [("GET", "/health"), ("HEAD", "/")])
def test_health_and_head_root_need_no_token(method, path):
    response = call(TokenGuard(echo_app, token=TOKEN), method, path)
    assert response.status_code == 200


def test_no_token_configured_lets_json_through():
    response = call(
        TokenGuard(echo_app, token=None),
        "POST",
        "/v1/messages",
        content=b"{}",
        headers={"content-type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 200


def test_no_token_lets_the_configured_cors_origin_through():
    guard = TokenGuard(echo_app, token=None, cors_origin="https://app.example/")
    headers = {"content-type": "application/json", "origin": "https://app.example"}
    assert call(guard, "POST", "/v1/messages", content=b"{}", headers=headers).status_code == 200


def test_body_over_limit_by_content_length_gets_413():
    response = call(BodyLimit(echo_app, max_bytes=100), "POST", "/v1/messages", content=b"x" * 101)
    assert response.status_code == 413
    assert response.json()["error"]["type"] == "request_too_large"


def test_chunked_body_over_limit_gets_413_in_openai_shape():
    async def chunks():
        for _ in range(5):
            yield b"x" * 50

    response = call(
        BodyLimit(echo_app, max_bytes=100), "POST", "/v1/chat/completions", content=chunks()
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"


def test_body_within_limit_passes():
    response = call(BodyLimit(echo_app, max_bytes=100), "POST", "/v1/messages", content=b"x" * 100)
    assert response.status_code == 200
    assert response.json()["size"] == 100


def test_no_cors_headers_by_default():
    response = call(
        Cors(echo_app, origin=None), "GET", "/v1/models", headers={"Origin": "http://evil.example"}
    )
    assert "access-control-allow-origin" not in response.headers


def test_cors_headers_only_for_the_configured_origin():
    app = Cors(echo_app, origin="http://localhost:5173")
    good = call(app, "GET", "/v1/models", headers={"Origin": "http://localhost:5173"})
    bad = call(app, "GET", "/v1/models", headers={"Origin": "http://evil.example"})
    assert good.headers["access-control-allow-origin"] == "http://localhost:5173"
    assert "access-control-allow-origin" not in bad.headers


def test_cors_preflight_for_the_configured_origin_is_answered():
    app = Cors(TokenGuard(echo_app, token=TOKEN), origin="http://localhost:5173")
    response = call(
        app,
        "OPTIONS",
        "/v1/messages",
        headers={
            "Origin": "http://localhost:5173",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-api-key,content-type",
        },
    )
    assert response.status_code == 204
    assert response.headers["access-control-allow-headers"] == "x-api-key,content-type"


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_loopback_binds_need_no_flag(host):
    assert is_loopback_bind(host)
    check_binding(host, allow_remote=False, no_auth=True)


def test_non_loopback_bind_is_refused_without_allow_remote():
    with pytest.raises(ConfigError, match="loopback only") as caught:
        check_binding("0.0.0.0", allow_remote=False, no_auth=False)
    assert "--allow-remote" in (caught.value.hint or "")


def test_non_loopback_bind_with_no_auth_is_refused():
    with pytest.raises(ConfigError, match="cannot be combined"):
        check_binding("0.0.0.0", allow_remote=True, no_auth=True)


def test_non_loopback_bind_with_allow_remote_and_token_is_allowed():
    check_binding("0.0.0.0", allow_remote=True, no_auth=False)
