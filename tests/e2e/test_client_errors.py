"""The real Claude Code (`claude -p`) and Codex (`codex exec`) meeting upstream failures through
the relay, injected with the simulator's keys and faults. Asserts on what each client printed
and on how many requests reached the simulator (retries happen once, in the relay).

docs/claude-code.md and docs/codex.md ("## Errors") show the output captured from these runs.
"""

from __future__ import annotations

import pytest

from tests.support.clients import CLAUDE, CODEX, relay_stack, run_claude, run_codex

FAST = {"backoff_base": 0.05}
BUY = "Buy credits at https://kimrel.com/my-credits."

claude_only = pytest.mark.skipif(CLAUDE is None, reason="Claude Code (`claude`) is not installed")
codex_only = pytest.mark.skipif(
    CODEX is None, reason="codex is not installed (npm i -g @openai/codex)"
)
pytestmark = [pytest.mark.realclient]


@claude_only
def test_claude_code_out_of_credits_says_where_to_buy_and_does_not_retry(tmp_path):
    with relay_stack(key="sk-sim-empty") as st:
        run = run_claude(st, "say hello", tmp_path)
    assert run.returncode != 0
    assert run.stdout.strip() == f"API Error: 402 kimrel: out of credits: the balance is 0. {BUY}"
    assert "/login" not in run.output and "authenticate" not in run.output
    assert run.upstream_requests == 1


@claude_only
def test_claude_code_context_overflow_is_prompt_is_too_long(tmp_path):
    with relay_stack(fault="status=400,code=context_length_exceeded") as st:
        run = run_claude(st, "say hello", tmp_path)
    assert run.stdout.startswith("Prompt is too long"), run.output
    assert run.upstream_requests == 1


@claude_only
def test_claude_code_persistent_500_fails_fast_after_the_relays_retries(tmp_path):
    with relay_stack(fault="status=500", **FAST) as st:
        run = run_claude(st, "say hello", tmp_path)
    assert run.returncode != 0
    assert run.stdout.startswith("API Error: 500 kimrel: the API failed: injected fault: HTTP 500")
    assert "kimrel tried 4 times" in run.stdout
    assert run.upstream_requests == 4 and run.seconds < 30


@claude_only
def test_claude_code_survives_a_single_blip(tmp_path):
    with relay_stack(fault="status=503,times=1", **FAST) as st:
        run = run_claude(st, "say hello", tmp_path)
    assert run.returncode == 0 and "Simulated reply to:" in run.stdout, run.output
    assert run.upstream_requests == 2


@codex_only
def test_codex_out_of_credits_shows_kimrels_text_once_without_retrying(tmp_path):
    with relay_stack(key="k", keys={"k": 1}) as st:
        run = run_codex(st, "say hello", tmp_path)
    assert run.returncode != 0
    expected = (
        "ERROR: kimrel: not enough credits for this model: the balance is 1. Buy credits at "
        "https://kimrel.com/my-credits, or use a model that costs at most 1 credit a request "
        "(`kimrel models`)."
    )
    assert expected in run.stderr.splitlines(), run.stderr[-2000:]
    assert "Quota exceeded" not in run.output and "Reconnecting" not in run.output
    assert run.upstream_requests == 1


@codex_only
def test_codex_persistent_500_is_not_high_demand_and_not_retried_again(tmp_path):
    with relay_stack(fault="status=500", **FAST) as st:
        run = run_codex(st, "say hello", tmp_path)
    assert run.returncode != 0
    assert "high demand" not in run.output and "Reconnecting" not in run.output
    assert (
        "ERROR: kimrel: the API failed: injected fault: HTTP 500 (kimrel tried 4 times)."
        in run.stderr
    )
    assert run.upstream_requests == 4 and run.seconds < 30


@codex_only
def test_codex_context_overflow_is_codexs_own_context_window_error(tmp_path):
    with relay_stack(fault="status=400,code=context_length_exceeded") as st:
        run = run_codex(st, "say hello", tmp_path)
    assert "Codex ran out of room in the model's context window" in run.stderr
    assert run.upstream_requests == 1
