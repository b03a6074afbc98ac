"""`kimrel serve` keeps the ledger in the state dir: a finished request and a stream the relay
stopped (SIGTERM) are both there once the process has exited (queued rows are written first)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import httpx

from kimrel_cli.usage.ledger import iter_rows, ledger_path, open_readonly

HI = [{"role": "user", "content": "hello there, a slow one"}]


def test_serve_records_into_the_state_dir_and_writes_everything_before_it_exits():
    serve = ["serve", "--simulate", "--log-json", "--no-auth", "--port", "0"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "kimrel_cli", *serve],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    try:
        assert proc.stdout is not None
        url = json.loads(proc.stdout.readline())["url"]
        done = httpx.post(
            url + "/v1/chat/completions", json={"model": "kimi-k2.6", "messages": HI}, timeout=10
        )
        assert done.status_code == 200

        def slow() -> None:
            body = {"model": "kimi-k2", "messages": HI, "stream": True}
            headers = {"x-kimrel-fault": "chunk_delay=0.5"}
            try:
                with httpx.stream(
                    "POST", url + "/v1/chat/completions", json=body, headers=headers, timeout=20
                ) as answer:
                    for _ in answer.iter_bytes():
                        pass
            except httpx.HTTPError:
                pass

        thread = threading.Thread(target=slow)
        thread.start()
        time.sleep(1.2)  # the stream has begun
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=15)
        thread.join(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    conn = open_readonly(ledger_path())
    assert conn is not None
    rows = list(iter_rows(conn))
    conn.close()
    assert [(r.status, r.stream, r.credits_charged, r.error_code) for r in rows] == [
        (200, False, 3, None),
        (499, True, 0, "relay_stopped"),
    ]
    assert all(r.account == "simulator" and r.protocol == "chat" for r in rows)
