"""Claude Code's settings.json, pure: (current text, options) → new text with kimrel's part set.

Only the keys kimrel owns change: `env.ANTHROPIC_*` model and URL settings, the timeout and
traffic switches, and either `env.ANTHROPIC_AUTH_TOKEN` (the relay's local token, `--via relay`)
or `apiKeyHelper` (`kimrel key print`, `--via direct`). The real key is never written.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from kimrel_cli.setup.jsonedit import dump_like, parse_object

Scope = Literal["user", "project", "local"]
HELPER_PREFIX = "kimrel key print"
LOCAL_TOKEN_PREFIX = "kr-local-"


@dataclass(frozen=True)
class ClaudeOptions:
    via: Literal["relay", "direct"]
    base_url: str  # relay URL (http://127.0.0.1:PORT) or the hosted API root
    model: str
    small_model: str
    token: str | None = None  # the relay's local token, for --via relay
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
    wanted = {
        "ANTHROPIC_BASE_URL": options.base_url,
        "ANTHROPIC_MODEL": options.model,
        "ANTHROPIC_SMALL_FAST_MODEL": options.small_model,
        "ANTHROPIC_DEFAULT_SONNET_MODEL": options.model,
        "ANTHROPIC_DEFAULT_OPUS_MODEL": options.model,
        "ANTHROPIC_DEFAULT_HAIKU_MODEL": options.small_model,
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
