"""kimrel's status line in Claude Code's real TUI (tmux), against the relay and the simulator.

The statusLine is what `kimrel setup claude-code --statusline` writes when the user already has
one: the fast entry point chaining theirs (here `cat > FILE`, which keeps the stdin Claude Code
sends). Checked: the line shows the routed model, Kimi's window, the balance the relay wrote to
its status file, the session's credits from the ledger and "relay up"; and the stdin's
`session_id` is the `x-claude-code-session-id` header of every request Claude Code sent.
Skipped where `claude` or `tmux` is missing.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import kimrel_cli
from kimrel_cli.relay.app import create_app
from kimrel_cli.relay.context import RelayConfig, build_context
from kimrel_cli.relay.status_writer import StatusWriter
from kimrel_cli.servers import bind_socket, start_in_thread
from kimrel_cli.setup.claude_code import statusline_command, with_statusline
from kimrel_cli.setup.tools import claude_env
from kimrel_cli.usage import ledger, relay_status
from tests.e2e.test_claude_code_tui import Pane
from tests.support.recorder import Recorder

CLAUDE = shutil.which("claude")
TMUX = shutil.which("tmux")
TOKEN = "kr-local-statusline-test"

pytestmark = [
    pytest.mark.realclient,
    pytest.mark.skipif(CLAUDE is None, reason="Claude Code (`claude`) is not installed"),
    pytest.mark.skipif(TMUX is None, reason="tmux is not installed"),
]


@pytest.fixture
def relay(sandbox: Path) -> Iterator[tuple[str, Recorder, Any]]:
    import dataclasses

    from kimrel_cli.simulator.app import SimulatorSettings
    from kimrel_cli.simulator.app import create_app as create_simulator

    sim = start_in_thread(create_simulator(SimulatorSettings()), bind_socket())
    config = RelayConfig(api_key="sk-sim-demo", base_url=sim.url + "/api", token=TOKEN)
    state = sandbox / "kimrel-state"
    if "ledger" in {f.name for f in dataclasses.fields(RelayConfig)}:  # a relay that records
        config.ledger = state / ledger.FILE_NAME  # type: ignore[attr-defined]
    ctx = build_context(config)
    ctx.stats.credits_remaining = 1000  # what `kimrel serve` reads at start
    recorder = Recorder(create_app(ctx))
    server = start_in_thread(recorder, bind_socket())
    writer = StatusWriter(ctx, server.url, path=state / relay_status.FILE_NAME).start()
    yield server.url, recorder, ctx
    writer.stop()
    server.stop()
    sim.stop()


def _start_claude(url: str, sandbox: Path, dump: Path) -> Pane:
    work = sandbox / "project"
    work.mkdir()
    config_dir = Path(os.environ["CLAUDE_CONFIG_DIR"])
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / ".claude.json").write_text(
        json.dumps(
            {
                "hasCompletedOnboarding": True,
                "theme": "dark",
                "projects": {
                    str(work): {
                        "hasTrustDialogAccepted": True,
                        "hasCompletedProjectOnboarding": True,
                    }
                },
            }
        )
    )
    module = Path(kimrel_cli.__file__).resolve().parent / "statusline" / "__main__.py"
    ours = statusline_command(sys.executable, str(module), str(sandbox / "kimrel-state"))
    line = with_statusline({"type": "command", "command": f"cat > {shlex.quote(str(dump))}"}, ours)
    (config_dir / "settings.json").write_text(json.dumps({"statusLine": line}))
    env = {
        name: os.environ[name]
        for name in ("HOME", "PATH", "CLAUDE_CONFIG_DIR", "NO_PROXY")
        if name in os.environ
    }
    env.update(claude_env(url, TOKEN, model="kimi-k2.5", small_model="kimi-k2"))
    env.update({"DISABLE_AUTOUPDATER": "1", "TERM": "xterm-256color"})
    assignments = [shlex.quote(f"{k}={v}") for k, v in env.items()]
    command = " ".join(["env", "-i", *assignments, CLAUDE or "claude"])
    pane = Pane(sandbox / "tmux.sock")
    pane.tmux("new-session", "-d", "-s", "kr", "-x", "140", "-y", "30", "-c", str(work), command)
    return pane


def _sessions(recorder: Recorder) -> set[Any]:
    return {
        e["headers"].get("x-claude-code-session-id")
        for e in recorder.seen
        if e["path"] == "/v1/messages" and e["method"] == "POST"
    }


def test_status_line_shows_model_context_credits_and_session_spend(relay, sandbox):
    url, recorder, ctx = relay
    dump = sandbox / "claude-stdin.json"
    pane = _start_claude(url, sandbox, dump)
    try:
        pane.wait_for(lambda s: "relay up" in s, "kimrel's status line")
        pane.type_line("Say hello")
        pane.wait_for(lambda s: "Simulated reply" in s, "the first answer")
        (session,) = _sessions(recorder)
        assert session, "Claude Code sends x-claude-code-session-id"
        state = sandbox / "kimrel-state"
        conn = ledger.open_ledger(state / ledger.FILE_NAME)
        time.sleep(0.5)  # a recording relay's writer thread batches rows for 0.2 s
        if ledger.spent(conn, session_id=session) == 0:  # a relay that does not record: stand in
            ledger.insert_rows(
                conn,
                [
                    ledger.UsageRow(
                        ts=time.time(),
                        protocol="anthropic",
                        client="claude-code",
                        status=200,
                        stream=True,
                        credits_charged=2,
                        model="kimi-k2.5",
                        session_id=session,
                    )
                ],
            )
        pane.type_line("Say hello again")
        # the balance after both turns (and Claude Code's title request on the small model)
        screen = pane.wait_for(
            lambda s: (
                s.count("Simulated reply") >= 2 and f"{ctx.stats.credits_remaining:,} credits" in s
            ),
            "the second answer and the balance after it",
        )
        spent = ledger.spent(conn, session_id=session)
        conn.close()
        line = next(row for row in screen.splitlines() if "relay up" in row)
        line = line.split("relay up")[0].strip() + " relay up"  # Claude Code's effort on the right
        credits = ctx.stats.credits_remaining
        assert credits is not None and credits <= 1000 - 2 * 2, "two kimi-k2.5 answers at least"
        shown = re.fullmatch(
            rf"kimi-k2\.5 · ctx \d+K/256K \d+% · {credits:,} credits · session (\d+) · relay up",
            line,
        )
        assert shown, line
        # the last refresh may come before the last answer's row lands: at most what was spent
        assert 0 < int(shown.group(1)) <= spent, (line, spent)
        seen = json.loads(dump.read_text())
        assert seen["session_id"] == session, "stdin session_id == x-claude-code-session-id"
        assert _sessions(recorder) == {session}
    finally:
        pane.tmux("kill-server")
