"""Reconciliation: the ledger's charges against the fall of the reported balance, per account."""

from __future__ import annotations

from kimrel_cli.usage.ledger import UsageRow
from kimrel_cli.usage.reconcile import reconcile


def row(ts, charged, after, *, account="work", stream=False, status=200):
    return UsageRow(
        ts=ts,
        protocol="chat",
        client="other",
        status=status,
        stream=stream,
        credits_charged=charged,
        account=account,
        credits_after=after,
    )


def test_a_ledger_that_accounts_for_every_credit_has_no_drift():
    rows = [row(1, 3, 997), row(2, 1, 996), row(3, 0, 996, status=429), row(4, 2, 994)]
    (result,) = reconcile(rows)
    assert (result.balance_first, result.balance_last, result.fell) == (997, 994, 3)
    assert result.charged == 3 and result.drift == 0 and not result.flagged
    assert result.observations == 4 and result.requests == 3


def test_spending_outside_the_ledger_is_positive_drift():
    rows = [row(1, 1, 999), row(2, 1, 990)]  # 8 credits went elsewhere
    (result,) = reconcile(rows)
    assert result.drift == 8 and result.flagged


def test_a_top_up_shows_as_negative_drift_of_its_size():
    rows = [row(1, 1, 99), row(2, 1, 98), row(3, 1, 597)]  # +500 bought between 2 and 3
    (result,) = reconcile(rows)
    assert (result.fell, result.charged, result.drift) == (-498, 2, -500)
    assert result.flagged


def test_accounts_are_reconciled_apart():
    rows = [
        row(1, 1, 99, account="a"),
        row(2, 3, 497, account="b"),
        row(3, 1, 98, account="a"),
        row(4, 3, 494, account="b"),
        row(5, 1, 10, account=None),
    ]
    results = reconcile(rows)
    assert [(r.account, r.charged, r.drift) for r in results] == [
        (None, 0, 0),
        ("a", 1, 0),
        ("b", 3, 0),
    ]


def test_an_unfinished_stream_is_not_a_balance_observation():
    # the stream's answer said 996 (its charge assumed) but the client left: it cost nothing
    rows = [row(1, 1, 999), row(2, 0, 996, stream=True, status=499), row(3, 1, 998)]
    (result,) = reconcile(rows)
    assert result.balance_last == 998 and result.drift == 0 and result.observations == 2


def test_tolerance_absorbs_charges_in_flight():
    rows = [row(1, 3, 997), row(2, 3, 997), row(3, 3, 991)]  # two answered at once
    assert reconcile(rows)[0].drift == 0
    rows = [row(1, 3, 994), row(2, 3, 997), row(3, 3, 991)]
    assert reconcile(rows)[0].flagged
    assert not reconcile(rows, tolerance=3)[0].flagged


def test_rows_without_a_balance_give_no_reconciliation():
    assert reconcile([row(1, 1, None)]) == []
    assert reconcile([]) == []
