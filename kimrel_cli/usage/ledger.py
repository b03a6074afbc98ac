"""The usage ledger: one row per request kimrel makes upstream, in SQLite (WAL) in the state dir.

Writers never sit on a request's path: `LedgerWriter.submit` is a queue put, and a daemon
thread writes rows in batches. A database another process holds locked costs one warning and
its rows wait until the lock clears; one that is read-only or corrupt costs one warning (through
`on_warning`) and the rows of that batch; a request never fails or waits for it. The schema carries its version in `PRAGMA user_version` and `migrate` moves it forward.

Credits: `credits_charged` is the price-table charge of a request the API billed (0 for one it
did not: failed, refused, or a stream cut short); `credits_after` is the balance the API
reported on that request's answer (`X-Credits-Remaining`). Both are kept so a report can
reconcile what the ledger says was spent against how far the balance fell.
"""

from __future__ import annotations

import contextlib
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import astuple, dataclass, fields
from pathlib import Path

SCHEMA_VERSION = 1
FILE_NAME = "usage.sqlite3"

# Client protocols a row can carry (the relay's three routes, and `kimrel chat`).
PROTOCOLS = ("anthropic", "chat", "responses", "repl")


@dataclass(frozen=True)
class UsageRow:
    """One upstream request as the ledger keeps it (field order = column order)."""

    ts: float  # epoch seconds when the request arrived
    protocol: str  # one of PROTOCOLS
    client: str  # "claude-code", "codex", "openai-sdk", "anthropic-sdk", "kimrel-chat", "other"
    status: int  # HTTP status the client got (499: a stream cut short)
    stream: bool
    credits_charged: int  # price-table charge when the API billed it, else 0
    account: str | None = None
    user_agent: str | None = None
    model_requested: str | None = None  # the name the client asked for
    model: str | None = None  # the upstream model id it was routed to
    error_code: str | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    tokens_reasoning: int | None = None
    ttfb_ms: float | None = None
    latency_ms: float | None = None
    credits_after: int | None = None  # X-Credits-Remaining on this request's answer
    session_id: str | None = None  # x-claude-code-session-id, Codex's session id, …
    agent_id: str | None = None
    parent_agent_id: str | None = None
    project: str | None = None  # directory name `kimrel launch` ran in


COLUMNS = tuple(f.name for f in fields(UsageRow))

_CREATE_V1 = """
CREATE TABLE IF NOT EXISTS requests (
    id INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    protocol TEXT NOT NULL,
    client TEXT NOT NULL,
    status INTEGER NOT NULL,
    stream INTEGER NOT NULL,
    credits_charged INTEGER NOT NULL DEFAULT 0,
    account TEXT,
    user_agent TEXT,
    model_requested TEXT,
    model TEXT,
    error_code TEXT,
    tokens_in INTEGER,
    tokens_out INTEGER,
    tokens_reasoning INTEGER,
    ttfb_ms REAL,
    latency_ms REAL,
    credits_after INTEGER,
    session_id TEXT,
    agent_id TEXT,
    parent_agent_id TEXT,
    project TEXT
);
CREATE INDEX IF NOT EXISTS requests_ts ON requests (ts);
CREATE INDEX IF NOT EXISTS requests_session ON requests (session_id);
CREATE INDEX IF NOT EXISTS requests_project ON requests (project);
"""

# MIGRATIONS[n] takes a database at version n to n + 1.
MIGRATIONS: dict[int, str] = {0: _CREATE_V1}


class LedgerError(Exception):
    """The ledger cannot be read or written (locked, read-only, corrupt, newer schema)."""


def ledger_path() -> Path:
    from kimrel_cli import paths

    return paths.state_dir() / FILE_NAME


def migrate(conn: sqlite3.Connection) -> None:
    """Bring the schema up to SCHEMA_VERSION; refuse a database from a newer kimrel."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise LedgerError(
            f"the usage ledger has schema {version}, newer than this kimrel's {SCHEMA_VERSION}"
        )
    while version < SCHEMA_VERSION:
        with conn:
            conn.executescript(MIGRATIONS[version])
            conn.execute(f"PRAGMA user_version = {version + 1}")
        version += 1


def open_ledger(path: Path | None = None, *, busy_timeout: float = 2.0) -> sqlite3.Connection:
    """Open (creating it 0600 in a 0700 dir if missing) the ledger for writing, migrated."""
    path = path or ledger_path()
    try:
        from kimrel_cli import paths

        paths.ensure_dir(path.parent)
        if not path.exists():
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        conn = sqlite3.connect(path, timeout=busy_timeout, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        migrate(conn)
        return conn
    except (sqlite3.Error, OSError) as exc:
        raise LedgerError(f"cannot open the usage ledger {path}: {exc}") from exc


def open_readonly(path: Path | None = None) -> sqlite3.Connection | None:
    """The ledger for reading only, or None when there is none yet. Never creates or migrates."""
    path = path or ledger_path()
    if not path.exists():
        return None
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1.0)
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.Error as exc:
        raise LedgerError(f"cannot read the usage ledger {path}: {exc}") from exc
    if version == 0:
        conn.close()
        return None
    if version > SCHEMA_VERSION:
        conn.close()
        raise LedgerError(f"the usage ledger has schema {version}, newer than {SCHEMA_VERSION}")
    return conn


def insert_rows(conn: sqlite3.Connection, rows: Iterable[UsageRow]) -> int:
    """Write rows in one transaction; returns how many."""
    items = [astuple(r) for r in rows]
    if items:
        sql = (
            f"INSERT INTO requests ({', '.join(COLUMNS)}) "
            f"VALUES ({', '.join('?' for _ in COLUMNS)})"
        )
        with conn:
            conn.executemany(sql, items)
    return len(items)


def iter_rows(
    conn: sqlite3.Connection, *, since: float | None = None, until: float | None = None
) -> Iterator[UsageRow]:
    """Rows in time order, optionally from `since` (inclusive) to `until` (exclusive)."""
    where, args = _window(since, until)
    cursor = conn.execute(f"SELECT {', '.join(COLUMNS)} FROM requests{where} ORDER BY ts, id", args)
    for values in cursor:
        data = dict(zip(COLUMNS, values, strict=True))
        data["stream"] = bool(data["stream"])
        yield UsageRow(**data)


def spent(
    conn: sqlite3.Connection,
    *,
    since: float | None = None,
    until: float | None = None,
    account: str | None = None,
    session_id: str | None = None,
    project: str | None = None,
    protocol: str | None = None,
) -> int:
    """Credits charged in a window, optionally for one account, session, project or protocol."""
    return _spent(conn, since, until, None, account, session_id, project, protocol)


def spent_after(
    conn: sqlite3.Connection,
    after_id: int,
    *,
    since: float | None = None,
    account: str | None = None,
    protocol: str | None = None,
) -> tuple[int, int]:
    """`spent` of only the rows added after row `after_id` (0: all of them), and the newest
    row's id: pass that back as `after_id` to read what was added since (a rowid range, cheap
    whatever the ledger's size)."""
    newest = int(conn.execute("SELECT COALESCE(MAX(id), 0) FROM requests").fetchone()[0])
    credits = _spent(conn, since, None, (after_id, newest), account, None, None, protocol)
    return credits, newest


def _spent(
    conn: sqlite3.Connection,
    since: float | None,
    until: float | None,
    ids: tuple[int, int] | None,
    account: str | None,
    session_id: str | None,
    project: str | None,
    protocol: str | None,
) -> int:
    where, args = _window(since, until)
    if ids is not None and ids[0] > 0:  # the rows after a read: a rowid range
        where += (" AND " if where else " WHERE ") + "id > ? AND id <= ?"
        args.extend(ids)
    elif ids is not None:  # a first read: `+id` keeps SQLite on the ts index, not every row
        where += (" AND " if where else " WHERE ") + "+id <= ?"
        args.append(ids[1])
    filters = (
        ("account", account),
        ("session_id", session_id),
        ("project", project),
        ("protocol", protocol),
    )
    for column, value in filters:
        if value is not None:
            where += (" AND " if where else " WHERE ") + f"{column} = ?"
            args.append(value)
    row = conn.execute(f"SELECT COALESCE(SUM(credits_charged), 0) FROM requests{where}", args)
    return int(row.fetchone()[0])


def prune(conn: sqlite3.Connection, *, before: float) -> int:
    """Delete rows older than `before` (epoch seconds); returns how many went."""
    with conn:
        cursor = conn.execute("DELETE FROM requests WHERE ts < ?", (before,))
    return cursor.rowcount


def _window(since: float | None, until: float | None) -> tuple[str, list[object]]:
    parts: list[str] = []
    args: list[object] = []
    if since is not None:
        parts.append("ts >= ?")
        args.append(since)
    if until is not None:
        parts.append("ts < ?")
        args.append(until)
    return (" WHERE " + " AND ".join(parts) if parts else ""), args


class LedgerWriter:
    """Writes UsageRows on a daemon thread, in batches; `submit` never blocks or raises.

    A database another process holds locked keeps its rows: they wait (up to `hold_max` of
    them, oldest dropped first) and are written once the lock clears, tried again every
    `lock_retry` seconds. Any other failure to open or write (read-only, corrupt, a newer
    schema, a full disk) costs one warning per distinct problem (never one per row) and the rows
    of that batch; the writer tries to reopen the database at most every `retry_after` seconds,
    so a problem that goes away heals by itself.
    """

    def __init__(
        self,
        path: Path | None = None,
        *,
        on_warning: Callable[[str], None] | None = None,
        batch_max: int = 256,
        batch_wait: float = 0.2,
        retry_after: float = 30.0,
        lock_retry: float = 1.0,
        hold_max: int = 10_000,
    ) -> None:
        self.path = path or ledger_path()
        self._on_warning = on_warning or (lambda _msg: None)
        # a Queue, not a SimpleQueue, whose get(timeout=t) can wait for the next put instead
        # of t before 3.13 (tests/unit/test_writer_queues.py): rows would sit until then
        self._queue: queue.Queue[UsageRow | None] = queue.Queue()
        self._batch_max = batch_max
        self._batch_wait = batch_wait
        self._retry_after = retry_after
        self._lock_retry = lock_retry
        self._hold_max = hold_max
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._warned: set[str] = set()
        self._pending = 0
        self._idle = threading.Condition()
        self.written = 0
        self.dropped = 0

    def submit(self, row: UsageRow) -> None:
        with self._idle:
            self._pending += 1
        self._queue.put(row)
        if self._thread is None:
            self._start()

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every submitted row is written or dropped; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued (up to `timeout`) and stop the thread."""
        if self._thread is None:
            return
        self._queue.put(None)
        self._thread.join(timeout)

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="kimrel-usage-ledger", daemon=True
                )
                self._thread.start()

    def _warn(self, message: str) -> None:
        if message not in self._warned:
            self._warned.add(message)
            with contextlib.suppress(Exception):
                self._on_warning(message)

    def _done(self, count: int, *, written: bool) -> None:
        if written:
            self.written += count
        else:
            self.dropped += count
        with self._idle:
            self._pending -= count
            self._idle.notify_all()

    def _next_batch(self, held: list[UsageRow]) -> tuple[list[UsageRow], bool]:
        """(new rows, stop): waits for the first row, or `lock_retry` while rows are held."""
        batch: list[UsageRow] = []
        try:
            first = self._queue.get(timeout=self._lock_retry if held else None)
        except queue.Empty:
            return batch, False
        if first is None:
            return batch, True
        batch.append(first)
        deadline = time.monotonic() + self._batch_wait
        while len(batch) < self._batch_max:
            try:
                item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if item is None:
                return batch, True
            batch.append(item)
        return batch, False

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        failed_at = float("-inf")
        held: list[UsageRow] = []  # rows kept while the database is locked
        stop = False
        while not stop:
            fresh, stop = self._next_batch(held)
            batch = held + fresh
            held = []
            if not batch:
                continue
            if conn is None and time.monotonic() - failed_at >= self._retry_after:
                try:
                    conn = open_ledger(self.path)
                except LedgerError as exc:
                    if _locked(exc.__cause__) and not stop:
                        held = self._hold(batch)
                        self._warn(f"usage ledger: {self.path} is locked; rows wait for it")
                        continue
                    failed_at = time.monotonic()
                    self._warn(f"usage ledger off: {exc}")
            if conn is None:
                self._done(len(batch), written=False)
                continue
            try:
                self._done(insert_rows(conn, batch), written=True)
            except sqlite3.Error as exc:
                if _locked(exc) and not stop:
                    held = self._hold(batch)
                    self._warn(f"usage ledger: {self.path} is locked; rows wait for it")
                    continue
                self._done(len(batch), written=False)
                self._warn(f"usage ledger: rows not recorded ({exc}) in {self.path}")
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
                conn, failed_at = None, time.monotonic()
        if conn is not None:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
        with self._idle:
            self._pending = 0
            self._idle.notify_all()

    def _hold(self, batch: list[UsageRow]) -> list[UsageRow]:
        """Keep rows for the next try; beyond `hold_max`, the oldest are dropped."""
        excess = len(batch) - self._hold_max
        if excess > 0:
            self._done(excess, written=False)
            return batch[excess:]
        return batch


def _locked(exc: BaseException | None) -> bool:
    """Whether a sqlite3 error only means another connection holds the database for now."""
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    text = str(exc).lower()
    return "locked" in text or "busy" in text
