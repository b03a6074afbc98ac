"""The real Claude Code (`claude -p`) and Codex (`codex exec`) meeting a spend cap through the
relay: each stops at the first refused request (counted at the relay: one attempt, no retry),
shows the "spend limit reached" message, and nothing reaches the simulator.

docs/budgets.md shows the output captured from these runs.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from kimrel_cli.relay.app import create_app
from kimrel_cli.relay.context import RelayConfig, build_context
from kimrel_cli.servers import bind_socket, start_in_thread
from kimrel_cli.setup.tools import CODEX_TOKEN_ENV, claude_env, codex_overrides
from kimrel_cli.simulator.app import SimulatorSettings
from kimrel_cli.simulator.app import create_app as create_simulator
from kimrel_cli.usage import budgets as bud
from kimrel_cli.usage import ledger
from tests.support.clients import CLAUDE, CODEX
from tests.support.recorder import Recorder

TOKEN = "kr-local-budget-e2e"
pytestmark = [pytest.mark.realclient]
MESSAGE = "spend limit reached (daily; resets 00:00 UTC): 200/200 credits used by account work."


@contextmanager
def capped_stack() -> Iterator[tuple[str, Recorder, Recorder]]:
    """A relay (account "work", its requests recorded) in front of the simulator (recorded),
    with a daily cap of 200 that the ledger says is spent today."""
    conn = ledger.open_ledger()
    row = ledger.UsageRow(time.time() - 60, "anthropic", "claude-code", 200, True, 200, "work")
    ledger.insert_rows(conn, [row])
    conn.close()
    bud.save(bud.Budgets((bud.new_cap("daily", 200, account="work"),)))
    upstream = Recorder(create_simulator(SimulatorSettings()))
    sim = start_in_thread(upstream, bind_socket())
    config = RelayConfig(api_key="sk-sim-demo", base_url=sim.url + "/api", token=TOKEN)
    config.account = "work"
    relay = Recorder(create_app(build_context(config)))
    server = start_in_thread(relay, bind_socket())
    try:
        yield server.url, relay, upstream
    finally:
        server.stop()
        sim.stop()


def _posts(recorder: Recorder, path_end: str) -> int:
    return sum(1 for e in recorder.seen if e["method"] == "POST" and e["path"].endswith(path_end))


def _run(argv: list[str], env: dict[str, str], cwd: Path) -> Any:
    return subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=90, stdin=subprocess.DEVNULL
    )


@pytest.mark.skipif(CLAUDE is None, reason="Claude Code (`claude`) is not installed")
@pytest.mark.parametrize("watchdog", ["", "1"], ids=["plain", "retry-watchdog"])
def test_claude_code_stops_at_once_and_shows_the_spend_limit(tmp_path, watchdog):
    assert CLAUDE is not None
    with capped_stack() as (url, relay, upstream):
        env = {
            **os.environ,
            **claude_env(url, TOKEN, model="kimi-k2.5", small_model="kimi-k2"),
            "DISABLE_AUTOUPDATER": "1",
        }
        if watchdog:  # retries every 429 forever, unless it is a "credits required" one
            env["CLAUDE_CODE_RETRY_WATCHDOG"] = watchdog
        started = time.monotonic()
        run = _run([CLAUDE, "-p", "say hello"], env, tmp_path)
        seconds = time.monotonic() - started
    assert run.returncode != 0
    assert run.stdout.startswith(f"API Error: Request rejected (429) · {MESSAGE}"), run.stdout
    assert _posts(relay, "/v1/messages") == 1  # one attempt, no retry
    assert _posts(upstream, "") == 0 and seconds < 30


@pytest.mark.skipif(CODEX is None, reason="codex is not installed (npm i -g @openai/codex)")
def test_codex_exec_stops_at_once_and_shows_the_spend_limit(tmp_path):
    assert CODEX is not None
    with capped_stack() as (url, relay, upstream):
        env = {**os.environ, CODEX_TOKEN_ENV: TOKEN}
        Path(env["CODEX_HOME"]).mkdir(parents=True, exist_ok=True)
        argv = [
            CODEX,
            *codex_overrides(url, model="kimi-k2.5"),
            "exec",
            "--skip-git-repo-check",
            "say hello",
        ]
        run = _run(argv, env, tmp_path)
    assert run.returncode != 0
    errors = [line for line in run.stderr.splitlines() if line.startswith("ERROR: ")]
    assert errors and all(line.startswith(f"ERROR: {MESSAGE}") for line in errors), run.stderr
    assert "Reconnecting" not in run.stderr and "Quota exceeded" not in run.stderr
    assert _posts(relay, "/responses") == 1  # one attempt, no retry
    assert _posts(upstream, "") == 0
