"""Errors rendered in the caller's protocol, before a stream starts and after it has begun,
and the JSON answers of the routes. The streaming plumbing itself is `pipeline.py`."""

from __future__ import annotations

import json
import logging
from typing import Any

from starlette.responses import Response

from kimrel_cli.errors import KimrelError
from kimrel_cli.protocols.errors import ERROR_WIRE, ClientProtocol
from kimrel_cli.relay.pipeline import SSE_HEADERS
from kimrel_cli.relay.security import error_body

logger = logging.getLogger("kimrel.relay")


# ---- errors in the caller's shape ----------------------------------------------------------


def error_parts(
    exc: BaseException, protocol: ClientProtocol
) -> tuple[int, dict[str, Any], dict[str, str]]:
    """(status, body, headers) for any exception, in the given protocol's error shape."""
    if isinstance(exc, KimrelError):
        return ERROR_WIRE[protocol].answer(exc)
    logger.error(
        "relay internal error: %s: %s",
        type(exc).__name__,
        exc,
        exc_info=logger.isEnabledFor(logging.DEBUG),
    )
    message = f"kimrel relay internal error ({type(exc).__name__}); run `kimrel --debug serve` for details"
    return 500, error_body(protocol, 500, message), {}


def error_response(exc: BaseException, protocol: ClientProtocol) -> Response:
    status, body, headers = error_parts(exc, protocol)
    return json_response(body, status, headers)


def relay_error_response(
    protocol: ClientProtocol, status: int, message: str, code: str | None = None
) -> Response:
    """An error made by the relay itself (bad JSON, unknown route, …)."""
    return json_response(error_body(protocol, status, message, code), status)


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(body, status_code=status, headers=headers, media_type="application/json")


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
    headers = {**SSE_HEADERS, **error_parts(exc, ClientProtocol.RESPONSES)[2]}
    return Response(body, 200, headers=headers, media_type="text/event-stream; charset=utf-8")
