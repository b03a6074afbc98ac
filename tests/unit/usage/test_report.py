"""usage/report.py: totals, groups, the balance series and --since/--until parsing (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kimrel_cli.usage.ledger import UsageRow
from kimrel_cli.usage.report import (
    GROUPINGS,
    WhenError,
    attach_drift,
    balance_series,
    build_report,
    consumption,
    csv_rows,
    drift_verdict,
    group_rows,
    parse_when,
    parse_window,
    to_json,
)

UTC = timezone.utc
NOW = datetime(2026, 11, 27, 15, 30, tzinfo=UTC)
T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC).timestamp()


def row(ts: float = T0, **kw) -> UsageRow:
    base = {
        "protocol": "anthropic",
        "client": "claude-code",
        "status": 200,
        "stream": True,
        "credits_charged": 2,
        "model": "kimi-k2.5",
        "account": "work",
    }
    return UsageRow(ts=ts, **{**base, **kw})


# --- parse_when -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90m", NOW - timedelta(minutes=90)),
        ("24h", NOW - timedelta(hours=24)),
        ("7d", NOW - timedelta(days=7)),
        ("2w", NOW - timedelta(days=14)),
        (" 1.5h ", NOW - timedelta(minutes=90)),
        ("2026-11-01", datetime(2026, 11, 1, tzinfo=UTC)),
        ("2026-11-01T14:30", datetime(2026, 11, 1, 14, 30, tzinfo=UTC)),
        ("today", datetime(2026, 11, 27, tzinfo=UTC)),
        ("now", NOW),
    ],
    ids=["minutes", "hours", "days", "weeks", "fraction", "date", "date-time", "today", "now"],
)
def test_since_reads_durations_back_from_now_and_dates_at_local_midnight(text, expected):
    assert parse_when(text, now=NOW) == expected


def test_a_date_is_midnight_in_the_time_zone_of_now():
    paris = timezone(timedelta(hours=1))
    got = parse_when("2026-11-01", now=NOW.astimezone(paris))
    assert got.utcoffset() == timedelta(hours=1) and got.hour == 0


@pytest.mark.parametrize(
    "text", ["", "yesterdayish", "7", "7y", "2026-13-01", "-3d", "24 hours ago"]
)
def test_unreadable_times_say_which_forms_work(text):
    with pytest.raises(WhenError) as info:
        parse_when(text, now=NOW)
    assert "24h" in str(info.value)


def test_since_after_until_is_refused_with_both_times():
    with pytest.raises(WhenError, match=r"--since 1h .* is not before --until 2h"):
        parse_window("1h", "2h", now=NOW)
    assert parse_window(None, None, now=NOW) == (None, None)


# --- totals and groups ------------------------------------------------------------------------


def test_totals_count_errors_tokens_and_the_median_latency():
    rows = [
        row(tokens_in=100, tokens_out=10, tokens_reasoning=5, latency_ms=100.0),
        row(T0 + 1, tokens_in=50, tokens_out=None, latency_ms=300.0),
        row(T0 + 2, status=429, error_code="rate_limit_exceeded", credits_charged=0),
        row(T0 + 3, status=499, credits_charged=0, latency_ms=1000.0),
    ]
    totals = build_report(rows).totals
    assert (totals.requests, totals.credits, totals.errors) == (4, 4, 2)
    assert (totals.tokens_in, totals.tokens_out, totals.tokens_reasoning) == (150, 10, 5)
    assert totals.median_latency_ms == 300.0


def test_days_and_hours_group_in_the_given_time_zone_in_time_order():
    late = datetime(2026, 11, 25, 23, 30, tzinfo=UTC).timestamp()
    rows = [row(late), row(T0), row(T0 + 60)]
    assert [g.key for g in group_rows(rows, "day", UTC)] == ["2026-11-25"]
    plus2 = timezone(timedelta(hours=2))
    days = group_rows(rows, "day", plus2)
    assert [(g.key, g.totals.requests) for g in days] == [("2026-11-25", 2), ("2026-11-26", 1)]
    hours = group_rows(rows, "hour", UTC)
    assert [g.key for g in hours] == ["2026-11-25 09:00", "2026-11-25 23:00"]


def test_other_groupings_put_the_biggest_spender_first_and_keep_missing_values_apart():
    rows = [
        row(client="codex", credits_charged=1, session_id="s1"),
        row(client="claude-code", credits_charged=3, session_id="s2"),
        row(client="claude-code", credits_charged=3),
    ]
    clients = group_rows(rows, "client")
    assert [(g.key, g.totals.credits) for g in clients] == [("claude-code", 6), ("codex", 1)]
    sessions = group_rows(rows, "session")
    assert [g.key for g in sessions] == ["s2", None, "s1"]  # a tie: named groups first
    assert {g.label for g in sessions} == {"s1", "s2", "(none)"}


def test_model_falls_back_to_the_requested_name():
    rows = [row(model=None, model_requested="claude-sonnet-4-5")]
    assert group_rows(rows, "model")[0].key == "claude-sonnet-4-5"


def test_credits_per_day_fills_the_quiet_days_with_zero():
    rows = [row(T0), row(T0 + 3 * 86400)]
    days = build_report(rows, tz=UTC).per_day
    assert [(d.key, d.totals.credits) for d in days] == [
        ("2026-11-25", 2),
        ("2026-11-26", 0),
        ("2026-11-27", 0),
        ("2026-11-28", 2),
    ]


def test_an_unknown_grouping_is_refused():
    with pytest.raises(ValueError, match="use one of day, hour"):
        build_report([], by="weekday")


rows_strategy = st.lists(
    st.builds(
        row,
        ts=st.floats(T0, T0 + 10 * 86400),
        client=st.sampled_from(["claude-code", "codex", "kimrel-chat"]),
        model=st.sampled_from(["kimi-k2", "kimi-k2.5", None]),
        account=st.sampled_from(["work", "home", None]),
        session_id=st.sampled_from(["a", "b", None]),
        project=st.sampled_from(["p", None]),
        status=st.sampled_from([200, 200, 400, 429, 499]),
        credits_charged=st.integers(0, 3),
        tokens_in=st.one_of(st.none(), st.integers(0, 10**6)),
        tokens_out=st.one_of(st.none(), st.integers(0, 10**5)),
        tokens_reasoning=st.one_of(st.none(), st.integers(0, 10**5)),
    ),
    max_size=40,
)


@given(rows=rows_strategy, by=st.sampled_from(GROUPINGS))
def test_totals_are_the_sum_of_the_groups_for_every_grouping(rows, by):
    report = build_report(rows, by=by, tz=UTC)
    for name in ("requests", "credits", "errors", "tokens_in", "tokens_out", "tokens_reasoning"):
        assert getattr(report.totals, name) == sum(getattr(g.totals, name) for g in report.groups)
    assert sum(d.totals.credits for d in report.per_day) == report.totals.credits
    assert len({g.key for g in report.groups}) == len(report.groups)


# --- balance, consumption, output shapes ------------------------------------------------------


def test_the_balance_series_is_per_account_in_time_order_and_thinned():
    rows = [row(T0 + i, credits_after=1000 - i, account="a" if i % 2 else "b") for i in range(50)]
    rows.append(row(T0 + 99, credits_after=None))
    points = balance_series(rows, max_points=10)
    assert [p.ts for p in points] == sorted(p.ts for p in points)
    a = [p for p in points if p.account == "a"]
    assert len(a) == 10 and a[0].credits == 999 and a[-1].credits == 1000 - 49


def test_consumption_splits_today_from_the_month_per_account():
    month = datetime(2026, 11, 1, tzinfo=UTC).timestamp()
    today = datetime(2026, 11, 27, tzinfo=UTC).timestamp()
    rows = [
        row(month - 1, credits_charged=3),  # last month
        row(month + 10, credits_charged=2),
        row(today + 10, credits_charged=3),
        row(today + 20, credits_charged=1, account=None),
    ]
    got = consumption(rows, today=today, month=month)
    assert got["work"].as_dict() == {
        "today": {"credits": 3, "requests": 1},
        "month": {"credits": 5, "requests": 2},
    }
    assert got[None].today_credits == 1 and got[None].month_requests == 1


def test_json_has_totals_and_groups_and_csv_one_line_per_group():
    rows = [row(T0, credits_after=10), row(T0 + 1, client="codex", credits_after=8)]
    report = build_report(rows, by="client", since=T0 - 60, tz=UTC)
    data = to_json(report, UTC)
    assert data["totals"]["requests"] == 2 and data["totals"]["credits"] == 4
    assert {"requests", "credits", "errors", "tokens_in", "tokens_out"} <= set(data["totals"])
    assert [g["key"] for g in data["groups"]] == ["claude-code", "codex"]
    assert data["since"] == "2026-11-25T08:59:00+00:00"
    assert [p["credits"] for p in data["balance"]] == [10, 8]
    lines = csv_rows(report)
    assert lines[0][:3] == ["client", "requests", "credits"] and len(lines) == 3


# --- drift: the ledger's reconciliation, through the adapter -----------------------------------


@dataclass(frozen=True)
class Reconciled:
    """The shape of usage/reconcile.py's records (one per account, `fell`/`drift` computed)."""

    account: str | None
    balance_first: int
    balance_last: int
    charged: int
    first_ts: float
    last_ts: float
    flagged: bool

    @property
    def fell(self) -> int:
        return self.balance_first - self.balance_last

    @property
    def drift(self) -> int:
        return self.fell - self.charged


def test_drift_carries_each_accounts_reconciliation_into_json_and_words():
    def reconcile(rows):
        return [Reconciled("work", 100, 90, 8, T0, T0 + 60, True)]

    report = attach_drift(build_report([row()]), [row()], reconcile)
    data = to_json(report, UTC)["drift"]
    assert data[0]["fell"] == 10 and data[0]["drift"] == 2 and data[0]["charged"] == 8
    assert data[0]["first"] == "2026-11-25T09:00:00+00:00"
    assert "fell 2 more than the ledger charged" in drift_verdict(data[0])
    assert "a top-up" in drift_verdict({"drift": -5})
    assert "every credit" in drift_verdict({"drift": 0})


def test_a_failing_reconciliation_leaves_the_report_without_drift():
    def reconcile(rows):
        raise RuntimeError("boom")

    assert attach_drift(build_report([row()]), [row()], reconcile).drift is None
    assert to_json(build_report([row()]))["drift"] is None


def test_without_since_the_window_is_a_span_before_the_end_and_all_is_open():
    week = timedelta(days=7)
    assert parse_window(None, None, now=NOW, default_span=week) == (NOW - week, None)
    end = NOW - timedelta(days=30)
    assert parse_window(None, "30d", now=NOW, default_span=week) == (end - week, end)
    assert parse_window("all", "30d", now=NOW, default_span=week) == (None, end)
