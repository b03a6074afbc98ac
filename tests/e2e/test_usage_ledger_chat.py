"""`kimrel chat --simulate` writes one ledger row per request it sends (protocol "repl", client
"kimrel-chat"): streamed, whole (--json), refused, and stopped with Ctrl-C; flushed on exit."""

from __future__ import annotations

import os
import subprocess
import sys

from kimrel_cli.usage.ledger import iter_rows, ledger_path, open_readonly
from tests.e2e.test_chat_pty import leave, spawn, type_line


def chat(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kimrel_cli", "chat", "--simulate", *args],
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def rows():
    conn = open_readonly(ledger_path())
    if conn is None:
        return []
    try:
        return list(iter_rows(conn))
    finally:
        conn.close()


def test_one_shot_answers_and_a_refusal_are_each_one_row():
    assert chat("--model", "kimi-k2.6", "-m", "hi").returncode == 0
    assert chat("--model", "kimi-k2", "-m", "hi", "--json").returncode == 0
    refused = chat("--model", "kimi-k2", "-m", "hi", "--simulate-fault", "status=403")
    assert refused.returncode == 1
    got = rows()  # written before each chat exited
    assert [(r.stream, r.status, r.credits_charged, r.model) for r in got] == [
        (True, 200, 3, "kimi-k2.6"),
        (False, 200, 1, "kimi-k2"),
        (True, 403, 0, "kimi-k2"),
    ]
    for row in got:
        assert (row.protocol, row.client, row.account) == ("repl", "kimrel-chat", "simulator")
        assert row.latency_ms is not None and row.user_agent.startswith("kimrel/")
    assert got[0].credits_after == 997 and got[1].credits_after == 999
    assert got[0].tokens_in and got[0].tokens_out and got[0].ttfb_ms is not None
    assert got[2].error_code == "insufficient_credits"


def test_a_stopped_answer_is_a_499_row_that_cost_nothing():
    child = spawn("--model", "kimi-k2", "--simulate-fault", "chunk_delay=0.4")
    type_line(child, "a slow one please")
    child.expect("Simulated")
    child.sendintr()
    child.expect("interrupted")
    type_line(child, "and a quick one")  # the fault slows this one too, but it completes
    child.expect("credits left")
    leave(child)
    got = rows()
    assert [(r.status, r.error_code, r.credits_charged) for r in got] == [
        (499, "interrupted", 0),
        (200, None, 1),
    ]
