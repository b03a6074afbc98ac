"""The KimrelError tree: every failure kimrel reports, with words for the user.

```
KimrelError                  .message (what happened), .hint (what to do), .code (stable, kebab-case)
├── ConfigError              unreadable settings; invalid JSON/TOML with path, line, column
├── AccountError             unknown account, no usable keyring, key refused at login
├── SetupError               a tool's config file cannot be changed safely
├── UpstreamError            the hosted API said no: .status, .wire_code, .wire_type
│   ├── InvalidKey           401
│   ├── InsufficientCredits  403 insufficient_credits (.credits_remaining)
│   ├── PermissionDenied     403 other
│   ├── NotFound             404, model_not_found
│   ├── RateLimited          429 (.retry_after seconds)
│   ├── BadRequest           400 and other 4xx (context_length_exceeded, encoded_image_too_large, …)
│   └── ServerError          5xx
├── UpstreamUnavailable      connect error, timeout, broken or non-JSON answer (.timeout)
└── SpendLimitReached        a budget cap (`kimrel budget`) would be crossed: nothing was sent
```

Third-party exceptions are translated into these where they happen; `cli/app.py` is the one
place that prints them, and the relay renders them in the caller's wire protocol. No message
built here ever contains an API key.
"""

from __future__ import annotations


class KimrelError(Exception):
    """A failure with a message for the user, a hint on what to do, and a stable code."""

    code: str = "kimrel-error"
    exit_code: int = 1
    attempts: int = 1  # upstream requests made before this error was final (hosted client)
    final: bool = False  # True: kimrel already retried (or waiting is pointless); callers must not

    def __init__(self, message: str, *, hint: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return self.message


class ConfigError(KimrelError):
    """Settings or a tool's config file could not be read or parsed."""

    code = "config-error"

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        path: str | None = None,
        line: int | None = None,
        column: int | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint, code=code)
        self.path = path
        self.line = line
        self.column = column


class AccountError(KimrelError):
    """An account or key problem: unknown account, no keyring, key refused."""

    code = "account-error"


class SetupError(KimrelError):
    """A tool's configuration cannot be written or restored safely."""

    code = "setup-error"


class UpstreamError(KimrelError):
    """The hosted API answered with an error status."""

    code = "upstream-error"
    status: int = 500

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        wire_code: str | None = None,
        wire_type: str | None = None,
        hint: str | None = None,
        retry_after: float | None = None,
        credits_remaining: int | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint, code=code)
        if status is not None:
            self.status = status
        self.wire_code = wire_code
        self.wire_type = wire_type
        self.retry_after = retry_after
        self.credits_remaining = credits_remaining


class InvalidKey(UpstreamError):
    code = "invalid-key"
    status = 401


class InsufficientCredits(UpstreamError):
    code = "insufficient-credits"
    status = 403


class PermissionDenied(UpstreamError):
    code = "permission-denied"
    status = 403


class NotFound(UpstreamError):
    code = "not-found"
    status = 404


class RateLimited(UpstreamError):
    code = "rate-limited"
    status = 429


class BadRequest(UpstreamError):
    code = "bad-request"
    status = 400


class ServerError(UpstreamError):
    code = "server-error"
    status = 500


class UpstreamUnavailable(KimrelError):
    """The hosted API could not be reached, timed out, or answered with something unreadable."""

    code = "upstream-unavailable"

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        timeout: bool = False,
        code: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint, code=code)
        self.timeout = timeout


class SpendLimitReached(KimrelError):
    """A request would cross a spending cap (usage/budgets.py); it was not sent upstream.

    The message begins "spend limit reached" and names the cap and when it resets; clients are
    told not to retry (it will not pass before the reset or a raised cap).
    """

    code = "spend-limit"
    final = True

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        cap: str | None = None,
        resets_at: float | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.cap = cap
        self.resets_at = resets_at
