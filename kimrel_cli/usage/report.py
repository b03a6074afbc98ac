"""Usage reports: ledger rows in, totals, groups and the balance over time out (pure).

Everything here is a function of its arguments: rows come from `ledger.iter_rows`, the current
time and the time zone are passed in. `kimrel usage`, its HTML page and `kimrel credits` render
what these functions return; nothing here prints, opens files or reads the clock.

A request counts as an error when its status is 400 or more (499: a stream cut short) or it
carries an error code. Credits are the ledger's `credits_charged` (the price-table charge of a
request the API billed); the balance series is the `credits_after` the API reported.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

from kimrel_cli.usage.ledger import UsageRow

GROUPINGS = ("day", "hour", "model", "account", "client", "session", "project")
TOTAL_FIELDS = (
    "requests",
    "credits",
    "errors",
    "tokens_in",
    "tokens_out",
    "tokens_reasoning",
    "median_latency_ms",
)
NONE_LABEL = "(none)"  # how a group without a value (no session, no project…) reads

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(m|min|mins|h|hr|hrs|d|day|days|w|wk|wks)\s*$", re.I)
_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DATE_FORMATS = ("%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S")


class WhenError(ValueError):
    """A --since/--until/--before value that is neither a duration nor a date."""


# --- when -----------------------------------------------------------------------------------


def parse_when(text: str, *, now: datetime) -> datetime:
    """`90m`, `24h`, `7d`, `2w` (that long before `now`), `today`, or a date (`2026-11-01`,
    midnight in `now`'s time zone) or date and time (`2026-11-01T14:30`). `now` must be aware."""
    value = text.strip()
    if not value:
        raise WhenError("an empty time: use a duration such as 24h or 7d, or a date")
    if value.lower() == "now":
        return now
    if value.lower() == "today":
        return datetime.combine(now.date(), time(), now.tzinfo)
    found = _DURATION.match(value)
    if found:
        amount = float(found.group(1))
        seconds = amount * _UNIT_SECONDS[found.group(2)[0].lower()]
        try:
            return now - timedelta(seconds=seconds)
        except OverflowError:
            raise WhenError(f"{text!r} reaches back before year 1") from None
    for fmt in _DATE_FORMATS:
        try:
            parsed = datetime.strptime(value, fmt)
        except ValueError:
            continue
        return parsed.replace(tzinfo=now.tzinfo)
    raise WhenError(
        f"cannot read {text!r} as a time: use a duration such as 90m, 24h or 7d, "
        "or a date such as 2026-11-01 (or 2026-11-01T14:30)"
    )


def parse_window(
    since: str | None,
    until: str | None,
    *,
    now: datetime,
    default_span: timedelta | None = None,
) -> tuple[datetime | None, datetime | None]:
    """The [since, until) window of `--since`/`--until`. `since` "all" (or None without a
    `default_span`) is open; None with a `default_span` starts that long before the end (so
    `--until 30d` alone means the week before 30 days ago). `until` None is open (now)."""
    end = parse_when(until, now=now) if until is not None else None
    if since is None:
        start = (end or now) - default_span if default_span is not None else None
    elif since.strip().lower() == "all":
        start = None
    else:
        start = parse_when(since, now=now)
    if start is not None and end is not None and start >= end:
        raise WhenError(
            f"--since {since} ({start:%Y-%m-%d %H:%M}) is not before "
            f"--until {until} ({end:%Y-%m-%d %H:%M})"
        )
    return start, end


def day_start(now: datetime) -> datetime:
    """Midnight of `now`'s day, in its time zone."""
    return datetime.combine(now.date(), time(), now.tzinfo)


def month_start(now: datetime) -> datetime:
    """Midnight of the first of `now`'s month, in its time zone."""
    return datetime.combine(now.date().replace(day=1), time(), now.tzinfo)


# --- totals and groups ----------------------------------------------------------------------


@dataclass(frozen=True)
class Totals:
    requests: int = 0
    credits: int = 0
    errors: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    tokens_reasoning: int = 0
    median_latency_ms: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in TOTAL_FIELDS}


@dataclass(frozen=True)
class Group:
    key: str | None  # the day, model, client…; None: rows without one (no session, …)
    totals: Totals

    @property
    def label(self) -> str:
        return NONE_LABEL if self.key is None else self.key


@dataclass(frozen=True)
class BalancePoint:
    ts: float
    account: str | None
    credits: int


@dataclass(frozen=True)
class Report:
    by: str
    since: float | None
    until: float | None
    totals: Totals
    groups: tuple[Group, ...]
    per_day: tuple[Group, ...]  # every day from the first row's to the last's, empty ones too
    balance: tuple[BalancePoint, ...]  # per account, in time order, thinned to a few hundred
    first_ts: float | None = None
    last_ts: float | None = None
    drift: tuple[Mapping[str, Any], ...] | None = field(default=None)  # see attach_drift


def is_error(row: UsageRow) -> bool:
    return row.status >= 400 or bool(row.error_code)


class _Sum:
    """Running totals of one group."""

    __slots__ = ("credits", "errors", "latencies", "reasoning", "requests", "tin", "tout")

    def __init__(self) -> None:
        self.requests = self.credits = self.errors = self.tin = self.tout = self.reasoning = 0
        self.latencies: list[float] = []

    def add(self, row: UsageRow) -> None:
        self.requests += 1
        self.credits += row.credits_charged or 0
        self.errors += is_error(row)
        self.tin += row.tokens_in or 0
        self.tout += row.tokens_out or 0
        self.reasoning += row.tokens_reasoning or 0
        if row.latency_ms is not None:
            self.latencies.append(row.latency_ms)

    def totals(self) -> Totals:
        return Totals(
            requests=self.requests,
            credits=self.credits,
            errors=self.errors,
            tokens_in=self.tin,
            tokens_out=self.tout,
            tokens_reasoning=self.reasoning,
            median_latency_ms=(
                round(statistics.median(self.latencies), 1) if self.latencies else None
            ),
        )


def totals_of(rows: Iterable[UsageRow]) -> Totals:
    acc = _Sum()
    for row in rows:
        acc.add(row)
    return acc.totals()


def _local(ts: float, tz: tzinfo | None) -> datetime:
    # tz None: the machine's local time at that instant (right across daylight-saving changes)
    return datetime.fromtimestamp(ts, tz) if tz is not None else datetime.fromtimestamp(ts)


def key_function(by: str, tz: tzinfo | None = None) -> Callable[[UsageRow], str | None]:
    """What a row is grouped under for `--by by` (days and hours in `tz`, default local)."""
    if by == "day":
        return lambda row: _local(row.ts, tz).strftime("%Y-%m-%d")
    if by == "hour":
        return lambda row: _local(row.ts, tz).strftime("%Y-%m-%d %H:00")
    if by == "model":
        return lambda row: row.model or row.model_requested
    if by == "account":
        return lambda row: row.account
    if by == "client":
        return lambda row: row.client
    if by == "session":
        return lambda row: row.session_id
    if by == "project":
        return lambda row: row.project
    raise ValueError(f"unknown grouping {by!r}: use one of {', '.join(GROUPINGS)}")


def group_rows(rows: Iterable[UsageRow], by: str, tz: tzinfo | None = None) -> tuple[Group, ...]:
    """Rows grouped for `--by`: days and hours in time order, the rest by credits, most first."""
    key_of = key_function(by, tz)
    sums: dict[str | None, _Sum] = {}
    for row in rows:
        sums.setdefault(key_of(row), _Sum()).add(row)
    groups = [Group(key, acc.totals()) for key, acc in sums.items()]
    if by in ("day", "hour"):
        groups.sort(key=lambda g: g.key or "")
    else:
        groups.sort(key=lambda g: (-g.totals.credits, -g.totals.requests, g.key is None, g.label))
    return tuple(groups)


def per_day(
    rows: Sequence[UsageRow],
    tz: tzinfo | None = None,
    *,
    start: float | None = None,
    end: float | None = None,
    max_days: int = 366,
) -> tuple[Group, ...]:
    """Credits per day with the quiet days filled in (for a chart's even axis), from the day of
    `start` (or of the first row) to the day of `end` (or of the last row); a window wider than
    `max_days` starts at the first row instead."""
    by_day = {g.key: g for g in group_rows(rows, "day", tz)}
    keys = sorted(k for k in by_day if k is not None)
    first = date.fromisoformat(keys[0]) if keys else None
    last = date.fromisoformat(keys[-1]) if keys else None
    if start is not None:
        day = _local(start, tz).date()
        first = day if first is None or day < first else first
    if end is not None:
        # the window is [start, end): a midnight end does not include that day
        day = _local(end - 1e-6, tz).date()
        last = day if last is None or day > last else last
    if first is None or last is None:
        return ()
    if (last - first).days >= max_days and keys:
        first = date.fromisoformat(keys[0])
    days: list[Group] = []
    while first <= last:
        key = first.isoformat()
        days.append(by_day.get(key) or Group(key, Totals()))
        first += timedelta(days=1)
    return tuple(days)


def balance_series(rows: Iterable[UsageRow], *, max_points: int = 400) -> tuple[BalancePoint, ...]:
    """The balance the API reported after each request, per account, thinned to `max_points`
    per account (evenly by position, always keeping the first and last)."""
    series: dict[str | None, list[BalancePoint]] = {}
    for row in rows:
        if row.credits_after is not None:
            series.setdefault(row.account, []).append(
                BalancePoint(row.ts, row.account, row.credits_after)
            )
    out: list[BalancePoint] = []
    for points in series.values():
        points.sort(key=lambda p: p.ts)
        out += thin(points, max_points)
    return tuple(sorted(out, key=lambda p: p.ts))


def thin(points: Sequence[BalancePoint], max_points: int) -> list[BalancePoint]:
    if len(points) <= max_points or max_points < 2:
        return list(points)
    step = (len(points) - 1) / (max_points - 1)
    return [points[round(i * step)] for i in range(max_points)]


def build_report(
    rows: Iterable[UsageRow],
    *,
    by: str = "day",
    since: float | None = None,
    until: float | None = None,
    tz: tzinfo | None = None,
) -> Report:
    """The whole report of `rows` (already limited to the window) grouped `by`."""
    if by not in GROUPINGS:
        raise ValueError(f"unknown grouping {by!r}: use one of {', '.join(GROUPINGS)}")
    listed = list(rows)
    return Report(
        by=by,
        since=since,
        until=until,
        totals=totals_of(listed),
        groups=group_rows(listed, by, tz),
        per_day=per_day(listed, tz, start=since, end=until) if listed else (),
        balance=balance_series(listed),
        first_ts=min((r.ts for r in listed), default=None),
        last_ts=max((r.ts for r in listed), default=None),
    )


def empty_report(by: str = "day", since: float | None = None, until: float | None = None) -> Report:
    return Report(by, since, until, Totals(), (), (), ())


# --- local consumption (kimrel credits) -----------------------------------------------------


@dataclass(frozen=True)
class Consumption:
    """Credits and requests one account spent through kimrel today and this month."""

    today_credits: int = 0
    today_requests: int = 0
    month_credits: int = 0
    month_requests: int = 0

    def as_dict(self) -> dict[str, dict[str, int]]:
        return {
            "today": {"credits": self.today_credits, "requests": self.today_requests},
            "month": {"credits": self.month_credits, "requests": self.month_requests},
        }


def consumption(
    rows: Iterable[UsageRow], *, today: float, month: float
) -> dict[str | None, Consumption]:
    """Per account, what rows from `month` on (and from `today` on) charged."""
    acc: dict[str | None, list[int]] = {}
    for row in rows:
        if row.ts < month:
            continue
        counts = acc.setdefault(row.account, [0, 0, 0, 0])
        counts[2] += row.credits_charged or 0
        counts[3] += 1
        if row.ts >= today:
            counts[0] += row.credits_charged or 0
            counts[1] += 1
    return {account: Consumption(*counts) for account, counts in acc.items()}


# --- drift (the ledger's reconciliation, when present) --------------------------------------


def attach_drift(
    report: Report,
    rows: Sequence[UsageRow],
    reconcile: Callable[[list[UsageRow]], object] | None = None,
) -> Report:
    """The report with `drift`: one entry per account from the ledger's reconciliation.

    HOOK: reconciliation (what the ledger charged against how far the reported balance fell)
    is owned by `usage/reconcile.py`, whose `reconcile(rows)` returns one record per account
    (a dataclass with `account`, `balance_first`, `balance_last`, `charged`, `flagged`, … and
    the properties `fell` and `drift`). It is imported lazily: without the module, or if it
    fails, the report has no drift (`None`). `reconcile` may be passed in (tests).
    """
    if reconcile is None:
        try:
            from kimrel_cli.usage import reconcile as module  # type: ignore[attr-defined, unused-ignore]
        except ImportError:
            return report
        reconcile = getattr(module, "reconcile", None)
        if not callable(reconcile):
            return report
    try:
        result = reconcile(list(rows))
        entries = tuple(
            entry
            for entry in map(_drift_entry, result if isinstance(result, Iterable) else [result])
            if entry is not None
        )
    except Exception:  # a report without drift beats no report
        return report
    from dataclasses import replace

    return replace(report, drift=entries)


def _drift_entry(value: object) -> dict[str, Any] | None:
    """One reconciliation record as plain data, its computed properties included."""
    from dataclasses import asdict, is_dataclass

    if isinstance(value, Mapping):
        entry = dict(value)
    elif is_dataclass(value) and not isinstance(value, type):
        entry = asdict(value)
    else:
        return None
    for name in ("fell", "drift"):
        if name not in entry and isinstance(getattr(value, name, None), int):
            entry[name] = getattr(value, name)
    return entry


# --- machine-readable shapes ----------------------------------------------------------------


def iso(ts: float | None, tz: tzinfo | None = None) -> str | None:
    if ts is None:
        return None
    moment = datetime.fromtimestamp(ts, tz) if tz is not None else datetime.fromtimestamp(ts)
    return moment.astimezone(tz).isoformat(timespec="seconds")


def group_dict(group: Group) -> dict[str, Any]:
    return {"key": group.key, **group.totals.as_dict()}


def to_json(report: Report, tz: tzinfo | None = None) -> dict[str, Any]:
    """The `kimrel usage --json` object: window, totals, groups, credits per day, balance."""
    return {
        "by": report.by,
        "since": iso(report.since, tz),
        "until": iso(report.until, tz),
        "first": iso(report.first_ts, tz),
        "last": iso(report.last_ts, tz),
        "totals": report.totals.as_dict(),
        "groups": [group_dict(g) for g in report.groups],
        "per_day": [
            {"day": g.key, "credits": g.totals.credits, "requests": g.totals.requests}
            for g in report.per_day
        ],
        "balance": [
            {"time": iso(p.ts, tz), "account": p.account, "credits": p.credits}
            for p in report.balance
        ],
        "drift": (
            None
            if report.drift is None
            else [
                {
                    **entry,
                    **{
                        name: iso(entry[key], tz)
                        for name, key in (("first", "first_ts"), ("last", "last_ts"))
                        if isinstance(entry.get(key), (int, float))
                    },
                }
                for entry in report.drift
            ]
        ),
    }


def csv_rows(report: Report) -> list[list[str]]:
    """`kimrel usage --csv`: a header, then one line per group."""
    header = [report.by, *TOTAL_FIELDS]
    lines = [header]
    for group in report.groups:
        values = group.totals.as_dict()
        lines.append(
            [group.key or "", *("" if values[f] is None else str(values[f]) for f in TOTAL_FIELDS)]
        )
    return lines


def drift_verdict(entry: Mapping[str, Any]) -> str:
    """One reconciliation entry in words (the same for the terminal and the page)."""
    drift = entry.get("drift")
    if not isinstance(drift, int):
        return "not reconciled"
    if drift == 0:
        return "every credit the balance lost is in the ledger"
    if drift > 0:
        return f"the balance fell {drift:,} more than the ledger charged (spent elsewhere?)"
    return f"the balance fell {-drift:,} less than the ledger charged (a top-up?)"
