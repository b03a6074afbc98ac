"""The model table, the credit price list, the rate-limit tiers and client-name aliases.

One place for every per-model figure. Where the hosted docs contradict themselves,
`shared/docs/README.md` says which figure stands:
- context windows: kimi-k2 128,000; every later model 256,000 (changelog 2025-09-05);
- output tokens: the docs say both "model maximum is 128000" and "Maximum output tokens 8,192";
  kimrel uses the conservative 8,192 and lets settings raise it per model
  (`[limits."kimi-k2.6"] max_output_tokens = …`); the relay caps requests to it instead of
  letting them fail;
- credits per request: the billing table (k2.5 costs 2, k2.6 costs 3, others 1).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Literal

ThinkingMode = Literal["none", "always", "switchable"]


@dataclass(frozen=True)
class ModelInfo:
    id: str
    context_window: int
    max_output_tokens: int
    credits: int
    thinking: ThinkingMode
    images: bool  # takes images (kimrel-api.md: k2.5 multimodal, k2.6 text + image); the relay
    # fetches remote image URLs only for these (relay/images.py)
    tools: bool
    description: str

    @property
    def can_think(self) -> bool:
        return self.thinking != "none"


MODELS: dict[str, ModelInfo] = {
    m.id: m
    for m in (
        ModelInfo(
            "kimi-k2",
            128_000,
            8_192,
            1,
            "none",
            False,
            True,
            "General chat and code; the fast route",
        ),
        ModelInfo(
            "kimi-k2-0905",
            256_000,
            8_192,
            1,
            "none",
            False,
            True,
            "Kimi K2 with a 256K context window",
        ),
        ModelInfo(
            "kimi-k2-thinking",
            256_000,
            8_192,
            1,
            "always",
            False,
            True,
            "Deep reasoning; always thinks",
        ),
        ModelInfo(
            "kimi-k2.5",
            256_000,
            8_192,
            2,
            "switchable",
            True,
            True,
            "Multimodal agentic model; thinking on by default",
        ),
        ModelInfo(
            "kimi-k2.6",
            256_000,
            8_192,
            3,
            "switchable",
            True,
            True,
            "Newest route: text + images, thinking, tools",
        ),
    )
}

DEFAULT_MODEL = "kimi-k2.5"
DEFAULT_SMALL_MODEL = "kimi-k2"
MODEL_CREATED = 1735785600
MODEL_OWNER = "moonshot-ai"


def get_model(
    model_id: str, overrides: Mapping[str, Mapping[str, int]] | None = None
) -> ModelInfo | None:
    """The catalogue entry for `model_id`, with per-model limit overrides from settings applied."""
    info = MODELS.get(model_id)
    if info is None:
        return None
    extra = (overrides or {}).get(model_id) or {}
    changes = {k: int(v) for k, v in extra.items() if k in ("max_output_tokens", "context_window")}
    return replace(info, **changes) if changes else info


def profile_name(model_id: str) -> str:
    """A model's Codex profile name: `kimi-k2.6` → `kimi-k2-6` (`codex --profile` rejects dots)."""
    return model_id.replace(".", "-")


def model_for_profile(name: str) -> str | None:
    """The model a Codex profile name stands for (a model id is accepted too); None if unknown."""
    if name in MODELS:
        return name
    return next((model for model in MODELS if profile_name(model) == name), None)


def credits_for(model_id: str) -> int:
    """Credits one successful request to `model_id` costs (1 for models not in the table)."""
    info = MODELS.get(model_id)
    return info.credits if info else 1


@dataclass(frozen=True)
class Tier:
    name: str
    min_balance: int
    per_minute: int
    per_hour: int
    per_day: int


TIERS: tuple[Tier, ...] = (
    Tier("1-100", 1, 20, 600, 5_000),
    Tier("101-1,000", 101, 60, 2_000, 20_000),
    Tier("1,001-10,000", 1_001, 200, 6_000, 50_000),
    Tier("10,000+", 10_001, 500, 15_000, 100_000),
)


def tier_for(balance: int) -> Tier:
    """The rate-limit tier a credit balance gives (balances below 1 get the lowest tier)."""
    chosen = TIERS[0]
    for tier in TIERS:
        if balance >= tier.min_balance:
            chosen = tier
    return chosen


_HAIKU_LIKE = re.compile(r"haiku|mini|nano|small|fast|flash", re.IGNORECASE)
_FOREIGN = re.compile(r"^(claude|gpt|o\d|chatgpt|anthropic|text-|codex)", re.IGNORECASE)


def resolve_alias(
    requested: str,
    *,
    main_model: str = DEFAULT_MODEL,
    small_model: str = DEFAULT_SMALL_MODEL,
    aliases: Mapping[str, str] | None = None,
) -> str:
    """Map a client's model name to a Kimi model id.

    An explicit alias from settings wins; Kimi ids pass through; names such as
    `claude-3-5-haiku-…` or `gpt-…-mini` go to the small model; any other `claude-…`/`gpt-…`
    name goes to the main model; an unknown other name passes through for the upstream to judge.
    """
    if aliases and requested in aliases:
        return aliases[requested]
    if requested in MODELS or requested.startswith("kimi-"):
        return requested
    if _FOREIGN.match(requested):
        return small_model if _HAIKU_LIKE.search(requested) else main_model
    return requested
