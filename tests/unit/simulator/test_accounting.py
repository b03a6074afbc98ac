"""Balances and the tiered rate windows, on a fake clock (pure)."""

from __future__ import annotations

from kimrel_cli.simulator.accounting import Ledger


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_the_tier_follows_the_current_balance():
    ledger = Ledger({"k": 101}, clock=Clock())
    assert ledger.admit("k").limit == 60
    ledger.charge("k", 1)
    assert ledger.admit("k").limit == 20
    assert (ledger.balance("k"), ledger.used["k"]) == (100, 1)


def test_the_minute_window_refuses_then_reopens():
    clock = Clock()
    ledger = Ledger({"k": 50}, clock=clock)
    decisions = [ledger.admit("k") for _ in range(21)]
    assert all(d.allowed for d in decisions[:20])
    refused = decisions[20]
    assert not refused.allowed and refused.remaining == 0
    assert 59 <= refused.retry_after <= 60
    assert refused.reset == int(clock.now) + 60
    clock.now += 60.5
    assert ledger.admit("k").allowed


def test_the_hour_window_holds_after_minutes_pass():
    clock = Clock()
    ledger = Ledger({"k": 50}, clock=clock, window_scale=0.001)  # minute 0.06 s, hour 3.6 s
    allowed = 0
    for _ in range(700):
        clock.now += 0.004  # 15 per scaled minute: under 20/min, over 600/h eventually
        allowed += ledger.admit("k").allowed
    assert allowed == 600
    clock.now += 3.7
    assert ledger.admit("k").allowed
