"""Credits per key and rate-limit windows per the credit-balance tiers (catalogue.TIERS)."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from kimrel_cli.catalogue import Tier, tier_for

WINDOWS = (("minute", 60.0), ("hour", 3600.0), ("day", 86400.0))


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    limit: int
    remaining: int
    reset: int  # epoch seconds
    retry_after: float


class Ledger:
    """Balances and request history per key; thread-safe."""

    def __init__(
        self,
        keys: dict[str, int],
        *,
        window_scale: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.balances = dict(keys)
        self.used: dict[str, int] = dict.fromkeys(keys, 0)
        self.held: dict[str, int] = dict.fromkeys(keys, 0)  # promised to streams in flight
        self.window_scale = window_scale
        self._clock = clock
        self._history: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def known(self, key: str | None) -> bool:
        return key is not None and key in self.balances

    def balance(self, key: str) -> int:
        return self.balances[key]

    def tier(self, key: str) -> Tier:
        return tier_for(self.balances[key])

    def available(self, key: str) -> int:
        """The balance less what streams in flight may still be charged."""
        with self._lock:
            return self.balances[key] - self.held.get(key, 0)

    def hold(self, key: str, credits: int) -> bool:
        """Promise `credits` to a stream if the balance covers them (else False): concurrent
        streams can never take a balance below zero."""
        with self._lock:
            if self.balances[key] - self.held.get(key, 0) < credits:
                return False
            self.held[key] = self.held.get(key, 0) + credits
            return True

    def settle(self, key: str, credits: int) -> int:
        """A held stream completed: charge what it held."""
        with self._lock:
            self.held[key] = self.held.get(key, 0) - credits
            self.balances[key] -= credits
            self.used[key] += credits
            return self.balances[key]

    def release(self, key: str, credits: int) -> None:
        """A held stream ended without completing (dropped, client gone): it costs nothing."""
        with self._lock:
            self.held[key] = self.held.get(key, 0) - credits

    def charge(self, key: str, credits: int) -> int:
        with self._lock:
            self.balances[key] -= credits
            self.used[key] += credits
            return self.balances[key]

    def _limits(self, tier: Tier) -> list[tuple[float, int]]:
        per = {"minute": tier.per_minute, "hour": tier.per_hour, "day": tier.per_day}
        return [(seconds * self.window_scale, per[name]) for name, seconds in WINDOWS]

    def admit(self, key: str) -> RateDecision:
        """Count one request against the key's tier; refuse it when any window is full."""
        now = self._clock()
        tier = self.tier(key)
        limits = self._limits(tier)
        with self._lock:
            history = self._history.setdefault(key, deque())
            longest = limits[-1][0]
            while history and history[0] <= now - longest:
                history.popleft()
            for window, limit in limits:
                in_window = [t for t in history if t > now - window]
                if len(in_window) >= limit:
                    wait = in_window[0] + window - now
                    minute_window, minute_limit = limits[0]
                    return RateDecision(
                        False, minute_limit, 0, math.ceil(now + wait), max(wait, 0.0)
                    )
            history.append(now)
            minute_window, minute_limit = limits[0]
            in_minute = [t for t in history if t > now - minute_window]
            reset = math.ceil((in_minute[0] if in_minute else now) + minute_window)
            return RateDecision(
                True, minute_limit, max(0, minute_limit - len(in_minute)), reset, 0.0
            )

    def peek(self, key: str) -> RateDecision:
        now = self._clock()
        limits = self._limits(self.tier(key))
        minute_window, minute_limit = limits[0]
        with self._lock:
            in_minute = [t for t in self._history.get(key, ()) if t > now - minute_window]
        reset = math.ceil((in_minute[0] if in_minute else now) + minute_window)
        return RateDecision(True, minute_limit, max(0, minute_limit - len(in_minute)), reset, 0.0)
