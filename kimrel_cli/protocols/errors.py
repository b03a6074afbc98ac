"""KimrelError → wire errors in each client's protocol (docs/protocols.md 6.6), pure.

- Anthropic: `{"type":"error","error":{"type","message"}}` with the mapped status, or an `error`
  stream event once a stream has started.
- OpenAI (chat completions, responses, the relay's own errors): `{"error":{message,type,code,param}}`,
  or a `data: {"error": …}` line mid-stream.
Upstream unreachable → 502, timeout → 504. Insufficient credits carry `x-should-retry: false`.
"""

from __future__ import annotations

from typing import Any

from kimrel_cli.errors import (
    BadRequest,
    InsufficientCredits,
    InvalidKey,
    KimrelError,
    NotFound,
    PermissionDenied,
    RateLimited,
    ServerError,
    UpstreamError,
    UpstreamUnavailable,
)

Event = tuple[str, dict[str, Any]]


def _anthropic_status_type(exc: KimrelError) -> tuple[int, str]:
    if isinstance(exc, UpstreamUnavailable):
        return (504, "timeout_error") if exc.timeout else (502, "api_error")
    if isinstance(exc, InvalidKey):
        return 401, "authentication_error"
    if isinstance(exc, InsufficientCredits):
        return 403, "permission_error"
    if isinstance(exc, PermissionDenied):
        return 403, "permission_error"
    if isinstance(exc, NotFound):
        return 404, "not_found_error"
    if isinstance(exc, RateLimited):
        return 429, "rate_limit_error"
    if isinstance(exc, ServerError):
        if exc.status in (503, 529):
            return 529, "overloaded_error"
        if exc.status == 504:
            return 504, "timeout_error"
        return 500, "api_error"
    if isinstance(exc, UpstreamError):
        if exc.status == 413:
            return 413, "request_too_large"
        if exc.status == 404:
            return 404, "not_found_error"
        return 400, "invalid_request_error"
    return 400, "invalid_request_error"


def _message(exc: KimrelError) -> str:
    code = getattr(exc, "wire_code", None)
    text = exc.message
    if code and code not in text and code not in ("invalid_request", "invalid_request_error"):
        text = f"{code}: {text}"
    return text


def _headers(exc: KimrelError) -> dict[str, str]:
    headers: dict[str, str] = {}
    if isinstance(exc, InsufficientCredits):
        headers["x-should-retry"] = "false"
    retry_after = getattr(exc, "retry_after", None)
    if isinstance(exc, RateLimited) and retry_after is not None:
        headers["retry-after"] = str(max(0, round(retry_after)))
    return headers


def anthropic_error(exc: KimrelError) -> tuple[int, dict[str, Any], dict[str, str]]:
    """(status, body, extra headers) for an error answered before any stream byte."""
    status, kind = _anthropic_status_type(exc)
    body = {"type": "error", "error": {"type": kind, "message": _message(exc)}}
    return status, body, _headers(exc)


def anthropic_error_event(exc: KimrelError) -> Event:
    """The `error` event that ends an Anthropic stream which has already started."""
    _, kind = _anthropic_status_type(exc)
    return "error", {"type": "error", "error": {"type": kind, "message": _message(exc)}}


def _openai_status_type_code(exc: KimrelError) -> tuple[int, str, str | None]:
    code = getattr(exc, "wire_code", None)
    if isinstance(exc, UpstreamUnavailable):
        return (
            (504, "server_error", "timeout")
            if exc.timeout
            else (502, "server_error", "upstream_unavailable")
        )
    if isinstance(exc, InvalidKey):
        return 401, "invalid_request_error", "invalid_api_key"
    if isinstance(exc, InsufficientCredits):
        return 403, "insufficient_quota", "insufficient_credits"
    if isinstance(exc, PermissionDenied):
        return 403, "permission_error", code
    if isinstance(exc, NotFound):
        return 404, "invalid_request_error", code or "model_not_found"
    if isinstance(exc, RateLimited):
        return 429, "rate_limit_error", "rate_limit_exceeded"
    if isinstance(exc, ServerError):
        if exc.status in (503, 529):
            return 503, "server_error", "overloaded"
        if exc.status == 504:
            return 504, "server_error", "timeout"
        return 500, "server_error", code
    if isinstance(exc, BadRequest) and exc.status == 413:
        return 413, "invalid_request_error", "request_too_large"
    if isinstance(exc, UpstreamError):
        status = exc.status if 400 <= exc.status < 500 and exc.status not in (422,) else 400
        return status, "invalid_request_error", code or "invalid_request"
    return 400, "invalid_request_error", code or "invalid_request"


def openai_error(exc: KimrelError) -> tuple[int, dict[str, Any], dict[str, str]]:
    """(status, body, extra headers) in OpenAI's error shape."""
    status, kind, code = _openai_status_type_code(exc)
    body = {"error": {"message": exc.message, "type": kind, "code": code, "param": None}}
    return status, body, _headers(exc)


def openai_error_chunk(exc: KimrelError) -> dict[str, Any]:
    """The `data: {"error": …}` payload that ends a chat completions stream which has started."""
    return openai_error(exc)[1]


_WIRE_TO_CLASS: dict[str, tuple[type[UpstreamError], int]] = {
    "invalid_api_key": (InvalidKey, 401),
    "authentication_error": (InvalidKey, 401),
    "insufficient_credits": (InsufficientCredits, 403),
    "insufficient_quota": (InsufficientCredits, 403),
    "rate_limit_exceeded": (RateLimited, 429),
    "rate_limit_error": (RateLimited, 429),
    "model_not_found": (NotFound, 404),
    "not_found_error": (NotFound, 404),
    "permission_error": (PermissionDenied, 403),
    "overloaded_error": (ServerError, 529),
    "api_error": (ServerError, 500),
    "server_error": (ServerError, 500),
}


def error_from_wire(error: Any) -> UpstreamError:
    """A typed error for an error object met inside a stream (`{"message","type","code"}`)."""
    if not isinstance(error, dict):
        return ServerError(str(error) or "upstream error")
    message = str(error.get("message") or "upstream error")
    code = error.get("code")
    kind = error.get("type")
    for name in (code, kind):
        if isinstance(name, str) and name in _WIRE_TO_CLASS:
            cls, status = _WIRE_TO_CLASS[name]
            return cls(message, status=status, wire_code=code, wire_type=kind)
    if kind == "invalid_request_error":
        return BadRequest(message, status=400, wire_code=code, wire_type=kind)
    return ServerError(message, status=500, wire_code=code, wire_type=kind)
