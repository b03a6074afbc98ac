"""The relay's status file: written at start, after an answer moves the balance, on a heartbeat
only when nothing changes, and marked down at stop; `kimrel serve` does all of it."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

from kimrel_cli.relay.context import RelayConfig
from kimrel_cli.relay.run import start_relay_in_thread
from kimrel_cli.relay.status_writer import StatusWriter
from kimrel_cli.usage import relay_status
from tests.support import loopback


def _wait_for(check, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out")


def _ask(url: str) -> None:
    answer = loopback.post(
        url + "/v1/chat/completions",
        json={"model": "kimi-k2.6", "messages": [{"role": "user", "content": "hi"}]},
        timeout=10,
    )
    assert answer.status_code == 200


class Pacer:
    """What the pacing helper's `ctx.pacer` offers the writer: a JSON-able snapshot."""

    def __init__(self) -> None:
        self.state = {"waiting": False, "queued": 0}

    def snapshot(self) -> dict[str, object]:
        return dict(self.state)


def test_written_at_start_on_a_balance_change_and_marked_down_at_stop(simulator, sandbox):
    relay = start_relay_in_thread(RelayConfig(api_key="sk-sim-demo", base_url=simulator))
    path = sandbox / "status.json"
    writer = StatusWriter(relay.ctx, relay.url, path=path, interval=0.05).start()
    try:
        first = relay_status.read_status(path)
        assert first is not None and first["running"] is True and first["pid"] == os.getpid()
        assert first["url"] == relay.url and first["credits_remaining"] is None
        assert first["routing"]["main_model"] == "kimi-k2.5"
        assert first["routing"]["windows"]["kimi-k2"] == 128_000
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert relay_status.relay_up(first)
        _ask(relay.url)
        after = _wait_for(lambda: (relay_status.read_status(path) or {}).get("credits_remaining"))
        assert after == 997, "1,000 demo credits less kimi-k2.6's 3"
    finally:
        writer.stop()
        relay.stop()
    down = relay_status.read_status(path)
    assert down is not None and down["running"] is False and down["credits_remaining"] == 997
    assert not relay_status.relay_up(down)


def test_nothing_changed_means_no_write_until_the_heartbeat(simulator, sandbox):
    relay = start_relay_in_thread(RelayConfig(api_key="sk-sim-demo", base_url=simulator))
    try:
        writer = StatusWriter(relay.ctx, relay.url, path=sandbox / "s.json", heartbeat=10.0)
        assert writer.tick(now=1000.0)
        assert not writer.tick(now=1001.0) and not writer.tick(now=1009.9)
        assert writer.tick(now=1010.0), "the heartbeat keeps updated_at fresh"
        relay.ctx.stats.credits_remaining = 5
        assert writer.tick(now=1010.1), "a new balance is written at once"
        assert writer.writes == 3
    finally:
        relay.stop()


def test_pacing_and_budget_snapshots_go_into_the_file_when_the_relay_has_them(simulator, sandbox):
    relay = start_relay_in_thread(RelayConfig(api_key="sk-sim-demo", base_url=simulator))
    path = sandbox / "s.json"
    try:
        writer = StatusWriter(relay.ctx, relay.url, path=path)
        writer.tick()
        data = relay_status.read_status(path)
        # the relay's own pacer, idle; the budget guard, with no caps set
        assert data is not None and data["pacing"]["waiting"] is False
        assert data["pacing"]["queued"] == 0
        assert data["budgets"]["caps"] == []
        pacer = Pacer()
        relay.ctx.pacer = pacer  # type: ignore[attr-defined]
        pacer.state = {"waiting": True, "queued": 3, "resets_in": 12.3, "limit": 20}
        assert writer.tick(now=1000.0)
        data = relay_status.read_status(path)
        assert data is not None
        assert data["pacing"] == {"waiting": True, "queued": 3, "limit": 20, "resets_at": 1012}
        pacer.state = {**pacer.state, "resets_in": 12.2}  # a countdown alone is no change
        assert not writer.tick(now=1000.1)
    finally:
        relay.stop()


def test_a_status_file_of_another_pid_is_not_marked_down(sandbox):
    path = sandbox / "s.json"
    relay_status.write_status({"pid": 1, "running": True, "updated_at": time.time()}, path)
    relay_status.mark_down(os.getpid(), path)
    assert (relay_status.read_status(path) or {})["running"] is True


def test_kimrel_serve_keeps_the_status_file_and_marks_it_down_on_sigterm(sandbox):
    root = Path(__file__).resolve().parents[3]
    proc = subprocess.Popen(
        [sys.executable, "-m", "kimrel_cli", "serve", "--simulate", "--port", "0", "--log-json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    path = sandbox / "kimrel-state" / relay_status.FILE_NAME
    try:
        assert proc.stdout is not None
        started = json.loads(proc.stdout.readline())
        status = relay_status.read_status(path)
        assert status is not None and status["pid"] == proc.pid and status["url"] == started["url"]
        assert status["credits_remaining"] == started["balance"] == 1000
        assert relay_status.relay_up(status)
        # serving (and so past installing its SIGTERM handler) before it is told to stop
        assert loopback.get(started["url"] + "/health", timeout=10).status_code == 200
    finally:
        proc.terminate()
        proc.wait(10)
    with proc.stdout, proc.stderr:
        proc.stderr.read()
    assert proc.returncode == 0
    down = relay_status.read_status(path)
    assert down is not None and down["running"] is False
