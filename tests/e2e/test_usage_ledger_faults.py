"""A usage ledger that cannot be written never fails or slows a request: read-only, locked by
another process, or corrupt, the relay logs one warning and answers as fast as ever."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import sys
import time

import pytest

from kimrel_cli.relay.context import RelayConfig
from kimrel_cli.relay.dashboard import RequestLog
from kimrel_cli.relay.run import start_relay_in_thread
from kimrel_cli.usage.ledger import iter_rows, open_ledger, open_readonly
from tests.support import sdk
from tests.support.relay_idle import settle, wait_until_idle

TOKEN = "kr-local-ledger-faults"
HI = [{"role": "user", "content": "hi"}]
PROMPT = 1.5  # seconds: under the ledger's 2 s busy timeout, which a request must never wait for


@contextlib.contextmanager
def relay_writing(simulator, path):
    """A relay whose ledger is `path`, with its log (warnings only) in a StringIO."""
    out = io.StringIO()
    relay = start_relay_in_thread(
        RelayConfig(
            api_key="sk-sim-demo",
            base_url=simulator,
            token=TOKEN,
            max_retries=0,
            log=RequestLog("quiet", stream=out),
            ledger=path,
        )
    )
    try:
        yield relay, out
    finally:
        relay.stop()


def send(relay, n):
    """n requests (streaming and not), each answered promptly."""
    client = sdk.openai_client(
        base_url=relay.url + "/v1", api_key=TOKEN, max_retries=0, timeout=PROMPT
    )
    for i in range(n):
        began = time.monotonic()
        if i % 2:
            chunks = list(client.chat.completions.create(model="kimi-k2", messages=HI, stream=True))
            assert chunks
        else:
            answer = client.chat.completions.create(model="kimi-k2", messages=HI)
            assert answer.choices[0].message.content
        assert time.monotonic() - began < PROMPT


def run_requests(simulator, path, n=4):
    """n requests through a relay writing to `path`; the log's text and the ledger's writer."""
    with relay_writing(simulator, path) as (relay, out):
        send(relay, n)
        assert relay.ctx.ledger is not None
        settle(relay.ctx)
        return out.getvalue(), relay.ctx.ledger


def ledger_warnings(text):
    return [line for line in text.splitlines() if "usage ledger" in line]


def test_a_corrupt_ledger_costs_one_warning_and_no_request(simulator, tmp_path):
    path = tmp_path / "usage.sqlite3"
    path.write_bytes(os.urandom(8192))
    text, writer = run_requests(simulator, path)
    assert len(ledger_warnings(text)) == 1, text
    assert "warning" in text and "not a database" in text
    assert writer.written == 0 and writer.dropped == 4


@contextlib.contextmanager
def read_only(path):
    """The file read-only even for root (chattr +i), else by its mode."""
    if os.geteuid() == 0:
        if shutil.which("chattr") is None:
            pytest.skip("running as root without chattr: cannot make a file read-only")
        made = subprocess.run(["chattr", "+i", str(path)], capture_output=True)
        if made.returncode != 0:
            pytest.skip(f"chattr +i refused here: {made.stderr.decode().strip()}")
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", str(path)], check=True)
    else:
        path.chmod(0o444)
        yield


def test_a_read_only_ledger_costs_one_warning_and_no_request(simulator, tmp_path):
    path = tmp_path / "usage.sqlite3"
    open_ledger(path).close()
    with read_only(path):
        text, writer = run_requests(simulator, path)
    assert len(ledger_warnings(text)) == 1, text
    assert "readonly" in text or "read-only" in text
    assert writer.written == 0


LOCKER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
conn.execute("INSERT INTO requests (ts, protocol, client, status, stream) VALUES (0, 'chat', 'other', 200, 0)")
print("locked", flush=True)
sys.stdin.read()
conn.execute("ROLLBACK")
"""


def test_a_ledger_locked_by_another_process_costs_one_warning_and_no_row(simulator, tmp_path):
    path = tmp_path / "usage.sqlite3"
    open_ledger(path).close()
    locker = subprocess.Popen(
        [sys.executable, "-c", LOCKER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert locker.stdout is not None and locker.stdout.readline().strip() == "locked"
        with relay_writing(simulator, path) as (relay, out):
            send(relay, 6)
            assert wait_until_idle(relay.ctx)  # every row handed to the writer
            writer = relay.ctx.ledger
            assert writer is not None
            assert not writer.flush(3.0)  # the rows wait past the 2 s busy timeout…
            assert writer.written == 0 and writer.dropped == 0
            locker.communicate("", timeout=10)  # … which clears
            assert writer.flush(10.0)
            assert writer.written == 6 and writer.dropped == 0
            relay.ctx.log.flush()
            text = out.getvalue()
    finally:
        if locker.poll() is None:
            locker.kill()
            locker.wait(10)
    assert len(ledger_warnings(text)) == 1, text
    assert "locked" in text
    conn = open_readonly(path)
    assert conn is not None and len(list(iter_rows(conn))) == 6  # the locker's row rolled back
    conn.close()
