"""Spending caps in credits: the store (`budgets.json` in the config dir) and pure decisions.

A cap is one of four kinds, each with a warning threshold in percent:

| kind      | counts                                        | window                       |
| --------- | --------------------------------------------- | ---------------------------- |
| `daily`   | one account's credits (all accounts: no name) | the UTC day, resets 00:00    |
| `monthly` | the same                                      | the UTC month, resets on 1st |
| `session` | each Claude Code / Codex session, separately  | the session: never resets    |
| `project` | one project (or each project: no name)        | the UTC month, resets on 1st |

A request of cost `c` *crosses* a cap when `spent + c > limit`: it is refused, so a cap of 200
lets spending reach exactly 200. The relay (relay/budget_guard.py) and `kimrel chat` call
`crossing`; `kimrel budget show` and the status line read figures through `statuses`.

For the status line (stdlib only, no ledger write, fast):

    tightest_left(caps, scope, spent, now=None) -> tuple[str, int, int] | None
        (cap name as `cap_name` spells it, credits left, the cap's limit) for the applicable
        cap with the fewest credits left, or None when no cap applies. `spent` maps
        `cap_key(cap, scope, now)` to credits spent in that cap's current window;
        `spent_from_ledger(conn, caps, scope, now)` builds it from the usage ledger.

    left_for(scope, now=None) -> tuple[str, int, int] | None
        The same from the files on disk (budgets.json and the ledger); None without caps.

File format (written atomically, 0600):

    {"version": 1, "caps": [{"kind": "daily", "limit": 200, "warn": 80, "account": "work"},
                            {"kind": "project", "limit": 900, "warn": 80, "project": "kimrel"}]}
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

FILE_NAME = "budgets.json"
VERSION = 1
KINDS = ("daily", "monthly", "session", "project")
DEFAULT_WARN = 80

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class BudgetFileError(Exception):
    """budgets.json cannot be read or is not a budget file (path and reason in the message)."""


@dataclass(frozen=True)
class Cap:
    """One spending cap. `account`/`project` None: the cap covers all accounts / each project."""

    kind: str  # one of KINDS
    limit: int  # credits
    warn: int = DEFAULT_WARN  # percent of `limit` at which the relay logs a warning
    account: str | None = None  # daily / monthly only
    project: str | None = None  # project only

    @property
    def ident(self) -> tuple[str, str | None, str | None]:
        """What `kimrel budget set` replaces: one cap per kind and account/project."""
        return (self.kind, self.account, self.project)


@dataclass(frozen=True)
class Scope:
    """Who a request spends for: the relay's account, the client's session and project."""

    account: str | None = None
    session_id: str | None = None
    project: str | None = None


@dataclass(frozen=True)
class Budgets:
    caps: tuple[Cap, ...] = ()

    def with_cap(self, cap: Cap) -> Budgets:
        kept = tuple(c for c in self.caps if c.ident != cap.ident)
        return Budgets((*kept, cap))

    def without(
        self, kind: str | None = None, *, account: str | None = None, project: str | None = None
    ) -> tuple[Budgets, list[Cap]]:
        """The budgets less the caps that match (all of them when `kind` is None)."""

        def matches(cap: Cap) -> bool:
            if kind is not None and cap.kind != kind:
                return False
            if account is not None and cap.account != account:
                return False
            return project is None or cap.project == project

        gone = [c for c in self.caps if matches(c)]
        return Budgets(tuple(c for c in self.caps if not matches(c))), gone


@dataclass(frozen=True)
class Crossing:
    """A request of `cost` would take `cap` past its limit: refuse it."""

    cap: Cap
    spent: int  # credits counted against the cap (in flight included)
    cost: int
    subject: str  # "account work", "all accounts", "session 1f3a…", "project kimrel"
    resets_at: float | None  # epoch seconds, None: never


@dataclass
class CapStatus:
    """One cap's figures for `kimrel budget show`, the dashboard and the status line."""

    cap: Cap
    subject: str
    spent: int
    resets_at: float | None
    name: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def left(self) -> int:
        return max(0, self.cap.limit - self.spent)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.cap.kind,
            "subject": self.subject,
            "account": self.cap.account,
            "project": self.cap.project,
            "cap": self.cap.limit,
            "spent": self.spent,
            "left": self.left,
            "warn": self.cap.warn,
            "warned": self.spent * 100 >= self.cap.warn * self.cap.limit,
            "resets_at": self.resets_at,
            **self.extra,
        }


# ---- the file ------------------------------------------------------------------------------


def budgets_path() -> Path:
    from kimrel_cli import paths

    return paths.config_dir() / FILE_NAME


def _whole(value: Any, name: str, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise BudgetFileError(f"{where}: {name} must be a whole number ≥ 0")
    return value


def _cap_from(raw: Any, where: str) -> Cap:
    if not isinstance(raw, dict):
        raise BudgetFileError(f"{where}: a cap must be an object")
    kind = raw.get("kind")
    if kind not in KINDS:
        raise BudgetFileError(f"{where}: unknown kind {kind!r} (one of {', '.join(KINDS)})")
    limit = _whole(raw.get("limit"), "limit", where)
    warn = _whole(raw.get("warn", DEFAULT_WARN), "warn", where)
    account, project = raw.get("account"), raw.get("project")
    for name, value in (("account", account), ("project", project)):
        if value is not None and not isinstance(value, str):
            raise BudgetFileError(f"{where}: {name} must be a string")
    return Cap(kind=kind, limit=limit, warn=warn, account=account, project=project)


def parse(text: str, path: Path | str = FILE_NAME) -> Budgets:
    """Budgets from the file's text; BudgetFileError (with the path) for anything else."""
    try:
        data = json.loads(text) if text.strip() else {}
    except ValueError as exc:
        raise BudgetFileError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("caps", []), list):
        raise BudgetFileError(f'{path}: expected {{"version": 1, "caps": [...]}}')
    caps = tuple(_cap_from(raw, f"{path} caps[{i}]") for i, raw in enumerate(data.get("caps", [])))
    return Budgets(caps)


def dumps(budgets: Budgets) -> str:
    caps = []
    for cap in budgets.caps:
        item: dict[str, Any] = {"kind": cap.kind, "limit": cap.limit, "warn": cap.warn}
        if cap.account is not None:
            item["account"] = cap.account
        if cap.project is not None:
            item["project"] = cap.project
        caps.append(item)
    return json.dumps({"version": VERSION, "caps": caps}, indent=2) + "\n"


def load(path: Path | None = None) -> Budgets:
    """The budgets on disk (none when the file is missing)."""
    path = path or budgets_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Budgets()
    except (OSError, UnicodeDecodeError) as exc:
        raise BudgetFileError(f"cannot read {path}: {exc}") from None
    return parse(text, path)


def save(budgets: Budgets, path: Path | None = None) -> Path:
    """Write the budgets atomically, 0600 (a running relay picks the change up by mtime)."""
    from kimrel_cli.files import atomic_write_text

    path = path or budgets_path()
    atomic_write_text(path, dumps(budgets), mode=0o600)
    return path


def file_stamp(path: Path) -> tuple[int, int, int] | None:
    """(mtime_ns, size, inode) of the file, None when missing: cheap to check per request."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


# ---- windows -------------------------------------------------------------------------------


def _utc(now: float) -> datetime:
    return datetime.fromtimestamp(now, tz=timezone.utc)


def window_start(kind: str, now: float) -> float | None:
    """Epoch seconds when the cap's current window began (None: no window, all time)."""
    day = _utc(now).replace(hour=0, minute=0, second=0, microsecond=0)
    if kind == "daily":
        return day.timestamp()
    if kind in ("monthly", "project"):
        return day.replace(day=1).timestamp()
    return None


def resets_at(kind: str, now: float) -> float | None:
    """Epoch seconds when the cap's window next resets (None: never)."""
    day = _utc(now).replace(hour=0, minute=0, second=0, microsecond=0)
    if kind == "daily":
        return day.timestamp() + 86400
    if kind in ("monthly", "project"):
        first = day.replace(day=1)
        if first.month == 12:
            return first.replace(year=first.year + 1, month=1).timestamp()
        return first.replace(month=first.month + 1).timestamp()
    return None


def window_id(kind: str, now: float) -> str:
    """A name for the current window: the day, the month, or "all"."""
    start = window_start(kind, now)
    if start is None:
        return "all"
    return _utc(start).strftime("%Y-%m-%d" if kind == "daily" else "%Y-%m")


def reset_text(kind: str, now: float) -> str:
    """'resets 00:00 UTC', 'resets 1 Dec 00:00 UTC', or 'never resets'."""
    when = resets_at(kind, now)
    if when is None:
        return "never resets"
    if kind == "daily":
        return "resets 00:00 UTC"
    moment = _utc(when)
    return f"resets {moment.day} {_MONTHS[moment.month - 1]} 00:00 UTC"


# ---- which caps, what is spent, what crosses ----------------------------------------------


def subject_of(cap: Cap, scope: Scope) -> str | None:
    """Whom the cap counts for this request ("account work", "session …"), None: n/a."""
    if cap.kind in ("daily", "monthly"):
        if cap.account is None:
            return "all accounts"
        return f"account {cap.account}" if scope.account == cap.account else None
    if cap.kind == "session":
        return f"session {scope.session_id}" if scope.session_id else None
    if cap.kind == "project":
        if not scope.project or (cap.project is not None and cap.project != scope.project):
            return None
        return f"project {scope.project}"
    return None


def applicable(caps: Iterable[Cap], scope: Scope) -> list[Cap]:
    return [cap for cap in caps if subject_of(cap, scope) is not None]


def cap_key(cap: Cap, scope: Scope, now: float) -> str:
    """The accounting key of a cap for a request: kind, window and subject."""
    return f"{cap.kind}|{window_id(cap.kind, now)}|{subject_of(cap, scope)}"


def ledger_filter(cap: Cap, scope: Scope) -> dict[str, str | None]:
    """The keyword arguments of `ledger.spent` that select the rows a cap counts."""
    if cap.kind in ("daily", "monthly"):
        return {"account": cap.account}
    if cap.kind == "session":
        return {"session_id": scope.session_id}
    return {"project": scope.project}


def cap_name(cap: Cap) -> str:
    """How messages and the status line name a cap: 'daily', 'project kimrel', …"""
    if cap.kind == "project" and cap.project:
        return f"project {cap.project}"
    return cap.kind


def crossing(
    caps: Iterable[Cap], scope: Scope, cost: int, spent: Mapping[str, int], now: float
) -> Crossing | None:
    """The first applicable cap a request of `cost` would take past its limit, or None.

    `spent[cap_key(cap, scope, now)]` is what already counts against the cap (a missing key
    counts 0), reservations of requests in flight included. Of several crossed caps, the one
    that resets last is named (raising a daily cap is no use when the month is spent).
    """
    crossed = []
    for cap in applicable(caps, scope):
        used = spent.get(cap_key(cap, scope, now), 0)
        if used + cost > cap.limit:
            subject = subject_of(cap, scope) or ""
            crossed.append(Crossing(cap, used, cost, subject, resets_at(cap.kind, now)))
    if not crossed:
        return None
    return max(  # on the last day of a month, the monthly cap over the daily one
        crossed,
        key=lambda c: (float("inf") if c.resets_at is None else c.resets_at, c.cap.kind != "daily"),
    )


def message(crossed: Crossing, now: float) -> str:
    """'spend limit reached (daily; resets 00:00 UTC): 200/200 credits used by account work'."""
    cap = crossed.cap
    text = (
        f"spend limit reached ({cap_name(cap)}; {reset_text(cap.kind, now)}): "
        f"{crossed.spent}/{cap.limit} credits used by {crossed.subject}"
    )
    if crossed.spent + 1 <= cap.limit:  # room left, but not for this request's price
        text += f"; this request costs {crossed.cost}"
    return text


def hint(crossed: Crossing) -> str:
    """What to run to raise the cap that stopped a request."""
    cap = crossed.cap
    option = {"daily": "--daily", "monthly": "--monthly", "session": "--session"}.get(
        cap.kind, "--project"
    )
    extra = f" --account {cap.account}" if cap.account else ""
    if cap.kind == "project" and cap.project:
        extra = f" --project-name {cap.project}"
    return f"Raise it with `kimrel budget set {option} N{extra}` or remove it with `kimrel budget clear`."


def crossed_warning(cap: Cap, before: int, after: int) -> bool:
    """True when spending from `before` to `after` passes the cap's warning threshold."""
    if cap.limit <= 0 or cap.warn <= 0:
        return False
    line = cap.warn * cap.limit
    return before * 100 < line <= after * 100


def statuses(
    caps: Iterable[Cap], scope: Scope, spent: Mapping[str, int], now: float
) -> list[CapStatus]:
    """Every applicable cap with its spent figure."""
    out = []
    for cap in applicable(caps, scope):
        out.append(
            CapStatus(
                cap,
                subject_of(cap, scope) or "",
                spent.get(cap_key(cap, scope, now), 0),
                resets_at(cap.kind, now),
                name=cap_name(cap),
            )
        )
    return out


def tightest_left(
    caps: Iterable[Cap], scope: Scope, spent: Mapping[str, int], now: float | None = None
) -> tuple[str, int, int] | None:
    """(cap name, credits left, limit) of the applicable cap with the fewest credits left."""
    now = time.time() if now is None else now
    found = statuses(caps, scope, spent, now)
    if not found:
        return None
    best = min(found, key=lambda s: (s.left, s.cap.limit))
    return best.name, best.left, best.cap.limit


# ---- figures from the usage ledger ---------------------------------------------------------


def spent_from_ledger(
    conn: sqlite3.Connection | None,
    caps: Iterable[Cap],
    scope: Scope,
    now: float,
    *,
    until: float | None = None,
) -> dict[str, int]:
    """`cap_key → credits charged` in each applicable cap's window, from the ledger."""
    from kimrel_cli.usage import ledger

    out: dict[str, int] = {}
    for cap in applicable(caps, scope):
        key = cap_key(cap, scope, now)
        if conn is None:
            out[key] = 0
            continue
        out[key] = ledger.spent(
            conn, since=window_start(cap.kind, now), until=until, **ledger_filter(cap, scope)
        )
    return out


def all_statuses(conn: sqlite3.Connection | None, budgets: Budgets, now: float) -> list[CapStatus]:
    """Every cap on file with what its subject spent (`kimrel budget show`).

    A session cap or a project cap without a name shows the session / project that spent the
    most in its window (its subject), since that is the one nearest the line.
    """
    out: list[CapStatus] = []
    for cap in budgets.caps:
        scope = Scope(account=cap.account, project=cap.project)
        if cap.kind in ("session", "project") and not (cap.kind == "project" and cap.project):
            column = "session_id" if cap.kind == "session" else "project"
            top = _top_subject(conn, column, window_start(cap.kind, now))
            if top is None:
                label = "each session" if cap.kind == "session" else "each project"
                out.append(CapStatus(cap, label, 0, resets_at(cap.kind, now), name=cap_name(cap)))
                continue
            scope = Scope(session_id=top) if cap.kind == "session" else Scope(project=top)
        spent = spent_from_ledger(conn, [cap], scope, now)
        status = statuses([cap], scope, spent, now)[0]
        if cap.kind == "session" or (cap.kind == "project" and not cap.project):
            status.extra["highest"] = True
        out.append(status)
    return out


def _top_subject(conn: sqlite3.Connection | None, column: str, since: float | None) -> str | None:
    if conn is None:
        return None
    where = f"{column} IS NOT NULL" + (" AND ts >= ?" if since is not None else "")
    args = [since] if since is not None else []
    row = conn.execute(
        f"SELECT {column} FROM requests WHERE {where} GROUP BY {column} "
        "ORDER BY SUM(credits_charged) DESC LIMIT 1",
        args,
    ).fetchone()
    return None if row is None else str(row[0])


def left_for(scope: Scope, now: float | None = None) -> tuple[str, int, int] | None:
    """`tightest_left` from the files on disk; None when no cap applies or nothing is readable."""
    from kimrel_cli.usage import ledger

    now = time.time() if now is None else now
    try:
        budgets = load()
    except BudgetFileError:
        return None
    caps = applicable(budgets.caps, scope)
    if not caps:
        return None
    try:
        conn = ledger.open_readonly()
    except ledger.LedgerError:
        conn = None
    try:
        return tightest_left(caps, scope, spent_from_ledger(conn, caps, scope, now), now)
    finally:
        if conn is not None:
            conn.close()


def new_cap(
    kind: str,
    limit: int,
    *,
    warn: int | None = None,
    account: str | None = None,
    project: str | None = None,
) -> Cap:
    """A cap as `kimrel budget set` makes it (account only on daily/monthly, project only on
    project caps)."""
    cap = Cap(kind=kind, limit=limit, warn=DEFAULT_WARN if warn is None else warn)
    if kind in ("daily", "monthly"):
        cap = replace(cap, account=account)
    if kind == "project":
        cap = replace(cap, project=project)
    return cap


class SpendCheck:
    """The caps for a process that calls the API itself (`kimrel chat`), without the relay.

    `check(cost)` raises SpendLimitReached before a request that would cross a cap;
    `charged(cost)` counts a billed one. What counts: the ledger as it is now, or, if more,
    the ledger as it was at the start plus what this process charged since (the ledger's
    writer may not have written this process's rows yet; nothing is counted twice).
    """

    def __init__(self, scope: Scope, *, path: Path | None = None, now: float | None = None) -> None:
        self.scope = scope
        self.path = path
        self.started_at = time.time() if now is None else now
        self.own: dict[str, int] = {}  # cap window id → credits this process charged
        self._seed: dict[str, int] = {}

    def _figures(self, now: float) -> tuple[list[Cap], dict[str, int]]:
        from kimrel_cli.usage import ledger

        try:
            caps = applicable(load(self.path).caps, self.scope)
        except BudgetFileError:
            return [], {}
        if not caps:
            return [], {}
        try:
            conn = ledger.open_readonly()
        except ledger.LedgerError:
            conn = None
        try:
            spent = spent_from_ledger(conn, caps, self.scope, now)
            for cap in caps:
                key = cap_key(cap, self.scope, now)
                if key not in self._seed:
                    seed = spent_from_ledger(conn, [cap], self.scope, now, until=self.started_at)
                    self._seed[key] = seed.get(key, 0)
                mine = self.own.get(f"{cap.kind}|{window_id(cap.kind, now)}", 0)
                spent[key] = max(spent[key], self._seed[key] + mine)
        except sqlite3.Error:
            spent = {cap_key(cap, self.scope, now): 0 for cap in caps}
        finally:
            if conn is not None:
                conn.close()
        return caps, spent

    def check(self, cost: int, now: float | None = None) -> None:
        from kimrel_cli.errors import SpendLimitReached

        now = time.time() if now is None else now
        caps, spent = self._figures(now)
        crossed = crossing(caps, self.scope, cost, spent, now)
        if crossed is not None:
            raise SpendLimitReached(
                message(crossed, now),
                hint=hint(crossed),
                cap=cap_name(crossed.cap),
                resets_at=crossed.resets_at,
            )

    def charged(self, cost: int, now: float | None = None) -> None:
        now = time.time() if now is None else now
        for kind in KINDS:
            key = f"{kind}|{window_id(kind, now)}"
            self.own[key] = self.own.get(key, 0) + cost

    def left(self, now: float | None = None) -> tuple[str, int, int] | None:
        """`tightest_left` for this process's scope, or None without caps."""
        now = time.time() if now is None else now
        caps, spent = self._figures(now)
        return tightest_left(caps, self.scope, spent, now) if caps else None
