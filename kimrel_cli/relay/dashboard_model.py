"""The live dashboard's figures: request records and balance readings in, totals and windows out.

Pure: no rich, no clock, no threads. `DashboardState` is fed `RequestRecord`s and balance
readings by the request log's thread; the render functions in `dashboard.py` read it. Windows are
rolling, by the records' own wall-clock times and a `now` passed in: the last 60 seconds exactly,
the last hour and day from one counter per minute (at most 1,440 of them).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from kimrel_cli.catalogue import Tier, credits_for
from kimrel_cli.hosted.ratelimit import tier_shown

ABORTED_STATUS = 499  # relay/context.py's status for a stream cut short (not charged)
MODEL_ARROW = " → "  # shared.logged_model: `claude-opus-4-5 → kimi-k2.5`


@dataclass(frozen=True)
class RequestRecord:
    """One finished request, as the request log and the dashboard show it.

    The fields after `error` are optional and filled where known: `client` (a family from
    usage/attribution.py's CLIENTS), `credits_charged` (what the request really cost, from the
    API's figures; None: unknown, the dashboard then uses the price table) and `account`.
    """

    time: float
    route: str
    model: str | None
    status: int
    tokens_in: int | None
    tokens_out: int | None
    latency_ms: float
    credits_left: int | None
    stream: bool = False
    error: str | None = None
    client: str | None = None
    credits_charged: int | None = None
    account: str | None = None


def upstream_model(model: str | None) -> str | None:
    """The model that ran: `claude-opus-4-5 → kimi-k2.5` gives `kimi-k2.5`."""
    if model is None:
        return None
    return model.rsplit(MODEL_ARROW, 1)[-1]


def charge(rec: RequestRecord) -> tuple[int, bool]:
    """(credits the request cost, whether that is the price table's estimate).

    The record's own `credits_charged` wins. Without it: a successful model request costs its
    model's price; failures, aborted streams and requests with no model cost nothing (the API
    bills completed answers only).
    """
    if rec.credits_charged is not None:
        return rec.credits_charged, False
    model = upstream_model(rec.model)
    if model is None or not 200 <= rec.status < 300 or rec.status == ABORTED_STATUS:
        return 0, False
    return credits_for(model), True


@dataclass
class Tally:
    """Requests, errors and credits for one group (a model, a client, or everything)."""

    requests: int = 0
    errors: int = 0
    credits: int = 0
    estimated: bool = False  # some of `credits` came from the price table

    def add(self, rec: RequestRecord) -> None:
        self.requests += 1
        if rec.status >= 400:
            self.errors += 1
        cost, estimated = charge(rec)
        self.credits += cost
        self.estimated = self.estimated or (estimated and cost > 0)


@dataclass(frozen=True)
class Rates:
    """Model requests in the rolling windows, and the tier the balance gives (None: unknown)."""

    per_minute: int
    per_hour: int
    per_day: int
    tier: Tier | None


@dataclass
class DashboardState:
    """Everything the live panel shows, accumulated from records and balance readings."""

    started: float  # wall-clock time the relay started
    recent_size: int = 50
    balance: int | None = None
    balance_start: int | None = None
    total: Tally = field(default_factory=Tally)
    by_model: dict[str, Tally] = field(default_factory=dict)
    by_client: dict[str, Tally] = field(default_factory=dict)
    recent: deque[RequestRecord] = field(init=False)
    _minute: deque[float] = field(default_factory=deque)  # times of model requests, last 60 s
    _buckets: dict[int, int] = field(default_factory=dict)  # minute number → model requests

    def __post_init__(self) -> None:
        self.recent = deque(maxlen=self.recent_size)

    def note_balance(self, credits: int | None) -> None:
        """A balance reading (the log's figure, or the relay's own on a refresh)."""
        if credits is None:
            return
        if self.balance_start is None:
            self.balance_start = credits
        self.balance = credits

    def add(self, rec: RequestRecord) -> None:
        """One finished request."""
        self.recent.append(rec)
        self.total.add(rec)
        self.by_client.setdefault(rec.client or "unknown", Tally()).add(rec)
        model = upstream_model(rec.model)
        if model is not None:  # sent (or meant) upstream: counts against the rate limit
            self.by_model.setdefault(model, Tally()).add(rec)
            self._minute.append(rec.time)
            minute = int(rec.time // 60)
            self._buckets[minute] = self._buckets.get(minute, 0) + 1
            self._prune(rec.time)
        self.note_balance(rec.credits_left)

    @property
    def change(self) -> int | None:
        """How far the balance moved since the first reading (negative: spent)."""
        if self.balance is None or self.balance_start is None:
            return None
        return self.balance - self.balance_start

    def rates(self, now: float) -> Rates:
        """Model requests in the last minute, hour and day, and the balance's tier."""
        self._prune(now)
        minute = int(now // 60)
        per_hour = sum(n for m, n in self._buckets.items() if m > minute - 60)
        per_day = sum(self._buckets.values())
        tier = None if self.balance is None else tier_shown(self.balance)
        return Rates(
            per_minute=sum(1 for t in self._minute if t > now - 60),
            per_hour=per_hour,
            per_day=per_day,
            tier=tier,
        )

    def _prune(self, now: float) -> None:
        while self._minute and self._minute[0] <= now - 60:
            self._minute.popleft()
        oldest = int(now // 60) - 24 * 60
        for m in [m for m in self._buckets if m <= oldest]:
            del self._buckets[m]

    def top(self, groups: dict[str, Tally], n: int) -> list[tuple[str, Tally]]:
        """The `n` groups with the most credits, then requests; the rest summed as "other"."""
        ranked = sorted(groups.items(), key=lambda kv: (-kv[1].credits, -kv[1].requests, kv[0]))
        if len(ranked) <= n:
            return ranked
        rest = Tally()
        for _, tally in ranked[n - 1 :]:
            rest.requests += tally.requests
            rest.errors += tally.errors
            rest.credits += tally.credits
            rest.estimated = rest.estimated or tally.estimated
        return [*ranked[: n - 1], (f"{len(ranked) - n + 1} others", rest)]


@dataclass(frozen=True)
class DashboardHeader:
    """The panel's first line: where the relay listens, where it forwards, whose credits."""

    url: str
    upstream: str
    who: str  # the account, "KIMREL_API_KEY", or "simulator (no account needed)"


@dataclass(frozen=True)
class Pacing:
    """The rate-limit pacer's state, read from `ctx.pacer.snapshot()` when a pacer exists."""

    waiting: bool = False
    queued: int = 0
    resets_in: float | None = None


def pacing_from(snapshot: object) -> Pacing | None:
    """A Pacing from whatever the pacer's `snapshot()` returned (a dict), or None if unusable."""
    if not isinstance(snapshot, dict):
        return None
    queued = snapshot.get("queued")
    resets = snapshot.get("resets_in")
    return Pacing(
        waiting=bool(snapshot.get("waiting")),
        queued=queued if isinstance(queued, int) and not isinstance(queued, bool) else 0,
        resets_in=float(resets) if isinstance(resets, (int, float)) else None,
    )


def pacing_text(pacing: Pacing | None) -> str | None:
    """`waiting for rate limit, 2 queued, resets in 12 s`, or None when nothing is held."""
    if pacing is None or not (pacing.waiting or pacing.queued):
        return None
    text = f"waiting for rate limit, {pacing.queued} queued"
    if pacing.resets_in is not None:
        text += f", resets in {max(0, round(pacing.resets_in))} s"
    return text


def budget_lines(snapshot: object) -> list[str]:
    """One line per budget from whatever `ctx.budgets.snapshot()` returned; tolerant of shape.

    A dict of name → {used, limit} or a list of {name, used, limit} dicts give
    `daily: 120/200 credits`; strings pass through; anything else is left out.
    """
    items: list[tuple[str | None, object]]
    if isinstance(snapshot, dict):
        items = [(str(k), v) for k, v in snapshot.items()]
    elif isinstance(snapshot, (list, tuple)):
        items = [(None, v) for v in snapshot]
    else:
        return []
    lines: list[str] = []
    for name, value in items:
        if isinstance(value, str):
            lines.append(f"{name}: {value}" if name else value)
        elif isinstance(value, dict):
            label = name or value.get("name") or value.get("scope") or "budget"
            used, limit = value.get("used"), value.get("limit")
            if isinstance(used, (int, float)) and isinstance(limit, (int, float)):
                lines.append(f"{label}: {used:,.0f}/{limit:,.0f} credits")
            elif isinstance(used, (int, float)):
                lines.append(f"{label}: {used:,.0f} credits")
    return lines
