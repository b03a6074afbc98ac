"""Real clients through `kimrel launch … --simulate`: Claude Code (`claude -p`) and Codex
(`codex exec`) each leave ledger rows naming the client, its session and the project (the
directory launch ran in, carried in `x-kimrel-project`). Skipped where a client is absent."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kimrel_cli.catalogue import credits_for
from kimrel_cli.usage.ledger import iter_rows, ledger_path, open_readonly

pytestmark = [pytest.mark.realclient]


def kimrel(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kimrel_cli", *args],
        cwd=cwd,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def ledger_rows(wanted: int, timeout: float = 10.0):
    """The rows the background relay wrote (its writer batches: wait for them)."""
    deadline = time.monotonic() + timeout
    rows = []
    while time.monotonic() < deadline:
        conn = open_readonly(ledger_path())
        if conn is not None:
            rows = list(iter_rows(conn))
            conn.close()
            if len(rows) >= wanted:
                break
        time.sleep(0.1)
    return rows


@pytest.fixture
def project(sandbox):
    folder = sandbox / "café project"
    folder.mkdir()
    assert kimrel("config", "set", "relay.port", "0", cwd=sandbox).returncode == 0
    yield folder
    kimrel("serve", "stop", cwd=sandbox, timeout=30)


@pytest.mark.skipif(
    shutil.which("claude") is None, reason="Claude Code (`claude`) is not installed"
)
def test_a_claude_code_turn_with_a_sub_agent_is_recorded_by_session_agent_and_project(project):
    # the simulated model calls the tool the prompt names: Claude Code starts a sub-agent
    out = kimrel(
        "launch",
        "claude",
        "--simulate",
        "-p",
        "Please use the Agent tool now",
        "--allowedTools",
        "Agent",
        "--output-format",
        "json",
        cwd=project,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    session = json.loads(out.stdout)["session_id"]
    rows = ledger_rows(3)
    assert len(rows) >= 3, (out.stdout[:600], [r.agent_id for r in rows])
    for row in rows:
        assert (row.protocol, row.client, row.account) == ("anthropic", "claude-code", "simulator")
        assert row.session_id == session
        assert row.project == "café project"
        assert row.user_agent and row.user_agent.startswith("claude-cli/")
        assert row.status == 200 and row.stream
        assert row.model and row.credits_charged == credits_for(row.model)
        assert row.credits_after is not None and row.ttfb_ms is not None
    main = [r for r in rows if r.agent_id is None]
    sub = [r for r in rows if r.agent_id is not None]
    assert len(main) >= 2 and sub, [(r.agent_id, r.parent_agent_id) for r in rows]
    assert all(r.parent_agent_id is None for r in sub)  # started by the main agent


@pytest.mark.skipif(shutil.which("codex") is None, reason="codex is not installed")
def test_a_codex_exec_turn_is_recorded_with_its_session_and_project(project, sandbox):
    (sandbox / "home" / ".codex").mkdir(parents=True, exist_ok=True)
    out = kimrel(
        "launch",
        "codex",
        "--simulate",
        "--model",
        "kimi-k2.6",
        "exec",
        "--skip-git-repo-check",
        "--json",
        "say hello",
        cwd=project,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    events = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    thread = next(e["thread_id"] for e in events if e.get("type") == "thread.started")
    rows = ledger_rows(1)
    assert rows, out.stderr[-2000:]
    for row in rows:
        assert (row.protocol, row.client, row.account) == ("responses", "codex", "simulator")
        assert row.session_id == thread and row.agent_id is None
        assert row.project == "café project"
        assert row.user_agent and row.user_agent.startswith("codex_exec/0.")
        assert row.status == 200 and row.stream and row.credits_charged == 3
