"""Reconciliation: what the ledger says was charged against how far the reported balance fell.

A pure function over ledger rows in time order (`ledger.iter_rows`). Per account, the first and
last rows that carry a trustworthy balance (`credits_after`, the API's `X-Credits-Remaining` on
that request's answer) bound a window; the balance fell by `first - last`, and the ledger
charged the sum of `credits_charged` of the rows after the first observation up to and
including the last. `drift = fell - charged`:

- 0: every credit that left the balance is in the ledger;
- positive: the balance fell more than the ledger accounts for: credits spent elsewhere (another
  machine, the hosted web app, a relay with the ledger off), or a price the table does not know;
- negative: the balance fell less than the ledger charged: a top-up (or a refund) in the
  window. A top-up always shows as negative drift, by exactly its size when nothing else moved.

With concurrent requests the balances interleave: each answer reports the balance as the API saw
it when it took the request, so a window that ends inside a burst can be off by the charges in
flight; `tolerance` absorbs that. A stream that did not complete (client gone, upstream broke
off) reported a balance that may already have assumed its charge, so its figure is not used as
an observation.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from kimrel_cli.usage.ledger import UsageRow


@dataclass(frozen=True)
class Reconciliation:
    """One account's reconciliation over the rows given."""

    account: str | None
    first_ts: float  # the first and last observations' times (epoch seconds)
    last_ts: float
    balance_first: int  # credits_after of the first observation
    balance_last: int
    charged: int  # ledger credits charged between the two observations
    observations: int  # rows with a usable balance
    requests: int  # rows in the window (after the first observation, up to the last)
    flagged: bool  # |drift| > tolerance

    @property
    def fell(self) -> int:
        """How far the reported balance fell (negative: it rose)."""
        return self.balance_first - self.balance_last

    @property
    def drift(self) -> int:
        """fell - charged: >0 spent outside the ledger, <0 a top-up or refund (module doc)."""
        return self.fell - self.charged


def usable_balance(row: UsageRow) -> bool:
    """Whether a row's `credits_after` can bound a reconciliation window."""
    if row.credits_after is None:
        return False
    unfinished_stream = row.stream and row.credits_charged == 0 and row.status in (200, 499)
    return not unfinished_stream


def reconcile(rows: Iterable[UsageRow], *, tolerance: int = 0) -> list[Reconciliation]:
    """One Reconciliation per account with at least one usable balance, by account name
    (None, a key from KIMREL_API_KEY, first). `rows` must be in time order."""
    by_account: dict[str | None, list[UsageRow]] = {}
    for row in rows:
        by_account.setdefault(row.account, []).append(row)
    results = []
    for account in sorted(by_account, key=lambda a: (a is not None, a or "")):
        found = _one(account, by_account[account], tolerance)
        if found is not None:
            results.append(found)
    return results


def _one(account: str | None, rows: list[UsageRow], tolerance: int) -> Reconciliation | None:
    marks = [i for i, row in enumerate(rows) if usable_balance(row)]
    if not marks:
        return None
    first, last = marks[0], marks[-1]
    window = rows[first + 1 : last + 1]
    charged = sum(row.credits_charged for row in window)
    balance_first = rows[first].credits_after
    balance_last = rows[last].credits_after
    assert balance_first is not None and balance_last is not None  # usable_balance
    drift = (balance_first - balance_last) - charged
    return Reconciliation(
        account=account,
        first_ts=rows[first].ts,
        last_ts=rows[last].ts,
        balance_first=balance_first,
        balance_last=balance_last,
        charged=charged,
        observations=len(marks),
        requests=len(window),
        flagged=abs(drift) > tolerance,
    )
