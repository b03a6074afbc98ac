"""The ledger's two read-only queries the status line needs, importable in a millisecond.

`ledger.py` is the ledger (schema, writer thread, queries) and imports dataclasses, pathlib,
queue and threading at the top: together more than the status line's whole time budget on a
busy machine. These two functions are `ledger.open_readonly` and `ledger.spent(conn,
session_id=…)` on sqlite3's C module alone (the `sqlite3` package also imports datetime and
registers its adapters, which the status line never uses); tests/unit/test_statusline.py checks
they agree with ledger.py on the same databases (and that the file name and schema version
match).
"""

from __future__ import annotations

import os

try:
    import _sqlite3 as sqlite3  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # pragma: no cover - a Python whose sqlite3 is not CPython's
    import sqlite3  # type: ignore[no-redef]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

Error = sqlite3.Error  # what a query may raise (the same class as sqlite3.Error)

FILE_NAME = "usage.sqlite3"  # ledger.FILE_NAME
SCHEMA_VERSION = 1  # ledger.SCHEMA_VERSION


class LedgerUnreadable(Exception):
    """The ledger exists but cannot be read (corrupt, locked, from a newer kimrel)."""


def open_readonly(path: str) -> Any:
    """The ledger at `path` for reading only, or None when there is none yet (as ledger's)."""
    if not os.path.exists(path):
        return None
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1.0)
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.Error as exc:
        raise LedgerUnreadable(f"cannot read the usage ledger {path}: {exc}") from exc
    if version == 0 or version > SCHEMA_VERSION:
        conn.close()
        if version:
            raise LedgerUnreadable(f"the usage ledger has schema {version}, newer than ours")
        return None
    return conn


def session_spent(conn: Any, session_id: str) -> int:
    """Credits charged to one session (`ledger.spent(conn, session_id=…)`)."""
    row = conn.execute(
        "SELECT COALESCE(SUM(credits_charged), 0) FROM requests WHERE session_id = ?",
        (session_id,),
    )
    return int(row.fetchone()[0])
