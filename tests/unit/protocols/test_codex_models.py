"""Codex's model catalogue for the Kimi models: every model, its real window, apply_patch offered."""

from __future__ import annotations

import json

import pytest

from kimrel_cli.catalogue import MODELS
from kimrel_cli.protocols.codex_models import auto_compact_limit, models_response
from kimrel_cli.relay.context import RelayConfig
from kimrel_cli.relay.run import start_relay_in_thread
from kimrel_cli.simulator.generation import plan_answer, quoted_patch
from tests.support import loopback

TOKEN = "kr-local-codex-models"
PATCH = "*** Begin Patch\n*** Update File: a.txt\n@@\n-a\n+b\n*** End Patch"


def test_every_kimi_model_with_its_window_output_limit_and_compaction_point():
    models = models_response()["models"]
    assert [m["slug"] for m in models] == list(reversed(MODELS))
    for entry in models:
        info = MODELS[entry["slug"]]
        assert entry["context_window"] == entry["max_context_window"] == info.context_window
        assert f"{info.max_output_tokens:,} output tokens" in entry["description"]
        limit = entry["auto_compact_token_limit"]
        # the next request (last total + a truncated tool output + a full answer) still fits
        assert limit + 10_000 + info.max_output_tokens < info.context_window
        assert limit == auto_compact_limit(info)
        assert entry["apply_patch_tool_type"] == "freeform"
        assert entry["visibility"] == "list" and entry["supported_in_api"] is True
        assert entry["base_instructions"] and "apply_patch" in entry["base_instructions"]
        assert entry["prefer_websockets"] is False and entry["tool_mode"] is None
        assert ("image" in entry["input_modalities"]) == info.images
        levels = [level["effort"] for level in entry["supported_reasoning_levels"]]
        assert (levels == []) == (info.thinking == "none")
        assert ("none" in levels) == (info.thinking == "switchable")
    priorities = [m["priority"] for m in models]
    assert priorities == sorted(set(priorities))
    assert models_response()["models"][0]["slug"] == "kimi-k2.6"  # picker default: newest


def test_kimi_k2_compacts_before_its_128k_window_is_full():
    assert auto_compact_limit(MODELS["kimi-k2"]) == 128_000 - 8_192 - 20_000
    assert auto_compact_limit(MODELS["kimi-k2.6"]) == 256_000 - 8_192 - 20_000


@pytest.fixture
def relay(make_simulator):
    server = start_relay_in_thread(
        RelayConfig(api_key="sk-sim-demo", base_url=make_simulator(), token=TOKEN)
    )
    yield server.url
    server.stop()


def test_codex_catalogue_request_gets_codex_format_others_the_openai_list(relay):
    auth = {"Authorization": f"Bearer {TOKEN}"}
    codex = loopback.get(
        relay + "/v1/models",
        params={"client_version": "0.169.0"},
        headers={**auth, "originator": "codex_exec", "user-agent": "codex_exec/0.169.0"},
    )
    assert codex.status_code == 200
    slugs = [m["slug"] for m in codex.json()["models"]]
    assert set(slugs) == set(MODELS) and slugs[0] == "kimi-k2.6"
    assert "data" not in codex.json()
    # Codex's user agent alone (no query) is recognised too
    by_agent = loopback.get(
        relay + "/v1/models",
        headers={**auth, "originator": "codex_cli_rs", "user-agent": "codex_cli_rs/0.169.0"},
    )
    assert "models" in by_agent.json()
    plain = loopback.get(relay + "/v1/models", headers=auth).json()
    assert plain["object"] == "list" and {m["id"] for m in plain["data"]} >= set(MODELS)
    assert json.dumps(plain).find("slug") < 0


def test_simulator_fills_a_one_string_tool_with_the_patch_quoted_in_the_prompt():
    assert quoted_patch("please apply\n" + PATCH + "\nthanks") == PATCH + "\n"
    schema = {"type": "object", "properties": {"input": {"type": "string"}}, "required": ["input"]}
    plan = plan_answer(
        last_user_text="use apply_patch:\n" + PATCH,
        tool_result=None,
        tools=[("exec_command", {"type": "object"}), ("apply_patch", schema)],
        forced=None,
        thinking=False,
        max_tokens=None,
        stops=[],
        prompt_tokens=10,
    )
    assert plan.calls == [("apply_patch", {"input": PATCH + "\n"})]
    without = plan_answer(
        last_user_text="use apply_patch please",
        tool_result=None,
        tools=[("apply_patch", schema)],
        forced=None,
        thinking=False,
        max_tokens=None,
        stops=[],
        prompt_tokens=10,
    )
    assert without.calls == [("apply_patch", {"input": "echo simulated"})]


def test_a_gpt_name_from_codex_is_logged_as_what_it_ran_as(make_simulator):
    from kimrel_cli.relay.app import create_app
    from kimrel_cli.relay.context import build_context
    from kimrel_cli.servers import bind_socket, start_in_thread

    ctx = build_context(RelayConfig(api_key="sk-sim-demo", base_url=make_simulator(), token=TOKEN))
    server = start_in_thread(create_app(ctx), bind_socket())
    try:
        auth = {"Authorization": f"Bearer {TOKEN}"}
        for model in ("gpt-6-luna", "kimi-k2"):
            answer = loopback.post(
                server.url + "/v1/responses", json={"model": model, "input": "hi"}, headers=auth
            )
            assert answer.status_code == 200
    finally:
        server.stop()
    ctx.log.flush()
    assert [r.model for r in ctx.log.recent] == ["gpt-6-luna → kimi-k2.5", "kimi-k2"]


def test_codex_still_gets_its_catalogue_when_the_upstream_list_fails(make_simulator):
    server = start_relay_in_thread(
        RelayConfig(api_key="sk-sim-unknown", base_url=make_simulator(), token=TOKEN)
    )
    try:
        auth = {"Authorization": f"Bearer {TOKEN}"}
        codex = loopback.get(
            server.url + "/v1/models", params={"client_version": "0.169.0"}, headers=auth
        )
        plain = loopback.get(server.url + "/v1/models", headers=auth)
    finally:
        server.stop()
    assert codex.status_code == 200 and len(codex.json()["models"]) == len(MODELS)
    assert plain.status_code == 401, "other clients still see the upstream's refusal"
