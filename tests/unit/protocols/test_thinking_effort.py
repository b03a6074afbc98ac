"""Claude Code's thinking and effort choices mapped onto Kimi's thinking switch (issue 11.7)."""

from __future__ import annotations

import pytest

from kimrel_cli.catalogue import MODELS
from kimrel_cli.protocols.anthropic_to_chat import ChatTarget, anthropic_to_chat


def _sent(model: str, thinking: object = None, effort: str | None = None) -> object:
    body: dict = {"model": model, "max_tokens": 100, "messages": [{"role": "user", "content": "a"}]}
    if thinking is not None:
        body["thinking"] = thinking
    if effort is not None:
        body["output_config"] = {"effort": effort}
    target = ChatTarget(model=model, info=MODELS[model], max_output_tokens=8192)
    return anthropic_to_chat(body, target)[0].get("thinking")


ADAPTIVE = {"type": "adaptive"}


@pytest.mark.parametrize("model", ["kimi-k2.5", "kimi-k2.6"])
@pytest.mark.parametrize(
    ("thinking", "effort", "sent"),
    [
        # what Claude Code 2.1.197 sends by default: adaptive thinking at effort high
        (ADAPTIVE, "high", "enabled"),
        (ADAPTIVE, "medium", "enabled"),
        (ADAPTIVE, "xhigh", "enabled"),
        (ADAPTIVE, "max", "enabled"),
        (ADAPTIVE, None, "enabled"),
        # /effort low: Kimi's nearest choice is no thinking
        (ADAPTIVE, "low", "disabled"),
        # an explicit budget is an explicit request to think
        ({"type": "enabled", "budget_tokens": 2048}, "low", "enabled"),
        # MAX_THINKING_TOKENS=0: Claude Code omits `thinking` (effort stays "high")
        (None, "high", "disabled"),
        (None, None, "disabled"),
        ({"type": "disabled"}, "max", "disabled"),
    ],
)
def test_switchable_models_follow_thinking_and_effort(model, thinking, effort, sent):
    assert _sent(model, thinking, effort) == {"type": sent}


@pytest.mark.parametrize("effort", [None, "low", "high"])
@pytest.mark.parametrize("thinking", [None, ADAPTIVE, {"type": "disabled"}])
def test_fixed_models_get_no_thinking_field(thinking, effort):
    """kimi-k2-thinking always thinks, kimi-k2/k2-0905 never do: nothing to switch."""
    for model in ("kimi-k2-thinking", "kimi-k2", "kimi-k2-0905"):
        assert _sent(model, thinking, effort) is None
