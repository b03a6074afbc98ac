"""Hosted-API error answers (status + OpenAI- or Anthropic-shaped body) → typed KimrelErrors.

One table decides the class; the messages say what to do next. No message contains a key.
Both documented body shapes are read:
  OpenAI:    {"error": {"message", "type", "code"}}
  Anthropic: {"type": "error", "error": {"type", "message"}}
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any

from kimrel_cli.errors import (
    BadRequest,
    InsufficientCredits,
    InvalidKey,
    NotFound,
    PermissionDenied,
    RateLimited,
    ServerError,
    UpstreamError,
)
from kimrel_cli.hosted.ratelimit import RateInfo
from kimrel_cli.protocols.errors import WIRE_CODES

BUY_CREDITS_URL = "https://kimrel.com/my-credits"

_CONTEXT_WORDS = re.compile(r"context (window|length)|prompt is too long", re.IGNORECASE)

_CREDIT_CODES = frozenset({"insufficient_credits", "insufficient_quota", "billing_error"})

# wire code or type → class, checked before the status table (one inbound table for both
# directions of the relay: protocols/errors.WIRE_CODES)
_BY_CODE: dict[str, type[UpstreamError]] = {code: cls for code, (cls, _) in WIRE_CODES.items()}

_BY_STATUS: dict[int, type[UpstreamError]] = {
    401: InvalidKey,
    402: InsufficientCredits,
    403: PermissionDenied,
    404: NotFound,
    429: RateLimited,
}


def parse_error_body(body: Any) -> tuple[str | None, str | None, str | None]:
    """(message, code, type) from either documented error shape; Nones when absent."""
    if not isinstance(body, Mapping):
        return None, None, None
    error = body.get("error")
    if isinstance(error, Mapping):
        message = error.get("message")
        code = error.get("code")
        kind = error.get("type")
        return (
            str(message) if message is not None else None,
            str(code) if code is not None else None,
            str(kind) if kind is not None else None,
        )
    if isinstance(error, str):
        return error, None, None
    message = body.get("message") or body.get("detail")
    return (str(message) if message else None), None, None


def retry_after_seconds(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait per Retry-After (seconds or HTTP date), else X-RateLimit-Reset (epoch)."""
    lower = {k.lower(): v for k, v in headers.items()}
    now = time.time() if now is None else now
    raw = lower.get("retry-after-ms")
    if raw:
        try:
            return max(0.0, float(raw) / 1000)
        except ValueError:
            pass
    raw = lower.get("retry-after")
    if raw:
        try:
            return max(0.0, float(raw))
        except ValueError:
            from email.utils import parsedate_to_datetime

            try:
                return max(0.0, parsedate_to_datetime(raw).timestamp() - now)
            except (TypeError, ValueError):
                pass
    reset = RateInfo.from_headers(lower).reset
    if reset is not None:
        return max(0.0, reset - now)
    return None


def _rate_limit_wait(headers: Mapping[str, str], rate: RateInfo) -> float | None:
    """The wait a 429 asks for; None (back off briefly) when it names none and the window has room.

    X-RateLimit-Reset is when the whole minute window resets: a 429 without Retry-After while
    X-RateLimit-Remaining is above 0 is not the window being full, so it is not worth that wait.
    """
    lower = {k.lower() for k in headers}
    if "retry-after" not in lower and "retry-after-ms" not in lower and (rate.remaining or 0) > 0:
        return None
    return retry_after_seconds(headers)


def classify(status: int, code: str | None, kind: str | None) -> type[UpstreamError]:
    for name in (code, kind):
        if name and name in _BY_CODE:
            cls = _BY_CODE[name]
            if cls is ServerError and status < 500:
                continue
            return cls
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    if status >= 500:
        return ServerError
    return BadRequest


def _credits_text(message: str, balance: int | None) -> tuple[str, str]:
    """Say the balance once; offer a cheaper model only when some model is still affordable."""
    if balance is None:
        text = "not enough credits"
    elif balance <= 0:
        text = "out of credits: the balance is 0"
    else:
        text = f"not enough credits for this model: the balance is {balance}"
    if "credit" not in message.lower():  # the API's own words add something; else say it once
        text += f" ({message})"
    hint = f"Buy credits at {BUY_CREDITS_URL}"
    if balance is not None and balance > 0:
        unit = "credit" if balance == 1 else "credits"
        hint += f", or use a model that costs at most {balance} {unit} a request (`kimrel models`)"
    return text, hint + "."


def _describe(
    cls: type[UpstreamError], message: str, rate: RateInfo, wait: float | None
) -> tuple[str, str | None]:
    if cls is InvalidKey:
        return (
            f"the API key was refused ({message})",
            "Check the key, or run `kimrel login` to store a new one.",
        )
    if cls is InsufficientCredits:
        return _credits_text(message, rate.credits_remaining)
    if cls is RateLimited:
        limits = "requests per minute depend on your credit balance (`kimrel credits`)"
        if wait is not None:
            return f"rate limited: the limit resets in {wait:.0f} s ({message})", limits[
                0
            ].upper() + limits[1:] + "."
        return f"rate limited ({message})", f"Wait a minute and try again; {limits}."
    if cls is NotFound:
        return message, "See the available models with `kimrel models`."
    if cls is ServerError:
        return f"the API failed: {message}", "This is on the server's side; try again shortly."
    return message, None


def error_from_response(
    status: int, body: Any, headers: Mapping[str, str], secrets: tuple[Any, ...] = ()
) -> UpstreamError:
    """The typed exception for one error answer of the hosted API.

    The API's message is redacted (apikey.redact): an upstream that echoes the key, or any
    `sk-…` string, never reaches the client or the log through it. `secrets`: the key in use.
    """
    from kimrel_cli.apikey import redact

    message, code, kind = parse_error_body(body)
    if message is not None:
        message = redact(message, *secrets)
    if code is None and status in (400, 413) and _CONTEXT_WORDS.search(message or ""):
        code = "context_length_exceeded"  # Anthropic-shaped bodies carry no code
    cls = classify(status, code, kind)
    if cls is PermissionDenied and (
        code in _CREDIT_CODES or kind in _CREDIT_CODES or "credit" in (message or "").lower()
    ):
        cls = InsufficientCredits
    rate = RateInfo.from_headers(headers)
    wait = _rate_limit_wait(headers, rate) if cls is RateLimited else None
    raw = message or f"HTTP {status}"
    hint: str | None
    if code == "context_length_exceeded":
        text, hint = (
            raw,
            "Shorten the conversation or the input, or use a model with a larger context window.",
        )
    elif code == "encoded_image_too_large":
        text, hint = (
            raw,
            "Images may be at most 6 MB (8 MB once base64-encoded); send a smaller one.",
        )
    else:
        text, hint = _describe(cls, raw, rate, wait)
    return cls(
        text,
        status=status,
        wire_code=code,
        wire_type=kind,
        hint=hint,
        retry_after=wait,
        credits_remaining=rate.credits_remaining,
    )
