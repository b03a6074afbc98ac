"""Stopping a real `kimrel serve` process with streams in flight (issue 11.8): one line, no
tracebacks, every stream ended with an error event in its protocol and logged as aborted (499)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import httpx
import pytest

SLOW = {"x-kimrel-fault": "chunk_delay=1"}
PROMPT = "hello there, how are you today?"
REQUESTS = {
    "/v1/messages": {"messages": [{"role": "user", "content": PROMPT}], "max_tokens": 100},
    "/v1/chat/completions": {"messages": [{"role": "user", "content": PROMPT}]},
    "/v1/responses": {"input": PROMPT},
}
LAST_EVENT = {
    "/v1/messages": '"type": "error"',
    "/v1/chat/completions": '"code": "relay_stopped"',
    "/v1/responses": '"type": "response.failed"',
}


def _stream(url: str, path: str, out: dict[str, str]) -> None:
    body = {"model": "kimi-k2", "stream": True, **REQUESTS[path]}
    text = ""
    try:
        with httpx.stream("POST", url + path, json=body, headers=SLOW, timeout=20) as answer:
            for chunk in answer.iter_text():
                text += chunk
    except httpx.HTTPError as exc:
        text += f"\n<broken: {type(exc).__name__}>"
    out[path] = text


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_stopping_with_streams_in_flight_is_quiet_and_logs_them_aborted(signum):
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kimrel_cli",
            "serve",
            "--simulate",
            "--log-json",
            "--no-auth",
            "--port",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    try:
        assert proc.stdout is not None
        url = json.loads(proc.stdout.readline())["url"]
        got: dict[str, str] = {}
        threads = [threading.Thread(target=_stream, args=(url, p, got)) for p in REQUESTS]
        for thread in threads:
            thread.start()
        time.sleep(2.5)  # every stream has sent its first chunks (one a second)
        stop_started = time.monotonic()
        proc.send_signal(signum)
        stdout, stderr = proc.communicate(timeout=15)
        stop_took = time.monotonic() - stop_started
        for thread in threads:
            thread.join(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    assert "Traceback" not in stderr and "ERROR" not in stderr, stderr[-3000:]
    events = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    requests = [e for e in events if e.get("event") == "request"]
    assert sorted(e["route"] for e in requests) == sorted(REQUESTS)
    assert all(e["status"] == 499 and "aborted: relay stopped" in e["error"] for e in requests)
    assert any("3 streams in flight aborted" in json.dumps(e) for e in events), events
    for path, text in got.items():
        assert "Simulate" in text and LAST_EVENT[path] in text.strip().splitlines()[-1], text
    assert stop_took < 5
