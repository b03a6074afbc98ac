"""The real Claude Code compacts before the API would refuse (issue 11.4).

A 60,000-token window for kimi-k2.5 set in kimrel's `[limits]` reaches Claude Code through
`kimrel launch claude` (`CLAUDE_CODE_MAX_CONTEXT_TOKENS` and `CLAUDE_CODE_AUTO_COMPACT_WINDOW`).
Five `-p` / `--continue -p` turns add ~7,600 tokens each to Claude Code's ~26,500 of system
prompt and tools; Claude Code compacts once a turn starts above 60,000 − 8,192 − 13,000 =
38,808 (turn 2, and again at turn 4), so no request plus its `max_tokens` outgrows the window.
Without `CLAUDE_CODE_AUTO_COMPACT_WINDOW`, 2.1.197 never compacts before a request: turn 4 is
57,000 tokens + 8,192 of output, which Kimi refuses. Asserted from what the relay received.
Skipped, with the reason, without `claude`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from kimrel_cli.relay.state import RelayState, clear_state, write_state
from tests.e2e.codex_support import Stack, start_stack

pytestmark = [
    pytest.mark.realclient,
    pytest.mark.skipif(
        shutil.which("claude") is None,
        reason="claude is not installed (npm install -g @anthropic-ai/claude-code)",
    ),
]

TOKEN = "kr-local-compaction-test"
KIMREL_LAUNCH = [sys.executable, "-m", "kimrel_cli", "launch", "claude", "--simulate"]
KIMREL_LAUNCH += ["--model", "kimi-k2.5"]
WINDOW = 60_000
FILLER = "lorem ipsum " * 2500  # 30,000 characters: ~7,600 tokens a turn
# Claude Code's compaction prompt and the first line of the summary it continues from (2.1.197)
COMPACT_PROMPT = "Please provide your summary based on the conversation so far"
CONTINUED = "This session is being continued from a previous conversation"


@pytest.fixture
def stack(sandbox: Path) -> Iterator[Stack]:
    """Simulator ← relay, both recorded, announced in relay.json for `kimrel launch`."""
    running = start_stack(token=TOKEN)
    parts = urlsplit(running.relay_url)
    write_state(
        RelayState(
            pid=os.getpid(),
            host="127.0.0.1",
            port=parts.port or 0,
            url=running.relay_url,
            upstream="simulator",
            simulate=True,
            account=None,
            started_at=time.time(),
            token=TOKEN,
        )
    )
    yield running
    clear_state()
    running.stop()


def _launch(cwd: Path, *args: str) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "CLAUDE_CODE_"))}
    out = subprocess.run(
        [*KIMREL_LAUNCH, *args, "--output-format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        cwd=cwd,
        env=env,
    )
    assert out.returncode == 0, (out.stdout + out.stderr)[-2000:]
    return json.loads(out.stdout)


def _compaction_prompt(body: dict[str, Any]) -> str | None:
    """The user message asking for the summary (role "system" messages may follow it)."""
    users = [json.dumps(m) for m in body["messages"] if m["role"] == "user"]
    return users[-1] if users and COMPACT_PROMPT in users[-1] else None


def test_claude_code_compacts_before_a_request_outgrows_the_window(stack, sandbox):
    config = sandbox / "kimrel-config"
    config.mkdir(exist_ok=True)
    (config / "config.toml").write_text(f'[limits."kimi-k2.5"]\ncontext_window = {WINDOW}\n')
    for turn in range(5):
        args = ["-p", f"turn {turn}: {FILLER}"]
        result = _launch(sandbox / "cwd", *(["--continue"] if turn else []), *args)
        assert result["terminal_reason"] == "completed", result
        assert result["result"].startswith("Simulated reply to:")

    bodies = stack.relay.bodies("/v1/messages")
    prompts = [_compaction_prompt(body) for body in bodies]
    compactions = [i for i, prompt in enumerate(prompts) if prompt is not None]
    assert compactions, "Claude Code sent no compaction request"
    for i in compactions:  # the summary replaced the history; the turn's own prompt is kept
        summarised = int(re.findall(r'"text": "turn (\d+): ', str(prompts[i]))[-1])
        after = json.dumps(bodies[i + 1]["messages"])
        assert CONTINUED in after and '"text": "turn 0: ' not in after
        assert f'"text": "turn {summarised + 1}: ' in after
    sizes = [len(json.dumps(body)) // 4 + body["max_tokens"] for body in bodies]
    assert max(sizes) <= WINDOW, sizes  # characters / 4 over-counts the simulator's tokens
    assert len(bodies) == 5 + len(compactions)  # one answer a turn, no refused request retried
