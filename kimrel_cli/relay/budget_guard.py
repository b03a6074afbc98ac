"""Spend caps enforced in the relay: reserve a request's price before it goes upstream.

`RelayContext.call` / `open_stream` call `BudgetGuard.reserve(body, attribution)` once per
upstream model request. It runs on the server's event loop without awaiting, so checking the
caps and reserving the price is one atomic step: of 64 concurrent requests at the edge of a cap,
exactly as many pass as the cap has room for (requests in flight count through their
reservations). A request that would cross a cap raises `SpendLimitReached` and is never sent.

A reservation is committed when the API bills the request (a whole answer: the call returned,
or the stream delivered its end) and released otherwise (an error, a client that left early).

What counts against a cap:
- the usage ledger's rows from before this relay started (`ledger.spent`, queried once per cap
  window and again after the budget file changes), so caps survive a relay restart;
- what this relay charged since it started (`credits_for(model)` of each billed request),
  counted here in memory, so enforcement never waits for the ledger's writer;
- the reservations of requests in flight.

The budget file is stat'ed on every request (a few µs) and re-read when it changed, so
`kimrel budget set` reaches a running relay at once. `snapshot()` is what the dashboard and the
status file show.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from kimrel_cli.catalogue import credits_for
from kimrel_cli.errors import SpendLimitReached
from kimrel_cli.usage import budgets as bud
from kimrel_cli.usage.attribution import Attribution

logger = logging.getLogger("kimrel.relay")

_END_MARKERS = ('"finish_reason":"', '"finish_reason": "', '"type":"message_stop"')


class Reservation:
    """One request's price held against its caps until it is billed (commit) or not (release)."""

    def __init__(self, guard: BudgetGuard | None, keys: Mapping[str, bud.Cap], cost: int) -> None:
        self.guard = guard
        self.keys = dict(keys)
        self.cost = cost
        self.completed = False  # a stream delivered its end: the API bills it
        self.done = False

    def commit(self) -> None:
        if not self.done and self.guard is not None:
            self.guard._settle(self, billed=True)
        self.done = True

    def release(self) -> None:
        if not self.done and self.guard is not None:
            self.guard._settle(self, billed=False)
        self.done = True

    def settle(self) -> None:
        """End of a stream: billed when it delivered its end, else released."""
        self.commit() if self.completed else self.release()

    def watch(self, raw: Any) -> Any:
        """The upstream stream, noting when it delivers its end (`[DONE]`, a finish reason, an
        Anthropic `message_stop`)."""
        return raw if self.guard is None else _Watched(raw, self)


class _Watched:
    def __init__(self, raw: Any, reservation: Reservation) -> None:
        self._raw = raw
        self._reservation = reservation

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)

    async def aiter_events(self) -> AsyncIterator[Any]:
        async for event in self._raw.aiter_events():
            data = getattr(event, "data", "")
            if data == "[DONE]" or any(marker in data for marker in _END_MARKERS):
                self._reservation.completed = True
            yield event


class BudgetGuard:
    """The relay's live view of the spend caps: file, ledger seed, charges, reservations."""

    def __init__(
        self,
        *,
        account: str | None = None,
        path: Path | None = None,
        ledger_path: Path | None = None,
        clock: Callable[[], float] = time.time,
        on_warning: Callable[[str], None] | None = None,
    ) -> None:
        self.account = account
        self.path = path or bud.budgets_path()
        self.ledger_path = ledger_path
        self.clock = clock
        self.started_at = clock()  # ledger rows before this are seeded; after, counted here
        self.on_warning = on_warning or (lambda text: logger.warning("%s", text))
        self.budgets = bud.Budgets()
        self.file_error: str | None = None
        self.overshoot = 0  # credits billed past a cap (0 unless billing differs from prices)
        self._stamp: Any = object()  # forces the first load
        self._seed: dict[str, int] = {}
        self._charged: dict[str, int] = {}
        self._reserved: dict[str, int] = {}
        self._warned: set[str] = set()
        self._conn: sqlite3.Connection | None = None
        self._ledger_missing = False

    # ---- the file ------------------------------------------------------------------------
    def refresh(self) -> None:
        """Re-read the budget file when its mtime, size or inode changed (one stat)."""
        stamp = bud.file_stamp(self.path)
        if stamp == self._stamp:
            return
        self._stamp = stamp
        try:
            self.budgets = bud.load(self.path)
            self.file_error = None
        except bud.BudgetFileError as exc:  # keep the caps we had: a typo never lifts them
            if self.file_error != str(exc):
                self.on_warning(f"budgets not reloaded: {exc}")
            self.file_error = str(exc)
            return
        self._seed.clear()  # re-read the ledger for the caps as they are now
        self._ledger_missing = False

    # ---- the ledger ----------------------------------------------------------------------
    def _ledger(self) -> sqlite3.Connection | None:
        from kimrel_cli.usage import ledger

        if self._conn is None and not self._ledger_missing:
            try:
                self._conn = ledger.open_readonly(self.ledger_path)
            except ledger.LedgerError as exc:
                self.on_warning(f"budgets: usage ledger not read ({exc})")
                self._conn = None
            self._ledger_missing = self._conn is None
        return self._conn

    def _seeded(self, key: str, cap: bud.Cap, scope: bud.Scope, now: float) -> int:
        if key not in self._seed:
            conn = self._ledger()
            value = 0
            if conn is not None:
                try:
                    found = bud.spent_from_ledger(conn, [cap], scope, now, until=self.started_at)
                    value = found.get(key, 0)
                except sqlite3.Error as exc:
                    self.on_warning(f"budgets: usage ledger not read ({exc})")
            self._seed[key] = value
        return self._seed[key]

    def _counted(self, key: str) -> int:
        return self._seed.get(key, 0) + self._charged.get(key, 0)

    # ---- the request path ----------------------------------------------------------------
    def reserve(self, body: Mapping[str, Any], who: Attribution | None) -> Reservation:
        """Hold the request's price against every cap that applies, or raise SpendLimitReached.

        Synchronous on purpose: nothing can interleave between the check and the hold.
        """
        self.refresh()
        if not self.budgets.caps:
            return Reservation(None, {}, 0)
        now = self.clock()
        scope = bud.Scope(
            account=self.account,
            session_id=who.session_id if who else None,
            project=who.project if who else None,
        )
        caps = bud.applicable(self.budgets.caps, scope)
        if not caps:
            return Reservation(None, {}, 0)
        cost = credits_for(str(body.get("model") or ""))
        keys = {bud.cap_key(cap, scope, now): cap for cap in caps}
        spent = {
            key: self._seeded(key, cap, scope, now) + self._charged.get(key, 0)
            for key, cap in keys.items()
        }
        in_flight = {key: spent[key] + self._reserved.get(key, 0) for key in keys}
        crossed = bud.crossing(caps, scope, cost, in_flight, now)
        if crossed is not None:
            raise SpendLimitReached(
                bud.message(crossed, now),
                hint=bud.hint(crossed),
                cap=bud.cap_name(crossed.cap),
                resets_at=crossed.resets_at,
            )
        for key in keys:
            self._reserved[key] = self._reserved.get(key, 0) + cost
        return Reservation(self, keys, cost)

    @contextlib.contextmanager
    def hold(self, body: Mapping[str, Any], who: Attribution | None) -> Iterator[Reservation]:
        """`reserve` as a context: committed on a normal exit, released on an exception."""
        reservation = self.reserve(body, who)
        try:
            yield reservation
        except BaseException:
            reservation.release()
            raise
        reservation.commit()

    def _settle(self, reservation: Reservation, *, billed: bool) -> None:
        for key, cap in reservation.keys.items():
            self._reserved[key] = max(0, self._reserved.get(key, 0) - reservation.cost)
            if not self._reserved[key]:
                del self._reserved[key]
            if not billed:
                continue
            before = self._counted(key)
            self._charged[key] = self._charged.get(key, 0) + reservation.cost
            after = before + reservation.cost
            subject = key.split("|", 2)[2]
            if after > cap.limit:
                over = after - max(before, cap.limit)
                self.overshoot += over
                self.on_warning(
                    f"budget overshoot: {bud.cap_name(cap)} cap of {cap.limit} exceeded by {over} "
                    f"credits ({after}/{cap.limit} used by {subject})"
                )
            elif bud.crossed_warning(cap, before, after) and key not in self._warned:
                self._warned.add(key)
                self.on_warning(
                    f"budget warning: {after}/{cap.limit} credits of the {bud.cap_name(cap)} cap "
                    f"used by {subject} ({cap.warn}% threshold; "
                    f"{bud.reset_text(cap.kind, self.clock())})"
                )

    # ---- what the dashboard and the status line show -------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """`{"caps": [{name, kind, subject, spent, cap, left, warn, warned, in_flight,
        resets_at}…], "overshoot": n, "file_error": str|None}` for the caps with figures now."""
        self.refresh()
        now = self.clock()
        rows: list[dict[str, Any]] = []
        account_scope = bud.Scope(account=self.account)
        for cap in self.budgets.caps:
            keys: list[tuple[str, bud.Scope]] = []
            if cap.kind in ("daily", "monthly"):
                if bud.subject_of(cap, account_scope) is not None:
                    keys.append((bud.cap_key(cap, account_scope, now), account_scope))
            else:
                prefix = f"{cap.kind}|{bud.window_id(cap.kind, now)}|"
                for key in sorted(set(self._charged) | set(self._reserved) | set(self._seed)):
                    if not key.startswith(prefix):
                        continue
                    name = key[len(prefix) :].split(" ", 1)[1]
                    scope = (
                        bud.Scope(session_id=name)
                        if cap.kind == "session"
                        else bud.Scope(project=name)
                    )
                    if bud.subject_of(cap, scope) is not None:
                        keys.append((key, scope))
            for key, scope in keys:
                if key not in self._seed:
                    self._seeded(key, cap, scope, now)
                spent = self._counted(key)
                status = bud.CapStatus(
                    cap,
                    bud.subject_of(cap, scope) or "",
                    spent,
                    bud.resets_at(cap.kind, now),
                    name=bud.cap_name(cap),
                    extra={"in_flight": self._reserved.get(key, 0)},
                )
                rows.append(status.as_dict())
        return {"caps": rows, "overshoot": self.overshoot, "file_error": self.file_error}

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
            self._conn = None
