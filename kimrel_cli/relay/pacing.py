"""Rate-limit pacing: hold requests while the account's rate-limit window is full and release
them in order when it resets, instead of forwarding them into a 429.

`PaceState` is the pure part (the clock is passed in): what the headers and the tier say about
the windows, how many requests went out and are still in flight, and how long until one more
may go. `Pacer` adds the asyncio side: a FIFO queue of waiters, the bounded wait
(`relay.pace_max_wait`; 0 turns holding off), the log line when pacing starts and ends, and
`snapshot()` for the dashboard and the status line.

What the hosted API's headers describe (the simulator, simulator/accounting.py, does the same):
`X-RateLimit-Limit` is the tier's per-minute limit, `X-RateLimit-Remaining` what is left in the
minute window once the request just answered was counted, `X-RateLimit-Reset` the epoch second
at which the oldest request in the window leaves it (a sliding window, rounded up to the second;
the simulator's `rate_window_scale` shortens it). A 429 for the hour or day window carries
Remaining 0 and a Retry-After up to the end of that window. The hour and day limits come only
from the tier (`catalogue.tier_for` of the balance the `X-Credits-Remaining` header reports,
the same table `/api/user/credits` answers as `limits`) and are counted here.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
import logging
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from kimrel_cli.catalogue import TIERS, Tier, tier_for
from kimrel_cli.errors import RateLimited

logger = logging.getLogger("kimrel.relay")

MINUTE = 60.0
LONG_WINDOWS = (("hour", 3600.0), ("day", 86400.0))
RESET_GUARD = 0.25  # seconds past a reset before the window counts as free (clock skew, rounding)
DEFAULT_LIMIT = TIERS[0].per_minute  # before any header or balance is known: the lowest tier
# the hour and day waits need only the newest `limit` release times: keep no more than the
# largest day's limit (32 bytes each: 3.2 MB at most, however hard a client hammers)
HISTORY_MAX = max(tier.per_day for tier in TIERS)

# A request the pipeline already admitted while it held the client's stream open: its seq.
# `Pacer.slot` takes it instead of queueing the same request a second time.
ADMITTED: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "kimrel_pace_admitted", default=None
)


@dataclass
class PaceState:
    """One account's rate-limit windows as the relay sees them; pure, times in epoch seconds.

    Two counts must both leave room in the minute window:
    - the relay's own: every request in flight, and every answered one until `window` seconds
      after its answer came. The API counted it at some moment between sending and answer, so
      counting from the answer never lets one leave the count before it left the API's window,
      however long requests wait to be admitted under load.
    - the freshest answer's Remaining, less the requests released after that answer's request,
      until that answer's Reset.
    `window` is 60 s until an answer shows the real length: a request alone in its window has
    its Reset one window after it was admitted (rounded up), so Reset minus the time it was sent
    is at least the window; that is how a scaled simulator's short "minute" is learned.
    """

    header_limit: int | None = None  # X-RateLimit-Limit, the per-minute limit
    tier: Tier | None = None  # from the balance: the per-minute default, the hour and day limits
    window: float = MINUTE  # the minute window's length (learned from the headers) …
    window_learned: bool = False  # … or still the documented 60 s, a guess
    released: int = 0  # every request released so far: the last one's seq
    header_remaining: int | None = None  # X-RateLimit-Remaining of the freshest answer …
    header_seq: int = 0  # … the seq of the request it answered …
    header_reset: float | None = None  # … and its X-RateLimit-Reset
    blocked_until: float | None = None  # a 429 said: nothing until then (any window)
    # the relay's own count for the minute window: seqs in flight, and the answer times of the
    # requests answered less than `window` ago (oldest first: they leave from the left)
    flying: set[int] = field(default_factory=set)
    answered: deque[float] = field(default_factory=deque)
    sent_at: dict[int, float] = field(default_factory=dict)  # seq → released at, until answered
    history: deque[float] = field(default_factory=lambda: deque(maxlen=HISTORY_MAX))
    # release times: the last day's, at most HISTORY_MAX

    @property
    def limit(self) -> int:
        if self.header_limit:
            return self.header_limit
        if self.tier is not None and self.tier.per_minute > 0:
            return self.tier.per_minute
        return DEFAULT_LIMIT

    @property
    def in_flight(self) -> int:
        return len(self.flying)

    @property
    def counted(self) -> int:
        """Requests the minute window holds by the relay's own count."""
        return len(self.flying) + len(self.answered)

    def _roll(self, now: float) -> None:
        if self.header_reset is not None and now >= self.header_reset + RESET_GUARD:
            self.header_remaining = self.header_reset = None
        if self.blocked_until is not None and now >= self.blocked_until + RESET_GUARD:
            self.blocked_until = None
        answered, edge = self.answered, now - self.window
        while answered and answered[0] <= edge:
            answered.popleft()
        while self.history and self.history[0] <= now - LONG_WINDOWS[-1][1]:
            self.history.popleft()

    def _header_left(self) -> int | None:
        if self.header_remaining is None:
            return None
        # requests released after the one the header answered may not be counted in it yet
        return self.header_remaining - (self.released - self.header_seq)

    def remaining(self, now: float) -> int:
        """How many more requests the minute window takes now (never below 0)."""
        self._roll(now)
        left = self.limit - self.counted
        header = self._header_left()
        if header is not None:
            left = min(left, header)
        return max(0, left)

    def _long_limits(self) -> list[tuple[float, int]]:
        if self.tier is None or self.tier.per_hour <= 0:
            return []
        per = {"hour": self.tier.per_hour, "day": self.tier.per_day}
        return [(length, per[name]) for name, length in LONG_WINDOWS]

    def _minute_wait(self, now: float, sure: bool) -> float:
        must_leave = self.counted - self.limit + 1
        if must_leave <= 0:
            return 0.0
        if must_leave <= len(self.answered) and (self.window_learned or not sure):
            return self.answered[must_leave - 1] + self.window + RESET_GUARD - now
        # too many still in flight: at least a window after their answers (which wake us)
        return 0.0 if sure else self.window + RESET_GUARD

    def wait(self, now: float, *, sure: bool = False) -> float:
        """Seconds until one more request may go (0: now). `sure`: only what is known (a 429,
        Remaining 0, a learned window), not a guess of the window's length or of when answers
        come: the wait a request is refused for at once."""
        self._roll(now)
        waits = [0.0, self._minute_wait(now, sure)]
        if self.blocked_until is not None:
            waits.append(self.blocked_until + RESET_GUARD - now)
        header = self._header_left()
        if header is not None and header <= 0 and self.header_reset is not None:
            waits.append(self.header_reset + RESET_GUARD - now)
        for length, limit in self._long_limits():
            if len(self.history) < limit:
                continue  # a day's releases cannot fill it
            # release times only grow: the window holds `limit` of them exactly when the
            # limit-th newest is still in it; wait until that one has left (no scan)
            oldest_needed = self.history[-limit]
            if oldest_needed > now - length:
                waits.append(oldest_needed + length + RESET_GUARD - now)
        return max(waits)

    def resets_in(self, now: float) -> float | None:
        """Seconds until the minute window frees a place, or until the hold ends (None: the
        window is empty)."""
        wait = self.wait(now)
        if wait > 0:
            return wait
        if self.header_reset is not None:
            return max(0.0, self.header_reset - now)
        return self.answered[0] + self.window - now if self.answered else None

    def release(self, now: float) -> int:
        """One request goes upstream now; returns its seq (for `observe` and `finish`)."""
        self._roll(now)
        self.released += 1
        self.flying.add(self.released)
        self.sent_at[self.released] = now
        if len(self.sent_at) > 4096:  # answers whose headers never came (errors)
            for old in sorted(self.sent_at)[:2048]:
                del self.sent_at[old]
        self.history.append(now)
        return self.released

    def finish(self, seq: int, now: float) -> None:
        """The request `seq` is over (answered, failed or never sent): counted until `window`
        seconds after its answer, or after now when no answer was observed."""
        if seq in self.flying:
            self.flying.discard(seq)
            # kept in order even if the clock steps back: such an answer leaves a little late
            self.answered.append(max(now, self.answered[-1]) if self.answered else now)

    def observe(
        self,
        seq: int | None,
        *,
        limit: int | None,
        remaining: int | None,
        reset: float | None,
        now: float,
    ) -> None:
        """An answer's X-RateLimit-* headers (`seq` None: a request that was not counted)."""
        self._roll(now)
        if seq is not None:
            self.finish(seq, now)  # the API counted it by now
        if limit is not None and limit > 0:
            self.header_limit = limit
        if remaining is None or reset is None or reset <= now:
            return  # nothing said, or a window that has already reset
        sent = self.sent_at.pop(seq, None) if seq is not None else None
        if sent is not None and remaining == self.limit - 1:
            # alone in its window: Reset is one window after it was admitted, rounded up
            self.window = min(max(reset - sent, 0.5), 2 * MINUTE)
            self.window_learned = True
        if seq is None:
            seq = self.released  # the freshest possible: it cannot know of later releases
        if seq < self.header_seq:
            return  # an older request's view; a fresher answer was already taken
        self.header_remaining = remaining
        self.header_seq = seq
        self.header_reset = float(reset)

    def limited(self, retry_after: float | None, now: float) -> None:
        """A 429 came back anyway (another client of the same key, a window we do not count)."""
        until = now + (retry_after if retry_after is not None and retry_after > 0 else 1.0)
        self.blocked_until = max(self.blocked_until or until, until)


def _seconds(value: float) -> str:
    return f"{math.ceil(value)} s"


class Pacer:
    """The relay's one pacer (one account per relay): hold, release in order, refuse past the
    bounded wait. Every method but `snapshot` runs on the server's event loop."""

    def __init__(
        self,
        *,
        max_wait: Callable[[], float],
        credits: Callable[[], int | None] = lambda: None,
        clock: Callable[[], float] = time.time,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.state = PaceState()
        self._max_wait = max_wait
        self._credits = credits
        self._clock = clock
        self._log = log
        self._queue: deque[object] = deque()
        self._changed = asyncio.Event()
        self._held_since: float | None = None
        self._held_count = 0
        self.held_total = 0  # requests ever held (tests, dashboard)
        self.refused_total = 0  # requests answered 429 by the pacer

    # ---- what the dashboard and the status line read ------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """Whether requests are held, how many, seconds until the window frees a place, the
        per-minute limit and the places left. Safe from any thread: it reads a copy (each
        container copied in one step under the GIL) and changes nothing."""
        now = self._clock()
        live = self.state
        state = dataclasses.replace(
            live,
            flying=set(live.flying),
            answered=deque(live.answered),
            sent_at={},
            history=deque(live.history),
        )
        credits = self._credits()
        if credits is not None and credits >= 1:
            state.tier = tier_for(credits)
        queued = len(self._queue)
        resets = state.resets_in(now)
        return {
            "waiting": queued > 0,
            "queued": queued,
            "resets_in": None if resets is None else round(resets, 1),
            "limit": state.limit,
            "remaining": state.remaining(now),
        }

    # ---- the request path -----------------------------------------------------------------------
    def would_hold(self) -> bool:
        """Whether a request arriving now would wait; raises RateLimited when the wait is past
        the bound (the caller answers 429 at once)."""
        bound = self._bound()
        if bound <= 0:
            return False
        now = self._clock()
        self._update_tier()
        sure = self.state.wait(now, sure=True)
        if sure > bound:
            raise self._refusal(sure, held=0.0)
        return bool(self._queue) or self.state.wait(now) > 0

    async def acquire(self) -> int:
        """Wait for this request's turn (FIFO) and release it; its seq. RateLimited when the
        window does not reset within `relay.pace_max_wait` seconds."""
        admitted = ADMITTED.get()
        if admitted is not None:
            ADMITTED.set(None)
            return admitted
        bound = self._bound()
        now = self._clock()
        self._update_tier()
        wait = self.state.wait(now)
        if bound <= 0 or (not self._queue and wait <= 0):
            return self.state.release(now)
        sure = self.state.wait(now, sure=True)
        if sure > bound:
            raise self._refusal(sure, held=0.0)
        me = object()
        self._queue.append(me)
        self._started_holding(now, wait)
        deadline = now + bound
        try:
            while True:
                now = self._clock()
                wait = self.state.wait(now)
                if self._queue[0] is me and wait <= 0:
                    self._queue.popleft()
                    return self.state.release(now)
                if now >= deadline:
                    raise self._refusal(max(wait, 1.0), held=now - (deadline - bound))
                timeout = deadline - now if wait <= 0 else min(wait, deadline - now)
                event = self._changed
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(event.wait(), max(timeout, 0.001))
        finally:
            if me in self._queue:
                self._queue.remove(me)
            self._wake()
            if not self._queue:
                self._stopped_holding()

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[int]:
        """One upstream request: acquired before, finished after; a 429 it met is noted."""
        seq = await self.acquire()
        try:
            yield seq
        except RateLimited as exc:
            self.state.limited(exc.retry_after, self._clock())
            raise
        finally:
            self.state.finish(seq, self._clock())
            self._wake()

    def drop_admitted(self) -> None:
        """A request admitted by the pipeline (ADMITTED) that never went upstream: stop
        counting it as in flight."""
        seq = ADMITTED.get()
        if seq is not None:
            ADMITTED.set(None)
            self.state.finish(seq, self._clock())
            self._wake()

    def observe(self, seq: int | None, rate: Any) -> None:
        """An answer's rate headers (hosted.ratelimit.RateInfo, or anything with its fields)."""
        if rate is None:
            return
        self.state.observe(
            seq,
            limit=getattr(rate, "limit", None),
            remaining=getattr(rate, "remaining", None),
            reset=getattr(rate, "reset", None),
            now=self._clock(),
        )
        self._wake()

    # ---- inside ---------------------------------------------------------------------------------
    def _bound(self) -> float:
        try:
            return float(self._max_wait())
        except Exception:  # an invalid setting must not break the request path
            return 0.0

    def _update_tier(self) -> None:
        credits = self._credits()
        if credits is not None and credits >= 1:
            self.state.tier = tier_for(credits)

    def _wake(self) -> None:
        event, self._changed = self._changed, asyncio.Event()
        event.set()

    def _refusal(self, wait: float, *, held: float) -> RateLimited:
        self.refused_total += 1
        bound = self._bound()
        held_text = f"kimrel held the request {_seconds(held)}; " if held >= 1 else ""
        return RateLimited(
            f"rate limit reached ({self.state.limit} requests per minute): the window resets "
            f"in {_seconds(wait)}; {held_text}kimrel waits at most {bound:g} s "
            "(relay.pace_max_wait)",
            status=429,
            wire_code="rate_limit_exceeded",
            wire_type="rate_limit_error",
            hint="Wait and try again; the limits depend on the credit balance (`kimrel credits`)",
            retry_after=max(1.0, wait),
        )

    def _started_holding(self, now: float, wait: float) -> None:
        self.held_total += 1
        self._held_count += 1
        if self._held_since is not None:
            return
        self._held_since = now
        self._say(f"waiting for rate limit, {len(self._queue)} queued, resets in {_seconds(wait)}")

    def _stopped_holding(self) -> None:
        if self._held_since is None:
            return
        took = self._clock() - self._held_since
        count, self._held_count, self._held_since = self._held_count, 0, None
        self._say(f"rate limit wait over: {count} held, {took:.1f} s")

    def _say(self, text: str) -> None:
        logger.info(text)
        if self._log is not None:
            self._log(text)


async def admitted_with_pings(pacer: Pacer, interval: float) -> AsyncIterator[int | None]:
    """Wait for the pacer's release while a stream is open: None every `interval` seconds (the
    caller sends a keep-alive), then the seq once released. RateLimited past the bound."""
    task = asyncio.ensure_future(pacer.acquire())
    taken = False
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=interval)
            if task in done:
                taken = True
                yield task.result()
                return
            yield None
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        elif not taken and not task.cancelled() and task.exception() is None:
            pacer.state.finish(
                task.result(), pacer._clock()
            )  # released, but the client left before using it
