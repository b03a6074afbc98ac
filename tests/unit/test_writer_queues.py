"""The queues the request path hands records through (the relay's log, the usage ledger) wait no
longer than their writer threads ask.

CPython's `queue.SimpleQueue.get(timeout=t)` (3.10 to 3.12 at least) can wait for the next put
instead of `t`: when its first lock try succeeds and the deadline passes before it re-arms, it
waits with a negative timeout, which means forever. The dashboard's writer asked for a few
microseconds at a time and froze the live panel until the relay's next request (CI's 3.10 run);
the ledger's writer would have held rows back the same way. The pattern below trips a
SimpleQueue now and then (about once per 2 s on 3.10 here, more often on 3.11); each writer's
own queue must never trip it. With a SimpleQueue put back into the relay's log, its test failed
in 5 of 10 runs on 3.10 and 9 of 10 on 3.11; CI runs both.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from kimrel_cli.relay.dashboard import RequestLog
from kimrel_cli.usage.ledger import LedgerWriter

ROUNDS = 3000
STUCK = 0.1  # seconds: a wait of 1 ns that took this long waited for a put


def longest_short_wait(q: Any, rounds: int = ROUNDS, budget: float = 10.0) -> float:
    """The longest `get(timeout=1e-9)` on an empty `q` over `rounds` rounds (or `budget`
    seconds; it stops at the first stuck wait), each set up so the queue's internal lock is
    free when the get starts (a waiting get, a put, a get). A helper thread puts every 0.2 s,
    so a get that waits for a put comes back."""
    stop = threading.Event()

    def rescue() -> None:
        while not stop.wait(0.2):
            q.put("rescue")

    helper = threading.Thread(target=rescue, daemon=True)
    helper.start()
    longest = 0.0
    deadline = time.monotonic() + budget
    try:
        for _ in range(rounds):
            try:
                q.get(timeout=1e-4)
            except queue.Empty:
                pass
            q.put("item")
            q.get()
            started = time.monotonic()
            try:
                q.get(timeout=1e-9)
            except queue.Empty:
                pass
            longest = max(longest, time.monotonic() - started)
            if longest > STUCK or time.monotonic() > deadline:
                break
            while True:
                try:
                    q.get_nowait()
                except queue.Empty:
                    break
    finally:
        stop.set()
        helper.join()
    return longest


@pytest.mark.skipif(sys.version_info >= (3, 13), reason="3.13's SimpleQueue checks its deadline")
def test_the_probe_trips_a_simple_queue():
    """The probe can fail: it finds a SimpleQueue's get waiting for a put (in 1 to 4 s on 3.10
    here, less on 3.11; at about one trip per 2 s, 20 s all but never pass without one)."""
    assert longest_short_wait(queue.SimpleQueue(), rounds=10**9, budget=20.0) > STUCK


def test_the_relay_logs_queue_waits_no_longer_than_asked():
    log = RequestLog("silent")
    assert longest_short_wait(log._queue) < STUCK


def test_the_usage_ledgers_queue_waits_no_longer_than_asked(tmp_path: Path):
    writer = LedgerWriter(tmp_path / "usage.db")
    assert longest_short_wait(writer._queue) < STUCK
