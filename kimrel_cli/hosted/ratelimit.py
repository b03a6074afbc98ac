"""Credit and rate-limit headers (X-Credits-Remaining, X-RateLimit-*) read into RateInfo, and
the tier a balance is shown with."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from kimrel_cli.catalogue import Tier, tier_for

# The documented tiers start at a balance of 1; an empty key can make no request at all.
NO_CREDITS_TIER = Tier("none", 0, 0, 0, 0)


def tier_shown(balance: int) -> Tier:
    """The tier to show for a balance: "none" (0 requests) below 1 credit, else the documented one."""
    return NO_CREDITS_TIER if balance < 1 else tier_for(balance)


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(float(value.strip()))
    except ValueError:
        return None


@dataclass(frozen=True)
class RateInfo:
    """What the hosted API said about the caller's credits and rate limit on one response."""

    credits_remaining: int | None = None
    limit: int | None = None
    remaining: int | None = None
    reset: int | None = None  # epoch seconds

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> RateInfo:
        lower = {k.lower(): v for k, v in headers.items()}
        return cls(
            credits_remaining=_int(lower.get("x-credits-remaining")),
            limit=_int(lower.get("x-ratelimit-limit")),
            remaining=_int(lower.get("x-ratelimit-remaining")),
            reset=_int(lower.get("x-ratelimit-reset")),
        )
