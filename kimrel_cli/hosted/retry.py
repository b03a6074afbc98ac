"""Which failures are safe to retry, and how long to wait: pure, randomness passed in."""

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

    def delay(
        self, attempt: int, *, retry_after: float | None, random: Callable[[], float]
    ) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.maximum)
        ceiling = min(self.maximum, self.base * (2**attempt))
        return ceiling * (0.5 + random() / 2)
