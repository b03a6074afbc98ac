"""The ledger's schema: created in an empty file, migrated forward from an old one, refused when
newer than this kimrel; the writer batches off the caller's thread and flushes on close."""

from __future__ import annotations

import sqlite3

import pytest

from kimrel_cli.usage.ledger import (
    SCHEMA_VERSION,
    LedgerError,
    LedgerWriter,
    UsageRow,
    insert_rows,
    iter_rows,
    open_ledger,
    open_readonly,
    prune,
    spent,
    spent_after,
)


def a_row(ts=1.0, charged=1, **kw):
    return UsageRow(
        ts=ts,
        protocol="chat",
        client="other",
        status=200,
        stream=False,
        credits_charged=charged,
        **kw,
    )


def test_an_empty_file_becomes_a_ledger_at_the_current_version(tmp_path):
    path = tmp_path / "usage.sqlite3"
    path.write_bytes(b"")
    conn = open_ledger(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    insert_rows(conn, [a_row()])
    conn.close()
    ro = open_readonly(path)
    assert ro is not None and [r.credits_charged for r in iter_rows(ro)] == [1]
    ro.close()


def test_an_old_database_without_the_table_is_migrated_and_keeps_its_other_data(tmp_path):
    path = tmp_path / "usage.sqlite3"
    old = sqlite3.connect(path)
    old.execute("CREATE TABLE notes (text TEXT)")
    old.execute("INSERT INTO notes VALUES ('kept')")
    old.commit()
    old.close()
    assert open_readonly(path) is None  # version 0: nothing to read yet, and not created
    conn = open_ledger(path)
    assert conn.execute("SELECT text FROM notes").fetchall() == [("kept",)]
    insert_rows(conn, [a_row(ts=5, charged=3, account="a"), a_row(ts=9, charged=2)])
    assert spent(conn) == 5 and spent(conn, account="a") == 3 and spent(conn, since=6) == 2
    assert prune(conn, before=6) == 1 and spent(conn) == 2
    conn.close()


def test_a_ledger_from_a_newer_kimrel_is_refused_not_rewritten(tmp_path):
    path = tmp_path / "usage.sqlite3"
    newer = sqlite3.connect(path)
    newer.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    newer.close()
    with pytest.raises(LedgerError, match="newer"):
        open_ledger(path)
    with pytest.raises(LedgerError, match="newer"):
        open_readonly(path)
    warnings = []
    writer = LedgerWriter(path, on_warning=warnings.append, batch_wait=0.01)
    writer.submit(a_row())
    writer.submit(a_row())
    assert writer.flush(5)
    writer.close()
    assert len(warnings) == 1 and "newer" in warnings[0]
    assert writer.dropped == 2


def test_the_writer_writes_every_row_it_was_given_by_close(tmp_path):
    path = tmp_path / "usage.sqlite3"
    writer = LedgerWriter(path, batch_wait=0.5)
    for n in range(300):
        writer.submit(a_row(ts=float(n)))
    writer.close()
    conn = open_readonly(path)
    assert conn is not None
    assert [r.ts for r in iter_rows(conn)] == [float(n) for n in range(300)]
    conn.close()


def test_rows_wait_for_a_lock_but_never_more_than_hold_max(tmp_path):
    import time

    path = tmp_path / "usage.sqlite3"
    open_ledger(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    warnings = []
    writer = LedgerWriter(
        path, on_warning=warnings.append, batch_wait=0.05, lock_retry=0.1, hold_max=2
    )
    for n in range(5):
        writer.submit(a_row(ts=float(n)))
    deadline = time.monotonic() + 10
    while writer.dropped < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert writer.dropped == 3 and writer.written == 0  # the oldest went
    holder.execute("ROLLBACK")
    holder.close()
    assert writer.flush(10)
    writer.close()
    assert writer.written == 2 and len(warnings) == 1 and "locked" in warnings[0]
    conn = open_readonly(path)
    assert conn is not None and [r.ts for r in iter_rows(conn)] == [3.0, 4.0]
    conn.close()


def test_spent_after_reads_only_the_rows_added_since_its_last_answer(tmp_path):
    conn = open_ledger(tmp_path / "usage.sqlite3")
    insert_rows(
        conn, [a_row(ts=10.0, charged=2, account="w"), a_row(ts=1.0, charged=5, account="w")]
    )
    first, newest = spent_after(conn, 0, since=5.0, account="w")
    assert (first, newest) == (2, 2)  # the row before `since` is not counted
    insert_rows(conn, [a_row(ts=11.0, charged=3, account="w"), a_row(ts=12.0, charged=7)])
    assert spent_after(conn, newest, since=5.0, account="w") == (3, 4)
    assert spent_after(conn, 4, since=5.0, account="w") == (0, 4)  # nothing new
    # what SQLite walks: the rowid range after a read, the time window's index on a first one
    # (a rowid bound there would walk every row the ledger has ever kept)
    for after_id, walks in ((2, "INTEGER PRIMARY KEY"), (0, "requests_ts")):
        statements: list[str] = []
        conn.set_trace_callback(statements.append)
        spent_after(conn, after_id, since=5.0, account="w")
        conn.set_trace_callback(None)
        (query,) = [q for q in statements if "SUM(" in q]
        plan = str(conn.execute("EXPLAIN QUERY PLAN " + query).fetchall())
        assert walks in plan, (after_id, plan)
    conn.close()
