"""Adding a client protocol is a few lines: a throwaway "echo" protocol through the registries.

Everything protocol-specific below is what docs/architecture.md "How to add a client protocol"
lists: an error row (`ERROR_WIRE`), a path row (`PATH_PROTOCOLS`, for the guards' answers), a
`StreamAdapter`, a handler that hands a `StreamJob` to the pipeline, and a `RouteSpec` row. The
relay then streams it, pings it, logs it and answers its errors in its shape, with nothing else
edited. Real relay on 127.0.0.1:0 against the simulator.
"""

from __future__ import annotations

import enum
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import Response

from kimrel_cli.errors import KimrelError
from kimrel_cli.protocols.errors import ERROR_WIRE, ErrorWire, user_text
from kimrel_cli.protocols.sse import SSEEvent, encode_event
from kimrel_cli.relay.app import ROUTES, RouteSpec, create_app
from kimrel_cli.relay.context import RelayConfig, RelayContext, build_context
from kimrel_cli.relay.pipeline import Outcome, StreamJob, stream, stream_error
from kimrel_cli.relay.security import PATH_PROTOCOLS
from kimrel_cli.relay.shared import CHAT_PATH, failed, read_json
from kimrel_cli.servers import bind_socket, start_in_thread

TOKEN = "kr-local-echo-test"


class Echo(enum.Enum):
    ECHO = "echo"


ECHO_WIRE = ErrorWire(
    answer=lambda exc: (409, {"echo_error": user_text(exc)}, {}),
    relay_body=lambda status, message, code: {"echo_error": message, "status": status},
    stream_event=lambda exc: ("echo.error", {"message": user_text(exc)}),
    stopped_event=lambda message: ("echo.error", {"message": message}),
)


class EchoAdapter:
    """Upstream chat chunks → `echo.text` events holding only the text."""

    done = False

    def start(self) -> bytes:
        return encode_event("echo.start", {})

    def feed(self, event: SSEEvent) -> bytes:
        choices = json.loads(event.data).get("choices") or [{}]
        text = (choices[0].get("delta") or {}).get("content")
        return encode_event("echo.text", {"text": text}) if text else b""

    def keepalive(self) -> bytes:
        return encode_event("echo.ping", {})

    def finish(self, upstream_done: bool) -> bytes:
        return encode_event("echo.end", {})

    def fail(self, exc: KimrelError) -> bytes:
        return stream_error(exc, Echo.ECHO)  # type: ignore[arg-type]

    def outcome(self) -> Outcome:
        return Outcome()


async def echo(request: Request, ctx: RelayContext) -> Response:
    started = time.monotonic()
    body = await read_json(request)
    model, _ = ctx.resolve_model(str(body.get("model") or ""))
    job = StreamJob(
        protocol=Echo.ECHO,  # type: ignore[arg-type]
        route="/v1/echo",
        model=model,
        started=started,
        upstream_path=CHAT_PATH,
        body={
            "model": model,
            "stream": True,
            "messages": [{"role": "user", "content": body["text"]}],
        },
        headers=ctx.forward_headers(request),
        on_open_error=lambda exc: failed(ctx, exc, request, model, started, Echo.ECHO),  # type: ignore[arg-type]
    )
    return await stream(ctx, job, EchoAdapter())


@pytest.fixture
def echo_relay(simulator: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setitem(ERROR_WIRE, Echo.ECHO, ECHO_WIRE)  # type: ignore[index]
    monkeypatch.setitem(PATH_PROTOCOLS, "/v1/echo", Echo.ECHO)  # type: ignore[arg-type]
    ctx = build_context(
        RelayConfig(api_key="sk-sim-demo", base_url=simulator, token=TOKEN, ping_interval=0.1)
    )
    routes = [*ROUTES, RouteSpec("/v1/echo", echo, Echo.ECHO)]  # type: ignore[arg-type]
    server = start_in_thread(create_app(ctx, routes), bind_socket())
    yield server.url, ctx
    server.stop()


def _post(url: str, body: Any, **headers: str) -> httpx.Response:
    headers = {"authorization": f"Bearer {TOKEN}", **headers}
    return httpx.post(url + "/v1/echo", json=body, headers=headers, timeout=20)


def test_an_echo_protocol_streams_through_the_pipeline(echo_relay):
    url, ctx = echo_relay
    answer = _post(
        url, {"model": "kimi-k2", "text": "hello"}, **{"x-kimrel-fault": "chunk_delay=0.3"}
    )
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/event-stream")
    text = answer.text
    assert text.startswith("event: echo.start\n")
    assert "event: echo.text\n" in text and "event: echo.ping\n" in text
    assert text.endswith("event: echo.end\ndata: {}\n\n")
    deadline = time.monotonic() + 5  # recorded when the stream has closed, just after the body
    while not ctx.log.recent and time.monotonic() < deadline:
        time.sleep(0.01)
    logged = ctx.log.recent[-1]
    assert (logged.route, logged.status, logged.stream) == ("/v1/echo", 200, True)


def test_the_echo_protocols_errors_come_in_its_own_shape(echo_relay):
    url, _ = echo_relay
    refused = httpx.post(url + "/v1/echo", json={"text": "x"}, timeout=20)  # no local token
    assert refused.status_code == 401 and "echo_error" in refused.json()
    bad = _post(url, ["not", "an", "object"])
    assert bad.status_code == 400 and bad.json()["echo_error"].startswith("request body")
    upstream = _post(url, {"text": "x"}, **{"x-kimrel-fault": "status=401"})
    assert upstream.status_code == 409 and upstream.json()["echo_error"].startswith("kimrel:")
