"""The real tools kimrel configures: finding them, their versions, and how to point them at the relay.

`claude_env` and `codex_overrides` build the environment / `-c` overrides that make Claude Code
and Codex talk to the relay without touching any of their config files (`codex_overrides` keeps
its model catalogue in kimrel's state dir unless given a path).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

INSTALL = {
    "claude": "npm install -g @anthropic-ai/claude-code",
    "codex": "npm install -g @openai/codex",
}
CODEX_TOKEN_ENV = "KIMREL_RELAY_TOKEN"
CODEX_CATALOG_FILE = "codex-models.json"


@dataclass(frozen=True)
class Tool:
    name: str
    path: str | None
    version: str | None

    @property
    def installed(self) -> bool:
        return self.path is not None


def parse_version(text: str) -> str | None:
    match = re.search(r"(\d+\.\d+\.\d+)", text)
    return match.group(1) if match else None


def version_tuple(version: str | None) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split(".")) if version else ()


def find_tool(name: str) -> Tool:
    path = shutil.which(name)
    if path is None:
        return Tool(name, None, None)
    try:
        out = subprocess.run(
            [path, "--version"],
            capture_output=True,
            text=True,
            timeout=20,
            stdin=subprocess.DEVNULL,
        )
        version = parse_version(out.stdout + out.stderr)
    except (OSError, subprocess.TimeoutExpired):
        version = None
    return Tool(name, path, version)


def claude_env(relay_url: str, token: str, *, model: str, small_model: str) -> dict[str, str]:
    """Environment that points Claude Code at the relay (the relay's token, never the real key)."""
    return {
        "ANTHROPIC_BASE_URL": relay_url,
        "ANTHROPIC_AUTH_TOKEN": token,
        "ANTHROPIC_MODEL": model,
        "ANTHROPIC_SMALL_FAST_MODEL": small_model,
        "ANTHROPIC_DEFAULT_SONNET_MODEL": model,
        "ANTHROPIC_DEFAULT_OPUS_MODEL": model,
        "ANTHROPIC_DEFAULT_HAIKU_MODEL": small_model,
        "API_TIMEOUT_MS": "3000000",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "CLAUDE_CODE_ATTRIBUTION_HEADER": "0",
    }


def codex_catalog_file() -> Path:
    """kimrel's own copy of the Codex model catalogue (state dir), rewritten when it changed;
    settings' `[limits."MODEL"]` (context_window, max_output_tokens) apply."""
    from kimrel_cli.config import load_settings
    from kimrel_cli.errors import KimrelError
    from kimrel_cli.files import atomic_write_text
    from kimrel_cli.paths import ensure_dir, state_dir
    from kimrel_cli.setup.codex import catalog_text

    try:
        limits = load_settings().limits
    except KimrelError:  # a broken settings file is reported elsewhere; use the catalogue
        limits = {}
    path = ensure_dir(state_dir()) / CODEX_CATALOG_FILE
    text = catalog_text(limits)
    try:
        current = path.read_text(encoding="utf-8")
    except OSError:
        current = None
    if current != text:
        atomic_write_text(path, text)
    return path


def codex_overrides(
    relay_url: str, *, model: str, catalog_path: Path | str | None = None
) -> list[str]:
    """`-c` arguments that give Codex the relay as an inline provider (Responses wire API) and
    the Kimi model catalogue (so `/model` lists Kimi models with their real windows and Codex
    offers `apply_patch`). Without `catalog_path`, kimrel's copy in the state dir is written."""
    import json

    catalog = catalog_path if catalog_path is not None else codex_catalog_file()
    provider = (
        f'{{name="kimrel relay", base_url="{relay_url}/v1", env_key="{CODEX_TOKEN_ENV}", '
        'wire_api="responses", request_max_retries=4, stream_max_retries=5, '
        "stream_idle_timeout_ms=300000}"
    )
    return [
        "-c",
        f"model_providers.kimrel={provider}",
        "-c",
        "model_provider=kimrel",
        "-c",
        f'model="{model}"',
        "-c",
        'web_search="disabled"',
        "-c",
        f"model_catalog_json={json.dumps(str(catalog))}",
    ]
