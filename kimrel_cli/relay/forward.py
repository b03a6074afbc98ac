"""Errors rendered in the caller's protocol, before a stream starts and after it has begun,
and the JSON answers of the routes. The streaming plumbing itself is `pipeline.py`."""

from __future__ import annotations

import json
import logging
from typing import Any

from starlette.responses import Response

from kimrel_cli.errors import KimrelError
from kimrel_cli.relay.pipeline import SSE_HEADERS
from kimrel_cli.relay.security import Shape, error_body

logger = logging.getLogger("kimrel.relay")


def shutdown_tail(path: str) -> bytes:
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
