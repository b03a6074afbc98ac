"""The live dashboard's figures (pure): totals per model and client, windows, balance, pacing."""

from __future__ import annotations

import pytest

from kimrel_cli.relay.dashboard_model import (
    DashboardState,
    Pacing,
    RequestRecord,
    budget_lines,
    charge,
    pacing_from,
    pacing_text,
    upstream_model,
)

T0 = 1_800_000_000.0  # a wall-clock time on a minute boundary's neighbourhood


def rec(**changes) -> RequestRecord:
    base = dict(
        time=T0,
        route="/v1/chat/completions",
        model="kimi-k2.6",
        status=200,
        tokens_in=10,
        tokens_out=5,
        latency_ms=100.0,
        credits_left=None,
    )
    base.update(changes)
    return RequestRecord(**base)


def test_old_callers_still_build_records_and_the_new_fields_default_to_unknown():
    record = RequestRecord(
        time=T0,
        route="/v1/messages",
        model=None,
        status=401,
        tokens_in=None,
        tokens_out=None,
        latency_ms=1.0,
        credits_left=None,
    )
    assert (record.client, record.credits_charged, record.account) == (None, None, None)


def test_the_model_that_ran_is_the_one_after_the_arrow():
    assert upstream_model("claude-opus-4-5 → kimi-k2.5") == "kimi-k2.5"
    assert upstream_model("kimi-k2") == "kimi-k2"
    assert upstream_model(None) is None


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        (rec(model="kimi-k2.6"), (3, True)),
        (rec(model="claude-x → kimi-k2.5"), (2, True)),
        (rec(model="kimi-k2"), (1, True)),
        (rec(status=429), (0, False)),
        (rec(status=499, stream=True), (0, False)),
        (rec(model=None, status=200), (0, False)),
        (rec(credits_charged=7), (7, False)),
        (rec(status=499, credits_charged=3), (3, False)),
    ],
    ids=[
        "k2.6-price",
        "alias-priced-by-upstream-model",
        "k2-price",
        "failure-free",
        "aborted-free",
        "no-model-free",
        "reported-charge-wins",
        "reported-charge-of-an-aborted-stream",
    ],
)
def test_charge_prefers_the_reported_figure_else_the_price_of_a_success(record, expected):
    assert charge(record) == expected


def test_totals_per_model_and_per_client():
    state = DashboardState(started=T0)
    state.add(rec(model="kimi-k2.6", client="openai-sdk"))
    state.add(rec(model="claude-opus → kimi-k2.5", client="claude-code"))
    state.add(rec(model="kimi-k2.6", client="claude-code", status=500))
    state.add(rec(model=None, status=401, route="GET /v1/models"))
    assert {m: (t.requests, t.errors, t.credits) for m, t in state.by_model.items()} == {
        "kimi-k2.6": (2, 1, 3),
        "kimi-k2.5": (1, 0, 2),
    }
    assert {c: (t.requests, t.errors, t.credits) for c, t in state.by_client.items()} == {
        "openai-sdk": (1, 0, 3),
        "claude-code": (2, 1, 2),
        "unknown": (1, 1, 0),
    }
    assert (state.total.requests, state.total.errors, state.total.credits) == (4, 2, 5)
    assert state.total.estimated


def test_reported_charges_are_not_marked_as_estimates():
    state = DashboardState(started=T0)
    state.add(rec(credits_charged=3))
    assert state.total.credits == 3 and not state.total.estimated


def test_balance_change_is_measured_from_the_first_reading():
    state = DashboardState(started=T0)
    assert state.change is None
    state.note_balance(None)
    state.note_balance(1000)
    state.add(rec(credits_left=997))
    state.add(rec(credits_left=None))  # a record without a figure keeps the last one
    assert (state.balance, state.change) == (997, -3)
    state.note_balance(1500)  # a top-up
    assert state.change == 500


def test_the_per_minute_window_rolls_and_hour_and_day_count_model_requests_only():
    state = DashboardState(started=T0)
    for offset in (0, 10, 20):
        state.add(rec(time=T0 + offset))
    state.add(rec(time=T0 + 25, model=None, status=404))  # not a model request
    rates = state.rates(T0 + 30)
    assert (rates.per_minute, rates.per_hour, rates.per_day) == (3, 3, 3)
    assert state.rates(T0 + 65).per_minute == 2  # the first fell out of the last 60 s
    later = state.rates(T0 + 2 * 3600)
    assert (later.per_minute, later.per_hour, later.per_day) == (0, 0, 3)
    assert state.rates(T0 + 25 * 3600).per_day == 0


def test_the_tier_follows_the_balance():
    state = DashboardState(started=T0)
    assert state.rates(T0).tier is None
    state.note_balance(1000)
    assert state.rates(T0).tier.per_minute == 60
    state.note_balance(50)
    assert state.rates(T0).tier.per_minute == 20
    state.note_balance(0)
    assert state.rates(T0).tier.per_minute == 0


def test_recent_keeps_the_last_n():
    state = DashboardState(started=T0, recent_size=3)
    for i in range(5):
        state.add(rec(time=T0 + i))
    assert [r.time - T0 for r in state.recent] == [2, 3, 4]


def test_top_sums_the_rest_into_one_row():
    state = DashboardState(started=T0)
    for i, model in enumerate(["a", "b", "c", "d", "e", "f"]):
        for _ in range(i + 1):
            state.add(rec(model=model, credits_charged=1))
    rows = state.top(state.by_model, 3)
    assert [(name, tally.requests) for name, tally in rows] == [
        ("f", 6),
        ("e", 5),
        ("4 others", 4 + 3 + 2 + 1),
    ]


def test_pacing_from_a_snapshot_and_its_line():
    pacing = pacing_from({"waiting": True, "queued": 2, "resets_in": 11.6})
    assert pacing == Pacing(waiting=True, queued=2, resets_in=11.6)
    assert pacing_text(pacing) == "waiting for rate limit, 2 queued, resets in 12 s"
    assert pacing_text(pacing_from({"waiting": False, "queued": 0, "resets_in": None})) is None
    assert pacing_text(pacing_from({"waiting": True, "queued": 1})) == (
        "waiting for rate limit, 1 queued"
    )
    assert pacing_from("nonsense") is None
    assert pacing_from({"queued": "x", "resets_in": "soon", "waiting": 1}) == Pacing(True, 0, None)


def test_budget_lines_take_any_reasonable_shape_and_skip_the_rest():
    assert budget_lines({"daily": {"used": 120, "limit": 200}, "note": "paused"}) == [
        "daily: 120/200 credits",
        "note: paused",
    ]
    assert budget_lines([{"name": "session", "used": 5}, 42, "monthly: 3/10"]) == [
        "session: 5 credits",
        "monthly: 3/10",
    ]
    assert budget_lines(None) == [] and budget_lines(7) == []
