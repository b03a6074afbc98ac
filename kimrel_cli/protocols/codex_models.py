"""Codex's own model metadata (its `ModelInfo` / `ModelsResponse` shape) for the Kimi models.

Codex 0.169.0 looks every model up in a catalogue of `ModelInfo` objects: the one bundled in
the binary (GPT models only), the one a provider's `GET /models?client_version=…` returns (only
fetched for providers with `auth.command`), or a `model_catalog_json` file (then the only
catalogue, so the `/model` picker lists exactly its models). Without an entry Codex warns
"Model metadata for `kimi-…` not found", assumes a 272K window and offers no `apply_patch`
tool (`apply_patch_tool_type` is unset in its fallback metadata).

The field set is the one in 0.169.0's bundled catalogue; values follow the fallback metadata
where that already worked through the bridge (`shell_type` "default" keeps `exec_command`), and
the catalogue's figures for the rest. `apply_patch_tool_type: "freeform"` makes Codex offer
`apply_patch` as a `custom` tool, which the bridge turns into a function with one string
argument. Pure: the same input gives the same JSON.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from kimrel_cli.catalogue import MODELS, ModelInfo, get_model

# Tool outputs Codex keeps in history are truncated to this many tokens (its catalogue's figure).
TOOL_OUTPUT_TOKENS = 10_000
MINIMAL_CLIENT_VERSION = "0.95.0"

# Codex requires instructions in every catalogue entry; these replace its GPT-tuned prompt.
BASE_INSTRUCTIONS = """\
You are a coding agent running in the Codex CLI on the user's machine, answering through kimrel
with a Kimi model. You and the user share one workspace: read files, run commands and edit code
to get the user's task done, then say briefly what you did.

# Working
- Look before you change: list and read the relevant files first.
- Run shell commands with the shell tool (`exec_command`); prefer `rg` for searching.
- Make the smallest change that solves the task; keep the existing style.
- After editing, run the relevant tests or a quick check when one exists.
- Do not revert changes you did not make. Ask only when you cannot proceed safely.

# Editing files
Edit files with the `apply_patch` tool. Its input is the patch itself (plain text, not JSON):

*** Begin Patch
*** Update File: path/to/file.py
@@ def greet():
-    print("hi")
+    print("hello")
*** End Patch

`*** Add File: PATH` followed by lines starting with `+` creates a file; `*** Delete File: PATH`
removes one. In an update, give a few unchanged context lines (prefixed with a space) around
each change, `-` for removed lines and `+` for added ones. Paths are relative to the working
directory.

# Answering
Be concise and concrete. Mention the files you changed and the checks you ran. Use Markdown
sparingly: short lists, `code` for paths and commands.
"""

_EFFORTS = {
    "none": "Thinking off: answer directly",
    "low": "Thinking on (Kimi has one thinking depth)",
    "medium": "Thinking on (Kimi has one thinking depth)",
    "high": "Thinking on (Kimi has one thinking depth)",
}


def auto_compact_limit(info: ModelInfo) -> int:
    """Tokens at which Codex compacts: before a prompt plus a full answer overflows the window.

    Codex compares the last turn's total tokens with this figure; the next request then adds a
    tool output (at most TOOL_OUTPUT_TOKENS) and asks for up to `max_output_tokens`, so the
    limit keeps both free (with a margin of one more tool output), never exceeds Codex's own
    default of 90% of the window, and never drops below half of it (tiny windows set in
    `[limits]` would otherwise compact after every turn).
    """
    headroom = info.context_window - info.max_output_tokens - 2 * TOOL_OUTPUT_TOKENS
    return min(info.context_window * 9 // 10, max(info.context_window // 2, headroom))


def _levels(info: ModelInfo) -> tuple[str | None, list[dict[str, str]]]:
    if info.thinking == "none":
        return None, []
    names = ["low", "medium", "high"] if info.thinking == "always" else list(_EFFORTS)
    return "medium", [{"effort": name, "description": _EFFORTS[name]} for name in names]


def model_info(info: ModelInfo, priority: int) -> dict[str, Any]:
    """One Codex `ModelInfo` object for a Kimi model."""
    default_level, levels = _levels(info)
    return {
        "slug": info.id,
        "display_name": info.id,
        "description": f"{info.description} ({info.context_window // 1000}K context, "
        f"{info.max_output_tokens:,} output tokens)",
        "default_reasoning_level": default_level,
        "supported_reasoning_levels": levels,
        "shell_type": "default",
        "visibility": "list",
        "minimal_client_version": MINIMAL_CLIENT_VERSION,
        "supported_in_api": True,
        "availability_nux": None,
        "upgrade": None,
        "priority": priority,
        "base_instructions": BASE_INSTRUCTIONS,
        "model_messages": None,
        "prefer_websockets": False,
        "support_verbosity": False,
        "default_verbosity": None,
        "apply_patch_tool_type": "freeform",
        "web_search_tool_type": "text",
        "input_modalities": ["text", "image"] if info.images else ["text"],
        "supports_image_detail_original": False,
        "truncation_policy": {"mode": "tokens", "limit": TOOL_OUTPUT_TOKENS},
        "supports_parallel_tool_calls": True,
        "tool_mode": None,
        "multi_agent_version": None,
        "multi_agent_reasoning_effort": None,
        "use_responses_lite": False,
        "supports_reasoning_effort_updates": False,
        "include_skills_usage_instructions": True,
        "include_apps_usage_instructions": False,
        "include_plugin_usage_instructions": False,
        "guardian": None,
        "node_repl_auto_review_required": False,
        "node_repl_disabled": False,
        "requires_sandboxed_review": False,
        "auto_review_model_override": None,
        "model_specialty": None,
        "context_window": info.context_window,
        "max_context_window": info.context_window,
        "auto_compact_token_limit": auto_compact_limit(info),
        "effective_context_window_percent": 95,
        "comp_hash": None,
        "default_reasoning_summary": "auto" if info.can_think else "none",
        "experimental_supported_tools": [],
        "available_in_plans": [],
        "supports_search_tool": False,
        "supports_experimental_context": False,
        "default_service_tier": None,
        "service_tiers": [],
        "additional_speed_tiers": [],
        "supports_reasoning_summary_parameter": info.can_think,
        "supports_reasoning_summaries": info.can_think,
    }


def models_response(models: Iterable[ModelInfo] | None = None) -> dict[str, Any]:
    """Codex's `ModelsResponse` (`{"models": [...]}`), first = highest priority (default: all
    Kimi models, newest first, so the picker's default is the newest)."""
    chosen = list(reversed(MODELS.values())) if models is None else list(models)
    return {"models": [model_info(info, priority) for priority, info in enumerate(chosen, 1)]}


def catalog_json(limits: Mapping[str, Mapping[str, int]] | None = None) -> str:
    """A `model_catalog_json` file's text: every Kimi model, settings' `[limits]` applied."""
    models = [get_model(model, limits) or MODELS[model] for model in reversed(MODELS)]
    return json.dumps(models_response(models), indent=1) + "\n"
