"""Claude Code's settings.json, pure: (current text, options) → new text with kimrel's part set.

Only the keys kimrel owns change: `env.ANTHROPIC_*` model and URL settings, the picker, context
and output settings (`model_env`), the timeout and traffic switches, and either
`env.ANTHROPIC_AUTH_TOKEN` (the relay's local token, `--via relay`) or `apiKeyHelper`
(`kimrel key print`, `--via direct`). The real key is never written.

`model_env` is what Claude Code 2.1.197 honours for third-party models (checked in its bundle):
- the `/model` picker has five slots besides "Default": `ANTHROPIC_DEFAULT_{OPUS,SONNET,HAIKU,
  FABLE}_MODEL` and `ANTHROPIC_CUSTOM_MODEL_OPTION`, each with `_NAME` and `_DESCRIPTION`; the
  five Kimi models fill them, the main model in the Opus slot (which "Default" resolves to),
  the small model in the Haiku slot (background work); a pick is saved as the slot's alias;
- `ANTHROPIC_MODEL` outranks the `model` a `/model` pick saves, so it is not written (the pick
  then survives the next session); `launch --model` pins it for one run;
- `CLAUDE_CODE_DISABLE_1M_CONTEXT=1`: otherwise Default becomes `<opus model>[1m]`, shown and
  budgeted as a 1M window;
- `CLAUDE_CODE_MAX_CONTEXT_TOKENS` is the one window Claude Code applies to every non-`claude-`
  model, so it is the main model's (256K; kimi-k2's 128K); auto-compaction triggers below it;
- `CLAUDE_CODE_MAX_OUTPUT_TOKENS`: the main model's output limit (8,192) instead of 32,000;
- `CLAUDE_CODE_SUBAGENT_MODEL`: subagents (Explore would use Haiku = kimi-k2, 128K) run on the
  main model, whose window is the one configured.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from kimrel_cli.catalogue import MODELS
from kimrel_cli.errors import SetupError
from kimrel_cli.setup.jsonedit import dump_like, parse_object

Scope = Literal["user", "project", "local"]
HELPER_PREFIX = "kimrel key print"
LOCAL_TOKEN_PREFIX = "kr-local-"


# Picker order after the main model: newest first; the small model always takes the Haiku slot.
PICKER_ORDER = ("kimi-k2.6", "kimi-k2.5", "kimi-k2-thinking", "kimi-k2-0905", "kimi-k2")
_SLOTS = (
    "ANTHROPIC_DEFAULT_OPUS_MODEL",
    "ANTHROPIC_DEFAULT_SONNET_MODEL",
    "ANTHROPIC_DEFAULT_FABLE_MODEL",
    "ANTHROPIC_CUSTOM_MODEL_OPTION",
)
HAIKU_SLOT = "ANTHROPIC_DEFAULT_HAIKU_MODEL"
# Keys kimrel wrote in earlier versions and no longer writes (removed on the next setup).
RETIRED_KEYS = ("ANTHROPIC_MODEL",)


def _describe(model: str, *, main: bool) -> str:
    info = MODELS.get(model)
    if info is None:
        return "kimrel model" + (" (default)" if main else "")
    credits = f"{info.credits} credit{'s' if info.credits != 1 else ''}/request"
    window = "" if "context" in info.description else f" · {info.context_window // 1000}K context"
    text = f"{info.description}{window} · {credits}"
    return text + (" · kimrel default" if main else "")


def picker_slots(model: str, small_model: str) -> dict[str, str]:
    """Which Kimi model each of Claude Code's picker slots holds (env var → model id)."""
    rest = [m for m in PICKER_ORDER if m not in (model, small_model)]
    slots = {HAIKU_SLOT: small_model}
    for slot, chosen in zip(_SLOTS, [model, *rest], strict=False):
        slots[slot] = chosen
    return slots


def model_env(model: str, small_model: str) -> dict[str, str]:
    """The model, picker, context and output settings for Claude Code (module docstring)."""
    info = MODELS.get(model)
    env: dict[str, str] = {"ANTHROPIC_SMALL_FAST_MODEL": small_model}
    for slot, chosen in picker_slots(model, small_model).items():
        env[slot] = chosen
        env[slot + "_NAME"] = chosen
        env[slot + "_DESCRIPTION"] = _describe(chosen, main=chosen == model)
    env["CLAUDE_CODE_SUBAGENT_MODEL"] = model
    env["CLAUDE_CODE_DISABLE_1M_CONTEXT"] = "1"
    if info is not None:
        env["CLAUDE_CODE_MAX_CONTEXT_TOKENS"] = str(info.context_window)
        env["CLAUDE_CODE_MAX_OUTPUT_TOKENS"] = str(info.max_output_tokens)
    return env


# Claude Code 2.1.154 and later put `role: "system"` messages inside `messages` for every
# non-`claude-` model on a first-party base URL (no setting turns this off: checked in
# 2.1.197's bundle); the hosted /v1/messages takes user/assistant only and refuses them.
DIRECT_REFUSED_FROM = (2, 1, 154)


def direct_mode_refusal(version: str | None) -> SetupError | None:
    """Why `--via direct` cannot serve this Claude Code version, or None when it can."""
    from kimrel_cli.setup.tools import version_tuple

    if version is None or version_tuple(version) < DIRECT_REFUSED_FROM:
        return None
    return SetupError(
        f"direct mode cannot serve Claude Code {version}: since 2.1.154 it puts "
        'role: "system" messages inside `messages`, which the hosted /v1/messages refuses '
        "(messages.N.role: must be user or assistant), so every request would fail",
        hint="Use the relay, which translates them: `kimrel setup claude-code` (--via relay, "
        "the default) with `kimrel serve --background`, or `kimrel launch claude`.",
        code="direct-mode-unsupported",
    )


def account_base_url(
    accounts: Mapping[str, Mapping[str, Any]], account: str | None, default: str
) -> str:
    """The hosted API root the account was logged in against (`default` for unknown ones)."""
    entry = accounts.get(account or "") or {}
    return str(entry.get("base_url") or default).rstrip("/")


@dataclass(frozen=True)
class ClaudeOptions:
    via: Literal["relay", "direct"]
    base_url: str  # relay URL (http://127.0.0.1:PORT) or the hosted API root
    model: str
    small_model: str
    token: str | None = field(default=None, repr=False)  # the relay's local token (relay mode)
    account: str | None = None  # for --via direct's apiKeyHelper
    helper_command: str = HELPER_PREFIX


def settings_path(scope: Scope, cwd: Path | None = None) -> Path:
    cwd = cwd or Path.cwd()
    if scope == "project":
        return cwd / ".claude" / "settings.json"
    if scope == "local":
        return cwd / ".claude" / "settings.local.json"
    base = os.environ.get("CLAUDE_CONFIG_DIR")
    return (Path(base) if base else Path.home() / ".claude") / "settings.json"


def is_our_helper(value: object) -> bool:
    """An apiKeyHelper kimrel wrote: `kimrel key print…`, with or without kimrel's full path."""
    import shlex

    try:
        words = shlex.split(value) if isinstance(value, str) else []
    except ValueError:
        return False
    if words and Path(words[0]).name in ("kimrel", "kimrel.exe") and words[1:3] == ["key", "print"]:
        return True
    return words[1:5] == ["-m", "kimrel_cli", "key", "print"]


def helper_program(value: object) -> str | None:
    """The program an apiKeyHelper kimrel wrote runs (a path, or a bare `kimrel`)."""
    import shlex

    return shlex.split(value)[0] if is_our_helper(value) else None  # type: ignore[arg-type]


def _ours(key: str, value: object) -> bool:
    if key in ("ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_API_KEY"):
        return isinstance(value, str) and value.startswith(LOCAL_TOKEN_PREFIX)
    return False


def apply(text: str, options: ClaudeOptions, path: str = "settings.json") -> str:
    settings = parse_object(text, path)
    env = settings.get("env")
    env = dict(env) if isinstance(env, dict) else {}
    for key in RETIRED_KEYS:
        env.pop(key, None)
    wanted = {
        "ANTHROPIC_BASE_URL": options.base_url,
        **model_env(options.model, options.small_model),
        "API_TIMEOUT_MS": "3000000",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "CLAUDE_CODE_ATTRIBUTION_HEADER": "0",
    }
    if options.via == "relay":
        wanted["ANTHROPIC_AUTH_TOKEN"] = options.token or ""
        if is_our_helper(settings.get("apiKeyHelper")):
            del settings["apiKeyHelper"]
    else:
        for key in ("ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_API_KEY"):
            if key in env and _ours(key, env[key]):
                del env[key]
        command = options.helper_command + (
            f" --account {options.account}" if options.account else ""
        )
        settings["apiKeyHelper"] = command
    env.update(wanted)
    settings["env"] = env
    return dump_like(settings, text)


def configured_via(text: str) -> str | None:
    """ "relay", "direct" or None, from a settings.json kimrel may have written."""
    try:
        settings = parse_object(text, "settings.json")
    except Exception:
        return None
    env = settings.get("env") if isinstance(settings.get("env"), dict) else {}
    if is_our_helper(settings.get("apiKeyHelper")):
        return "direct"
    if _ours("ANTHROPIC_AUTH_TOKEN", env.get("ANTHROPIC_AUTH_TOKEN")):
        return "relay"
    return None
