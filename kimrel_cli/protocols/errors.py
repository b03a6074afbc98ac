"""KimrelError → wire errors in each client's protocol (docs/protocols.md 6.6), pure.

- Anthropic: `{"type":"error","error":{"type","message"}}` with the mapped status, or an `error`
  stream event once a stream has started.
- OpenAI (chat completions, responses, the relay's own errors): `{"error":{message,type,code,param}}`,
  or a `data: {"error": …}` line mid-stream; Responses streams end in `response.failed`.
Upstream unreachable → 502, timeout → 504.

Chosen for what each client renders (docs/relay.md "Errors and retries"):
- Every message is kimrel's own words plus the hint (where to buy credits, what to run): clients
  show the message and nothing else.
- Out of credits is Anthropic's 402 `billing_error` (Claude Code prints "API Error: 402 …"; a 403
  reads as "Failed to authenticate · Please run /login").
- Context overflow starts "prompt is too long: N tokens > M maximum", the words that make Claude
  Code say "Prompt is too long" and compact; in Responses it is `context_length_exceeded`.
- A spend cap (`kimrel budget`) is the "spend_limit" kind: 429 with `x-should-retry: false`,
  the message beginning "spend limit reached" as is (no "kimrel:" prefix), Anthropic
  `rate_limit_error`, OpenAI `insufficient_quota`/`spend_limit_reached`, Responses
  `invalid_prompt` (Codex prints it and stops; its `insufficient_quota` handling would print
  its own fixed "Quota exceeded" text instead).
- Retries happen once, in the hosted client. An error it gave up on (`final`) or that no retry
  can fix carries `x-should-retry: false` (Claude Code and the SDKs obey it), is never an
  Anthropic `overloaded_error` (Claude Code retries those whatever the header says), and ends a
  Responses stream with `invalid_prompt`, the code Codex shows verbatim without retrying.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
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
    SpendLimitReached,
    UpstreamError,
    UpstreamUnavailable,
)

Event = tuple[str, dict[str, Any]]
WireEvent = tuple[str | None, dict[str, Any]]  # (SSE event name, or None for a bare `data:`)


class ClientProtocol(Enum):
    """The wire protocol a relay client speaks; every error table below is keyed by it."""

    ANTHROPIC = "anthropic"  # Messages (Claude Code, the anthropic SDK)
    CHAT = "chat"  # Chat Completions (the openai SDK, most tools)
    RESPONSES = "responses"  # Responses (Codex, client.responses)


_CLIENT_RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504, 529})


def client_may_retry(exc: KimrelError) -> bool:
    """Whether the relay's client should retry: only a transient failure kimrel did not retry."""
    if exc.final:
        return False
    if isinstance(exc, UpstreamUnavailable):
        return True
    if isinstance(exc, (InsufficientCredits, InvalidKey, PermissionDenied, NotFound, BadRequest)):
        return False
    if isinstance(exc, UpstreamError):
        return exc.status in _CLIENT_RETRYABLE_STATUSES
    return False


def _context_overflow(exc: KimrelError) -> bool:
    return getattr(exc, "wire_code", None) == "context_length_exceeded"


def user_text(exc: KimrelError, *, hint: bool = True) -> str:
    """kimrel's message for the user: what happened, how often it was tried, what to do."""
    text = exc.message
    code = getattr(exc, "wire_code", None)
    if (
        isinstance(exc, BadRequest)
        and code
        and code not in text
        and code not in ("invalid_request", "invalid_request_error")
    ):
        text = f"{code}: {text}"
    if exc.attempts > 1:
        text += f" (kimrel tried {exc.attempts} times)"
    text = text.rstrip(".") + "."
    if exc.hint and hint:
        text += " " + exc.hint.rstrip(".") + "."
    return "kimrel: " + text


def spend_limit_text(exc: KimrelError) -> str:
    """A spend-limit refusal as clients show it: "spend limit reached (…): …. Raise it with …"."""
    text = exc.message.rstrip(".") + "."
    return text + (" " + exc.hint.rstrip(".") + "." if exc.hint else "")


def prompt_too_long_text(exc: KimrelError) -> str:
    """Anthropic's words for a context overflow, with the token counts when the API gave them."""
    numbers = [int(n.replace(",", "")) for n in re.findall(r"\d[\d,]*", exc.message)]
    numbers = [n for n in numbers if n >= 100]
    if len(numbers) >= 2:
        head = f"prompt is too long: {max(numbers)} tokens > {min(numbers)} maximum"
    else:
        head = "prompt is too long"
    return f"{head} ({user_text(exc)})"


def _anthropic_status_type(exc: KimrelError) -> tuple[int, str]:
    if isinstance(exc, SpendLimitReached):
        return 429, "rate_limit_error"
    if isinstance(exc, UpstreamUnavailable):
        return (504, "timeout_error") if exc.timeout else (502, "api_error")
    if isinstance(exc, InvalidKey):
        return 401, "authentication_error"
    if isinstance(exc, InsufficientCredits):
        return 402, "billing_error"
    if isinstance(exc, PermissionDenied):
        return 403, "permission_error"
    if isinstance(exc, NotFound):
        return 404, "not_found_error"
    if isinstance(exc, RateLimited):
        return 429, "rate_limit_error"
    if isinstance(exc, ServerError):
        if exc.status in (503, 529):
            return (529, "overloaded_error") if client_may_retry(exc) else (503, "api_error")
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


def _anthropic_message(exc: KimrelError) -> str:
    if _context_overflow(exc):
        return prompt_too_long_text(exc)
    if isinstance(exc, SpendLimitReached):
        return spend_limit_text(exc)
    # Claude Code adds its own "server-side issue, try again" to every 5xx; a connection failure
    # keeps kimrel's hint (check the network or the base URL)
    server_side = isinstance(exc, ServerError) or (
        isinstance(exc, UpstreamUnavailable) and exc.timeout
    )
    return user_text(exc, hint=not server_side)


def _headers(exc: KimrelError) -> dict[str, str]:
    if not client_may_retry(exc):
        return {"x-should-retry": "false"}
    headers: dict[str, str] = {}
    retry_after = getattr(exc, "retry_after", None)
    if isinstance(exc, RateLimited) and retry_after is not None:
        headers["retry-after"] = str(max(0, round(retry_after)))
    return headers


def anthropic_error(exc: KimrelError) -> tuple[int, dict[str, Any], dict[str, str]]:
    """(status, body, extra headers) for an error answered before any stream byte."""
    status, kind = _anthropic_status_type(exc)
    error: dict[str, Any] = {"type": kind, "message": _anthropic_message(exc)}
    if isinstance(exc, SpendLimitReached):
        # the one 429 Claude Code does not retry even with CLAUDE_CODE_RETRY_WATCHDOG on
        error["details"] = {"error_code": "credits_required"}
    body = {"type": "error", "error": error}
    return status, body, _headers(exc)


def anthropic_error_event(exc: KimrelError) -> Event:
    """The `error` event that ends an Anthropic stream which has already started."""
    _, kind = _anthropic_status_type(exc)
    return "error", {"type": "error", "error": {"type": kind, "message": _anthropic_message(exc)}}


def _openai_status_type_code(exc: KimrelError) -> tuple[int, str, str | None]:
    code = getattr(exc, "wire_code", None)
    if isinstance(exc, SpendLimitReached):
        return 429, "insufficient_quota", "spend_limit_reached"
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
    text = spend_limit_text(exc) if isinstance(exc, SpendLimitReached) else user_text(exc)
    body = {"error": {"message": text, "type": kind, "code": code, "param": None}}
    return status, body, _headers(exc)


def openai_error_chunk(exc: KimrelError) -> dict[str, Any]:
    """The `data: {"error": …}` payload that ends a chat completions stream which has started."""
    return openai_error(exc)[1]


def responses_failure(exc: KimrelError) -> tuple[str, str]:
    """(code, message) for a Responses `response.failed`, in the codes Codex acts on.

    `context_length_exceeded`: Codex's own "ran out of room in the context window".
    `invalid_prompt`: Codex prints the message as is and does not retry (every final error).
    `rate_limit_exceeded` / `server_error`: Codex retries (only errors kimrel did not retry).
    """
    text = user_text(exc)
    if _context_overflow(exc):
        return "context_length_exceeded", text
    if isinstance(exc, SpendLimitReached):
        return "invalid_prompt", spend_limit_text(exc)
    if not client_may_retry(exc):
        return "invalid_prompt", text
    if isinstance(exc, RateLimited):
        wait = exc.retry_after
        return "rate_limit_exceeded", text + (
            f" Please try again in {wait:.0f}s." if wait is not None else ""
        )
    return "server_error", text


# The inbound table: a wire error code or type (either protocol's) → (class, status). Read by
# `error_from_wire` here and by `hosted/errors.classify` for the hosted API's HTTP answers.
WIRE_CODES: dict[str, tuple[type[UpstreamError], int]] = {
    "invalid_api_key": (InvalidKey, 401),
    "authentication_error": (InvalidKey, 401),
    "insufficient_credits": (InsufficientCredits, 403),
    "insufficient_quota": (InsufficientCredits, 403),
    "billing_error": (InsufficientCredits, 402),
    "rate_limit_exceeded": (RateLimited, 429),
    "rate_limit_error": (RateLimited, 429),
    "model_not_found": (NotFound, 404),
    "not_found_error": (NotFound, 404),
    "permission_error": (PermissionDenied, 403),
    "overloaded_error": (ServerError, 529),
    "api_error": (ServerError, 500),
    "server_error": (ServerError, 500),
}


def wire_class(code: Any, kind: Any) -> tuple[type[UpstreamError], int]:
    """The error class and HTTP status an error object's code or type (either protocol's)
    stands for: the code wins, then the type; an unknown one is a 500."""
    for name in (code, kind):
        if isinstance(name, str) and name in WIRE_CODES:
            return WIRE_CODES[name]
    if kind == "invalid_request_error":
        return BadRequest, 400
    return ServerError, 500


def error_from_wire(error: Any) -> UpstreamError:
    """A typed error for an error object met inside a stream (`{"message","type","code"}`)."""
    if not isinstance(error, dict):
        return ServerError(str(error) or "upstream error")
    message = str(error.get("message") or "upstream error")
    code = error.get("code")
    kind = error.get("type")
    cls, status = wire_class(code, kind)
    return cls(message, status=status, wire_code=code, wire_type=kind)


# ---- errors the relay makes itself (bad JSON, unknown route, guards) ----------------------

_ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    421: "invalid_request_error",
    429: "rate_limit_error",
    500: "api_error",
    501: "api_error",
    502: "api_error",
    504: "timeout_error",
}
_OPENAI_TYPES = {
    400: ("invalid_request_error", "invalid_request"),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("permission_error", "permission_denied"),
    404: ("invalid_request_error", "not_found"),
    413: ("invalid_request_error", "request_too_large"),
    421: ("invalid_request_error", "misdirected_request"),
    500: ("server_error", "internal_error"),
    501: ("server_error", "not_implemented"),
    502: ("server_error", "upstream_unreachable"),
    504: ("server_error", "timeout"),
}


def anthropic_relay_body(status: int, message: str, code: str | None = None) -> dict[str, Any]:
    kind = _ANTHROPIC_TYPES.get(status, "invalid_request_error" if status < 500 else "api_error")
    return {"type": "error", "error": {"type": kind, "message": message}}


def openai_relay_body(status: int, message: str, code: str | None = None) -> dict[str, Any]:
    kind, default_code = _OPENAI_TYPES.get(
        status,
        ("invalid_request_error", "invalid_request") if status < 500 else ("server_error", None),
    )
    return {
        "error": {"message": message, "type": kind, "param": None, "code": code or default_code}
    }


# ---- the last event of a stream the relay ends because it is stopping --------------------


def _anthropic_stopped(message: str) -> WireEvent:
    return "error", {"type": "error", "error": {"type": "api_error", "message": message}}


def _chat_stopped(message: str) -> WireEvent:
    return None, {"error": {"message": message, "type": "server_error", "code": "relay_stopped"}}


def _responses_stopped(message: str) -> WireEvent:
    response = {
        "id": "resp_relay_stopped",
        "object": "response",
        "status": "failed",
        "output": [],
        "error": {"code": "server_error", "message": message},
    }
    return "response.failed", {"type": "response.failed", "response": response}


def _chat_error_event(exc: KimrelError) -> WireEvent:
    return None, openai_error_chunk(exc)


def _responses_error_event(exc: KimrelError) -> WireEvent:
    code, message = responses_failure(exc)
    error = {"code": code, "message": message}
    response = {"object": "response", "status": "failed", "output": [], "error": error}
    return "response.failed", {"type": "response.failed", "response": response}


@dataclass(frozen=True)
class ErrorWire:
    """How one client protocol says an error; a new protocol is one row of `ERROR_WIRE`."""

    answer: Callable[[KimrelError], tuple[int, dict[str, Any], dict[str, str]]]  # HTTP answer
    relay_body: Callable[[int, str, str | None], dict[str, Any]]  # an error the relay makes
    stream_event: Callable[[KimrelError], WireEvent]  # ends a stream that has begun
    stopped_event: Callable[[str], WireEvent]  # ends a stream when the relay stops


ERROR_WIRE: dict[ClientProtocol, ErrorWire] = {
    ClientProtocol.ANTHROPIC: ErrorWire(
        anthropic_error, anthropic_relay_body, anthropic_error_event, _anthropic_stopped
    ),
    ClientProtocol.CHAT: ErrorWire(
        openai_error, openai_relay_body, _chat_error_event, _chat_stopped
    ),
    ClientProtocol.RESPONSES: ErrorWire(
        openai_error, openai_relay_body, _responses_error_event, _responses_stopped
    ),
}
