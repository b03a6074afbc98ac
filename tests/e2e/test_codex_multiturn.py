"""The real Codex over several turns with the same tool: `codex exec` then `exec resume --last`
twice. Asserted from what the simulated model received: every tool output of every turn.
Skipped, with the reason, without `codex`.
"""

from __future__ import annotations

import json

import pytest

from tests.e2e.codex_support import CODEX, completed, events, start_stack

pytestmark = [
    pytest.mark.realclient,
    pytest.mark.skipif(
        CODEX is None, reason="codex is not installed (npm install -g @openai/codex)"
    ),
]


@pytest.fixture
def stack():
    running = start_stack()
    yield running
    running.stop()


def tool_results(messages):
    """The output of every tool message, each checked to answer the assistant call before it
    (Kimi's ids restart at `functions.NAME:0` every answer, so pairing is by position)."""
    outputs = []
    pending: list[str] = []
    for message in messages:
        if message["role"] == "assistant":
            pending = [c["id"] for c in message.get("tool_calls") or []]
            assert all(
                c["function"]["name"] == "exec_command" for c in message.get("tool_calls") or []
            )
        elif message["role"] == "tool":
            assert message["tool_call_id"] in pending
            pending.remove(message["tool_call_id"])
            outputs.append(message["content"])
    return outputs


def test_three_exec_turns_with_the_same_tool_each_reach_the_model(stack, tmp_path):
    prompts = [
        "please use exec_command to look",
        "please use exec_command again",
        "and exec_command once more",
    ]
    for turn, prompt in enumerate(prompts, 1):
        args = [prompt] if turn == 1 else ["resume", "--last", prompt]
        out = stack.codex_exec(tmp_path, *args)
        assert out.returncode == 0, out.stderr[-2000:]
        items = events(out.stdout)
        commands = completed(items, "command_execution")
        assert len(commands) == 1 and commands[0]["aggregated_output"] == "simulated\n"
        assert completed(items, "agent_message")[-1]["text"].startswith("The tool returned:")
        # the request that produced this turn's answer carried every tool output so far
        last = stack.chat_bodies()[-1]["messages"]
        results = tool_results(last)
        assert len(results) == turn, [m["role"] for m in last]
        assert all("simulated" in output for output in results)
        # on Codex's side every call has its own id (the relay's per-response prefix)
        codex_input = stack.relay.bodies("/responses")[-1]["input"]
        call_ids = [i["call_id"] for i in codex_input if i.get("type") == "function_call"]
        assert len(set(call_ids)) == len(call_ids) == turn
        users = [m["content"] for m in last if m["role"] == "user"]
        assert [p for p in prompts if any(p in str(u) for u in users)] == prompts[:turn]


def test_codex_compacts_at_the_catalogue_limit_before_the_window_is_full(stack, tmp_path, sandbox):
    """A 40,000-token window set in kimrel's `[limits]` reaches Codex through the catalogue
    launch passes; Codex compacts once a turn's total passes the limit (20,000 here), so no
    request outgrows the window. Without the catalogue Codex assumes 272K and never compacts."""
    config = sandbox / "kimrel-config"
    config.mkdir(exist_ok=True)
    (config / "config.toml").write_text('[limits."kimi-k2"]\ncontext_window = 40000\n')
    filler = "lorem ipsum " * 2500  # ~7,500 tokens a turn, as the simulator counts them
    for turn in range(3):
        args = [] if turn == 0 else ["resume", "--last"]
        out = stack.codex_exec(tmp_path, *args, f"turn {turn}: {filler}", model="kimi-k2")
        assert out.returncode == 0, out.stderr[-2000:]
    bodies = stack.chat_bodies()
    compactions = [
        i
        for i, b in enumerate(bodies)
        if "CONTEXT CHECKPOINT COMPACTION" in str(b["messages"][-1]["content"])
    ]
    assert compactions, "Codex compacted"
    assert all(len(json.dumps(b)) / 4 < 40_000 for b in bodies), "every prompt fits the window"
    assert len(bodies) == 3 + len(compactions)
