"""Upstream plumbing for the routes: streaming responses that close upstream on disconnect,
keep-alive pings on silence, and errors rendered in the caller's protocol.

`RelayStream` is a small ASGI response: it sends 200 and the body iterator's bytes as they come
(no buffering), watches for the client going away, and always runs `on_close` (which closes
the upstream stream) however the response ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.responses import Response

from kimrel_cli.errors import KimrelError
from kimrel_cli.protocols.sse import SSEEvent
from kimrel_cli.relay.security import Shape, error_body

logger = logging.getLogger("kimrel.relay")

SSE_HEADERS = {
    "cache-control": "no-cache",
    "x-accel-buffering": "no",
    "connection": "keep-alive",
}


def _shutdown_tail(path: str) -> bytes:
    """The last event of a stream the relay ends because it is stopping, in the route's protocol."""
    message = "kimrel: the relay stopped while this answer was streaming; run it again and retry."
    if path.endswith("/messages"):
        data = {"type": "error", "error": {"type": "api_error", "message": message}}
        return f"event: error\ndata: {json.dumps(data)}\n\n".encode()
    if path.endswith("/responses"):
        response = {
            "id": "resp_relay_stopped",
            "object": "response",
            "status": "failed",
            "output": [],
            "error": {"code": "server_error", "message": message},
        }
        data = {"type": "response.failed", "response": response}
        return f"event: response.failed\ndata: {json.dumps(data)}\n\n".encode()
    data = {"error": {"message": message, "type": "server_error", "code": "relay_stopped"}}
    return f"data: {json.dumps(data)}\n\n".encode()


class RelayStream:
    """A streaming ASGI response that cancels itself on client disconnect and always cleans up.

    While it runs it is registered in its relay's `RelayContext.streams`; `stop()` (called when
    the relay shuts down) ends it with a final error event in the route's protocol and a clean
    end of body, so the server has nothing to cancel and prints no traceback. A stream that ends
    either way is logged as aborted (status 499) by `RelayContext.record`.
    """

    def __init__(
        self,
        body: AsyncIterator[bytes],
        *,
        headers: dict[str, str] | None = None,
        on_close: Callable[[], Awaitable[None]] | None = None,
        media_type: str = "text/event-stream; charset=utf-8",
    ) -> None:
        self.body = body
        self.headers = {"content-type": media_type, **SSE_HEADERS, **(headers or {})}
        self.on_close = on_close
        self.disconnected = False
        self.stopping = False
        self._pump: asyncio.Future[None] | None = None

    def stop(self) -> None:
        """End the stream now (relay shutdown): the client gets a final error event."""
        self.stopping = True
        if self._pump is not None and not self._pump.done():
            self._pump.cancel()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        from kimrel_cli.relay.context import STREAM_ABORTED

        raw_headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in self.headers.items()]
        ctx = getattr(getattr(scope.get("app"), "state", None), "ctx", None)
        streams = getattr(ctx, "streams", None)
        self._started = False
        pump = self._pump = asyncio.ensure_future(self._pump_body(send, raw_headers))
        watch = asyncio.ensure_future(self._watch(receive))
        if streams is not None:
            streams.add(self)
            if getattr(ctx, "stopping", False):
                self.stop()
        try:
            done, _ = await asyncio.wait({pump, watch}, return_when=asyncio.FIRST_COMPLETED)
            if watch in done and not pump.done():
                self.disconnected = True
                pump.cancel()
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await pump
            if self.stopping and not self.disconnected and pump.cancelled():
                await self._finish(send, raw_headers, _shutdown_tail(str(scope.get("path", ""))))
        finally:
            if streams is not None:
                streams.discard(self)
            watch.cancel()
            pump.cancel()
            with contextlib.suppress(BaseException):
                await watch
            aclose = getattr(self.body, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(BaseException):
                    await aclose()
            reason = None
            if self.disconnected or (self.stopping and pump.cancelled()):
                reason = "client disconnected" if self.disconnected else "relay stopped"
            token = STREAM_ABORTED.set(reason)
            try:
                if self.on_close is not None:
                    with contextlib.suppress(BaseException):
                        await self.on_close()
            finally:
                STREAM_ABORTED.reset(token)

    async def _finish(self, send: Any, raw_headers: list[tuple[bytes, bytes]], tail: bytes) -> None:
        with contextlib.suppress(OSError, RuntimeError):
            if not self._started:
                await send({"type": "http.response.start", "status": 200, "headers": raw_headers})
            await send({"type": "http.response.body", "body": tail, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _pump_body(self, send: Any, raw_headers: list[tuple[bytes, bytes]]) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": raw_headers})
        self._started = True
        async for chunk in self.body:
            if chunk:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _watch(self, receive: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return


async def with_pings(
    events: AsyncIterator[SSEEvent], interval: float
) -> AsyncIterator[SSEEvent | None]:
    """Upstream events as they come; None after every `interval` seconds of upstream silence.

    The pending read is never cancelled on a ping (cancelling it would break the iterator).
    """
    iterator = events.__aiter__()
    pending: asyncio.Future[SSEEvent] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(iterator.__anext__())
            done, _ = await asyncio.wait({pending}, timeout=interval)
            if not done:
                yield None
                continue
            task, pending = pending, None
            try:
                event = task.result()
            except StopAsyncIteration:
                return
            yield event
    finally:
        if pending is not None:
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending


# ---- errors in the caller's shape ----------------------------------------------------------


def error_parts(exc: BaseException, shape: Shape) -> tuple[int, dict[str, Any], dict[str, str]]:
    """(status, body, headers) for any exception, in the given protocol's error shape."""
    if isinstance(exc, KimrelError):
        from kimrel_cli.protocols import errors as perrors

        return (perrors.anthropic_error if shape == "anthropic" else perrors.openai_error)(exc)
    logger.error(
        "relay internal error: %s: %s",
        type(exc).__name__,
        exc,
        exc_info=logger.isEnabledFor(logging.DEBUG),
    )
    message = f"kimrel relay internal error ({type(exc).__name__}); run `kimrel --debug serve` for details"
    return 500, error_body(shape, 500, message), {}


def error_response(exc: BaseException, shape: Shape) -> Response:
    status, body, headers = error_parts(exc, shape)
    return json_response(body, status, headers)


def relay_error_response(
    shape: Shape, status: int, message: str, code: str | None = None
) -> Response:
    """An error made by the relay itself (bad JSON, unknown route, …)."""
    return json_response(error_body(shape, status, message, code), status)


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(body, status_code=status, headers=headers, media_type="application/json")


def anthropic_stream_error(exc: BaseException) -> tuple[str, dict[str, Any]]:
    """The `event: error` for a failure after an Anthropic stream has started."""
    if isinstance(exc, KimrelError):
        from kimrel_cli.protocols import errors as perrors

        return perrors.anthropic_error_event(exc)
    return "error", error_body("anthropic", 500, f"relay error: {type(exc).__name__}")


def openai_stream_error(exc: BaseException) -> dict[str, Any]:
    """The `data: {"error":…}` payload for a failure after a chat stream began."""
    if isinstance(exc, KimrelError):
        from kimrel_cli.protocols import errors as perrors

        return perrors.openai_error_chunk(exc)
    return error_body("openai", 500, f"relay error: {type(exc).__name__}")


def responses_failed_stream(
    exc: KimrelError, *, response_id: str, model: str, created_at: int
) -> Response:
    """A whole Responses stream that fails at once: `response.created`, then `response.failed`.

    Codex reads `response.failed` codes (protocols/errors.responses_failure) but shows any HTTP
    error other than 400 as "unexpected status …" and retries it, so a streaming Responses request
    gets its upstream failure this way, with status 200.
    """
    from kimrel_cli.protocols import errors as perrors
    from kimrel_cli.protocols.sse import encode_events

    code, message = perrors.responses_failure(exc)
    response: dict[str, Any] = {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "model": model,
        "status": "in_progress",
        "output": [],
        "error": None,
        "usage": None,
    }
    failed = {**response, "status": "failed", "error": {"code": code, "message": message}}
    body = encode_events(
        [
            (
                "response.created",
                {"type": "response.created", "sequence_number": 0, "response": response},
            ),
            (
                "response.failed",
                {"type": "response.failed", "sequence_number": 1, "response": failed},
            ),
        ]
    )
    headers = {**SSE_HEADERS, **error_parts(exc, "openai")[2]}
    return Response(body, 200, headers=headers, media_type="text/event-stream; charset=utf-8")

