"""Which failures are safe to retry, and how long to wait: pure, randomness passed in.

Retries happen in one place: the hosted client. When it gives up on a retryable failure it marks
the error `final`, and the relay tells its client not to retry (`x-should-retry: false`, or a
Responses `response.failed` code Codex does not retry), so relay and client retries never
multiply. A server that asks for a wait longer than `max_wait` is not waited for: the error is
reported at once with the wait in its message.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kimrel_cli.errors import InsufficientCredits, KimrelError, UpstreamError, UpstreamUnavailable

RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504, 529})


def is_retryable(error: KimrelError) -> bool:
    """429, 5xx and connection failures are retried; credits, auth and bad requests are not."""
    if isinstance(error, InsufficientCredits):
        return False
    if isinstance(error, UpstreamUnavailable):
        return True
    if isinstance(error, UpstreamError):
        return error.status in RETRYABLE_STATUSES
    return False


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter, capped; a server-given wait wins (also capped)."""

    base: float = 0.5
    maximum: float = 30.0
    max_wait: float = 10.0  # a Retry-After above this is reported, not waited for

    def delay(
        self, attempt: int, *, retry_after: float | None, random: Callable[[], float]
    ) -> float | None:
        """Seconds before retry number `attempt`, or None when the server's wait is too long."""
        if retry_after is not None:
            if retry_after > self.max_wait:
                return None
            return min(max(retry_after, 0.0), self.maximum)
        ceiling = min(self.maximum, self.base * (2.0**attempt))
        return ceiling * (0.5 + random() / 2)
