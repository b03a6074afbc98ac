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
- the reservations of requests in flight;
- what `kimrel chat` (its own process) charged since this relay started: its ledger rows,
  re-read at most every LEDGER_TTL seconds, so they count a few seconds late at most.

The budget file is stat'ed on every request (a few µs) and re-read when it changed, so
`kimrel budget set` reaches a running relay at once. `snapshot()` is what the dashboard and the
status file show.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

from kimrel_cli.catalogue import credits_for
from kimrel_cli.errors import SpendLimitReached
from kimrel_cli.usage import budgets as bud
from kimrel_cli.usage.attribution import Attribution

logger = logging.getLogger("kimrel.relay")

LEDGER_TTL = 2.0  # seconds a reading of chat's spend in the ledger stands before a re-read

_T = TypeVar("_T")


class Reservation:
    """One request's price held against its caps until it is billed (commit) or not (release)."""

    def __init__(
        self, guard: BudgetGuard | None, scope: bud.Scope, uses: list[str], cost: int, now: float
    ) -> None:
        self.guard = guard
        self.scope = scope
        self.uses = uses  # the guard's usage keys this request counts under
        self.cost = cost
        self.now = now
        self.done = False

    def commit(self) -> None:
        if not self.done and self.guard is not None:
            self.guard._settle(self, billed=True)
        self.done = True

    def release(self) -> None:
        if not self.done and self.guard is not None:
            self.guard._settle(self, billed=False)
        self.done = True

    def settle(self, *, billed: bool) -> None:
        """End of a stream: committed when the API billed it (it delivered its end), else
        released."""
        self.commit() if billed else self.release()


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
        self._ledger_missing = False  # no ledger when last read: nothing before start to seed
        # cap key → (read at, chat's credits, the ledger's newest row id then)
        self._chat: dict[str, tuple[float | None, int, int]] = {}

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
        self._chat.clear()
        self._ledger_missing = False

    # ---- the ledger ----------------------------------------------------------------------
    def _seeded(self, key: str, cap: bud.Cap, scope: bud.Scope, now: float) -> int:
        """The ledger's credits for a cap from before this relay started; read once per key."""
        if key not in self._seed:
            found = None
            if not self._ledger_missing:  # no ledger at the last seed: none from before start
                found = self._read_ledger(
                    lambda conn: bud.spent_from_ledger(
                        conn, [cap], scope, now, until=self.started_at
                    ).get(key, 0),
                    unreadable=0,
                )
                self._ledger_missing = found is None
            self._seed[key] = found or 0
        return self._seed[key]

    def _chat_since_start(self, key: str, cap: bud.Cap, scope: bud.Scope, now: float) -> int:
        """What `kimrel chat` (another process) charged to a cap since this relay started: its
        ledger rows (protocol `repl`), re-read at most every LEDGER_TTL seconds, and then only
        the rows added since the last read. Only account caps count them: a chat has no
        session or project, so nothing is read for those."""
        if cap.kind not in ("daily", "monthly"):
            return 0
        from kimrel_cli.usage import ledger

        read_at, credits, last_row = self._chat.get(key, (None, 0, 0))
        if read_at is None or not 0 <= now - read_at < LEDGER_TTL:
            since = max(bud.window_start(cap.kind, now) or 0.0, self.started_at)
            found = self._read_ledger(
                lambda conn: ledger.spent_after(
                    conn, last_row, since=since, protocol="repl", **bud.ledger_filter(cap, scope)
                ),
                unreadable=None,
            )
            if found is not None:
                credits, last_row = credits + found[0], found[1]
            self._chat[key] = (now, credits, last_row)
        return credits

    def _read_ledger(
        self, query: Callable[[sqlite3.Connection], _T], *, unreadable: _T | None
    ) -> _T | None:
        """`query` on the ledger: None when there is no ledger, `unreadable` when it cannot
        be read (said once).

        Each read opens the ledger read-only and closes it, so the guard holds no connection
        and any thread (the dashboard's) may call `snapshot`.
        """
        from kimrel_cli.usage import ledger

        conn = None
        try:
            conn = ledger.open_readonly(self.ledger_path)
            return None if conn is None else query(conn)
        except (ledger.LedgerError, sqlite3.Error) as exc:
            self._warn_once(f"budgets: usage ledger not read ({exc})")
            return unreadable
        finally:
            if conn is not None:
                conn.close()

    def _warn_once(self, text: str) -> None:
        if text not in self._warned:
            self._warned.add(text)
            self.on_warning(text)

    # ---- usage keys: what this relay charged, by window and subject ------------------------
    @staticmethod
    def _use(kind: str, scope: bud.Scope, now: float) -> str | None:
        """The key this relay counts a request under for one kind of cap (None: n/a). The relay
        spends for one account, so daily and monthly keys name only the window."""
        window = bud.window_id(kind, now)
        if kind in ("daily", "monthly"):
            return f"{kind}|{window}|"
        if kind == "session":
            return f"session|{window}|{scope.session_id}" if scope.session_id else None
        return f"project|{window}|{scope.project}" if scope.project else None

    def _uses(self, scope: bud.Scope, now: float) -> list[str]:
        return [key for kind in bud.KINDS if (key := self._use(kind, scope, now)) is not None]

    def _spent(self, cap: bud.Cap, scope: bud.Scope, now: float, *, in_flight: bool) -> int:
        use = self._use(cap.kind, scope, now) or ""
        key = bud.cap_key(cap, scope, now)
        total = self._seeded(key, cap, scope, now) + self._charged.get(use, 0)
        total += self._chat_since_start(key, cap, scope, now)
        return total + (self._reserved.get(use, 0) if in_flight else 0)

    # ---- the request path ----------------------------------------------------------------
    def reserve(self, body: Mapping[str, Any], who: Attribution | None) -> Reservation:
        """Hold the request's price against every cap that applies, or raise SpendLimitReached.

        Synchronous on purpose: nothing can interleave between the check and the hold. Every
        request is counted, capped or not, so a cap set later sees what was spent before it.
        """
        self.refresh()
        now = self.clock()
        scope = bud.Scope(
            account=self.account,
            session_id=who.session_id if who else None,
            project=who.project if who else None,
        )
        cost = credits_for(str(body.get("model") or ""))
        caps = bud.applicable(self.budgets.caps, scope)
        if caps:
            spent = {
                bud.cap_key(cap, scope, now): self._spent(cap, scope, now, in_flight=True)
                for cap in caps
            }
            crossed = bud.crossing(caps, scope, cost, spent, now)
            if crossed is not None:
                raise SpendLimitReached(
                    bud.message(crossed, now),
                    hint=bud.hint(crossed),
                    cap=bud.cap_name(crossed.cap),
                    resets_at=crossed.resets_at,
                )
        uses = self._uses(scope, now)
        for use in uses:
            self._reserved[use] = self._reserved.get(use, 0) + cost
        return Reservation(self, scope, uses, cost, now)

    def check(self, body: Mapping[str, Any], who: Attribution | None) -> None:
        """Raise SpendLimitReached if the request would cross a cap now; hold nothing."""
        self.reserve(body, who).release()

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
        cost, scope, now = reservation.cost, reservation.scope, reservation.now
        for use in reservation.uses:
            left = self._reserved.get(use, 0) - cost
            if left > 0:
                self._reserved[use] = left
            else:
                self._reserved.pop(use, None)
            if billed:
                self._charged[use] = self._charged.get(use, 0) + cost
        if not billed:
            return
        for cap in bud.applicable(self.budgets.caps, scope):
            after = self._spent(cap, scope, now, in_flight=False)
            before = after - cost
            subject = bud.subject_of(cap, scope)
            key = bud.cap_key(cap, scope, now)
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
                    f"used by {subject} ({cap.warn}% threshold; {bud.reset_text(cap.kind, now)})"
                )

    # ---- what the dashboard and the status line show -------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """`{"caps": [{name, kind, subject, spent, cap, left, warn, warned, in_flight,
        resets_at}…], "overshoot": n, "file_error": str|None}`: every cap with the figures of
        what it counts now (each session / project this relay has seen in the window)."""
        self.refresh()
        now = self.clock()
        rows: list[dict[str, Any]] = []
        seen = set(self._charged) | set(self._reserved)
        for cap in self.budgets.caps:
            scopes: list[bud.Scope] = []
            if cap.kind in ("daily", "monthly"):
                scopes.append(bud.Scope(account=self.account))
            else:
                prefix = f"{cap.kind}|{bud.window_id(cap.kind, now)}|"
                for name in sorted(k[len(prefix) :] for k in seen if k.startswith(prefix)):
                    scopes.append(
                        bud.Scope(session_id=name)
                        if cap.kind == "session"
                        else bud.Scope(project=name)
                    )
            for scope in scopes:
                subject = bud.subject_of(cap, scope)
                if subject is None:
                    continue
                use = self._use(cap.kind, scope, now) or ""
                status = bud.CapStatus(
                    cap,
                    subject,
                    self._spent(cap, scope, now, in_flight=False),
                    bud.resets_at(cap.kind, now),
                    name=bud.cap_name(cap),
                    extra={"in_flight": self._reserved.get(use, 0)},
                )
                rows.append(status.as_dict())
        return {"caps": rows, "overshoot": self.overshoot, "file_error": self.file_error}
