"""Claude Code's model settings: every Kimi model in /model, real windows and limits (issue 11.4)."""

from __future__ import annotations

import json

import pytest

from kimrel_cli.catalogue import MODELS
from kimrel_cli.setup.claude_code import ClaudeOptions, apply, model_env, picker_slots
from kimrel_cli.setup.tools import claude_env

PICKER_KEYS = (
    "ANTHROPIC_DEFAULT_OPUS_MODEL",
    "ANTHROPIC_DEFAULT_SONNET_MODEL",
    "ANTHROPIC_DEFAULT_HAIKU_MODEL",
    "ANTHROPIC_DEFAULT_FABLE_MODEL",
    "ANTHROPIC_CUSTOM_MODEL_OPTION",
)


def _settings_env(**options: str) -> dict[str, str]:
    text = apply(
        "", ClaudeOptions(via="relay", base_url="http://127.0.0.1:1", token="kr-local-t", **options)
    )  # type: ignore[arg-type]
    return json.loads(text)["env"]


@pytest.mark.parametrize("main", ["kimi-k2.5", "kimi-k2.6", "kimi-k2-thinking", "kimi-k2-0905"])
def test_every_kimi_model_has_a_picker_slot_with_its_name_and_window(main):
    for env in (
        claude_env("http://127.0.0.1:1", "kr-local-t", model=main, small_model="kimi-k2"),
        _settings_env(model=main, small_model="kimi-k2"),
    ):
        listed = [env[key] for key in PICKER_KEYS]
        assert sorted(listed) == sorted(MODELS), listed
        assert env["ANTHROPIC_DEFAULT_OPUS_MODEL"] == main  # "Default" resolves to the Opus slot
        assert env["ANTHROPIC_DEFAULT_HAIKU_MODEL"] == "kimi-k2"  # background work
        for key in PICKER_KEYS:
            model = env[key]
            assert env[key + "_NAME"] == model
            assert f"{MODELS[model].context_window // 1000}K context" in env[key + "_DESCRIPTION"]
        assert env["CLAUDE_CODE_MAX_CONTEXT_TOKENS"] == str(MODELS[main].context_window)
        # without an auto-compact window of its own Claude Code never compacts before a request
        assert env["CLAUDE_CODE_AUTO_COMPACT_WINDOW"] == str(MODELS[main].context_window)
        assert env["CLAUDE_CODE_MAX_OUTPUT_TOKENS"] == str(MODELS[main].max_output_tokens)
        assert env["CLAUDE_CODE_DISABLE_1M_CONTEXT"] == "1"
        assert env["CLAUDE_CODE_SUBAGENT_MODEL"] == main


def test_kimi_k2_as_main_model_gets_its_128k_window():
    env = model_env("kimi-k2", "kimi-k2")
    assert env["CLAUDE_CODE_MAX_CONTEXT_TOKENS"] == "128000"
    assert env["ANTHROPIC_DEFAULT_OPUS_MODEL"] == env["ANTHROPIC_DEFAULT_HAIKU_MODEL"] == "kimi-k2"


def test_anthropic_model_is_not_set_so_a_model_picked_with_slash_model_is_kept():
    """ANTHROPIC_MODEL outranks the `model` /model saves (checked in Claude Code 2.1.197)."""
    env = claude_env("http://127.0.0.1:1", "kr-local-t", model="kimi-k2.5", small_model="kimi-k2")
    assert "ANTHROPIC_MODEL" not in env
    assert "ANTHROPIC_MODEL" not in _settings_env(model="kimi-k2.5", small_model="kimi-k2")
    pinned = claude_env(
        "http://127.0.0.1:1", "kr-local-t", model="kimi-k2.6", small_model="kimi-k2", pinned=True
    )
    assert pinned["ANTHROPIC_MODEL"] == "kimi-k2.6"


def test_setup_removes_the_anthropic_model_an_earlier_kimrel_wrote():
    old = json.dumps({"model": "sonnet", "env": {"ANTHROPIC_MODEL": "kimi-k2.5", "MINE": "1"}})
    options = ClaudeOptions(
        via="relay", base_url="http://127.0.0.1:1", model="kimi-k2.5", small_model="kimi-k2"
    )
    settings = json.loads(apply(old, options))
    assert "ANTHROPIC_MODEL" not in settings["env"]
    assert settings["env"]["MINE"] == "1" and settings["model"] == "sonnet"


def test_slots_are_stable_for_a_given_main_model():
    assert picker_slots("kimi-k2.5", "kimi-k2") == {
        "ANTHROPIC_DEFAULT_HAIKU_MODEL": "kimi-k2",
        "ANTHROPIC_DEFAULT_OPUS_MODEL": "kimi-k2.5",
        "ANTHROPIC_DEFAULT_SONNET_MODEL": "kimi-k2.6",
        "ANTHROPIC_DEFAULT_FABLE_MODEL": "kimi-k2-thinking",
        "ANTHROPIC_CUSTOM_MODEL_OPTION": "kimi-k2-0905",
    }


LIMITS = {"kimi-k2.5": {"context_window": 60000, "max_output_tokens": 4096}}


def test_model_env_follows_the_settings_limits_for_the_main_model():
    env = model_env("kimi-k2.5", "kimi-k2", LIMITS)
    assert (
        env["CLAUDE_CODE_MAX_CONTEXT_TOKENS"] == env["CLAUDE_CODE_AUTO_COMPACT_WINDOW"] == "60000"
    )
    assert env["CLAUDE_CODE_MAX_OUTPUT_TOKENS"] == "4096"
    assert "60K context" in env["ANTHROPIC_DEFAULT_OPUS_MODEL_DESCRIPTION"]
    other = model_env("kimi-k2.6", "kimi-k2", LIMITS)  # limits of another model do not apply
    assert other["CLAUDE_CODE_MAX_CONTEXT_TOKENS"] == str(MODELS["kimi-k2.6"].context_window)
    partial = model_env("kimi-k2.5", "kimi-k2", {"kimi-k2.5": {"context_window": 90000}})
    assert partial["CLAUDE_CODE_MAX_CONTEXT_TOKENS"] == "90000"
    assert partial["CLAUDE_CODE_MAX_OUTPUT_TOKENS"] == str(MODELS["kimi-k2.5"].max_output_tokens)


def test_setup_and_launch_write_the_limits_set_with_kimrel_config(sandbox):
    """`kimrel config set limits.…` → both `setup claude-code` and launch's env carry them."""
    from typer.testing import CliRunner

    from kimrel_cli.cli.app import app
    from kimrel_cli.config import load_settings
    from kimrel_cli.setup.claude_code import ClaudeCodeTarget
    from kimrel_cli.setup.target import LaunchContext

    runner = CliRunner()
    for key, value in (("context_window", "60000"), ("max_output_tokens", "4096")):
        result = runner.invoke(app, ["config", "set", f"limits.kimi-k2.5.{key}", value])
        assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["setup", "claude-code", "--model", "kimi-k2.5", "--yes"])
    assert result.exit_code == 0, result.output
    written = json.loads((sandbox / "home" / ".claude" / "settings.json").read_text())["env"]
    assert written["CLAUDE_CODE_MAX_CONTEXT_TOKENS"] == "60000"
    assert written["CLAUDE_CODE_AUTO_COMPACT_WINDOW"] == "60000"
    assert written["CLAUDE_CODE_MAX_OUTPUT_TOKENS"] == "4096"

    plan = ClaudeCodeTarget().launch(
        LaunchContext(
            relay_url="http://127.0.0.1:1",
            token="kr-local-t",
            model="kimi-k2.5",
            settings=load_settings(),
            private_file=lambda text, suffix: str(sandbox / f"flags{suffix}"),
        )
    )
    assert plan.env["CLAUDE_CODE_MAX_CONTEXT_TOKENS"] == "60000"
    assert plan.env["CLAUDE_CODE_AUTO_COMPACT_WINDOW"] == "60000"
    assert plan.env["CLAUDE_CODE_MAX_OUTPUT_TOKENS"] == "4096"
