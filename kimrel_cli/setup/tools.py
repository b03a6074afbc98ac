"""The real tools kimrel configures: finding them, their versions, and how to point them at the relay.

`claude_env` and `codex_overrides` build the environment / `-c` overrides that make Claude Code
and Codex talk to the relay without touching any of their config files (`codex_overrides` keeps
its model catalogue in kimrel's state dir unless given a path).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from kimrel_cli import codex_config

CODEX_TOKEN_ENV = codex_config.CODEX_TOKEN_ENV


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


def claude_env(
    relay_url: str,
    token: str,
    *,
    model: str,
    small_model: str,
    pinned: bool = False,
    limits: Mapping[str, Mapping[str, int]] | None = None,
) -> dict[str, str]:
    """Environment that points Claude Code at the relay (the relay's token, never the real key).

    The model settings are setup's (`claude_code.model_env`): every Kimi model in `/model` with
    its window and output limit (settings' `limits` apply). `pinned` (an explicit `launch --model`) also sets
    `ANTHROPIC_MODEL`, which outranks a model saved with `/model`.
    """
    from kimrel_cli.setup.claude_code import model_env

    env = {
        "ANTHROPIC_BASE_URL": relay_url,
        "ANTHROPIC_AUTH_TOKEN": token,
        **model_env(model, small_model, limits),
        "API_TIMEOUT_MS": "3000000",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "CLAUDE_CODE_ATTRIBUTION_HEADER": "0",
    }
    if pinned:
        env["ANTHROPIC_MODEL"] = model
    return env


def codex_overrides(
    relay_url: str,
    *,
    model: str,
    catalog_path: Path | str | None = None,
    headers: Mapping[str, str] | None = None,
) -> list[str]:
    """`-c` arguments that point Codex at the relay, with the Kimi model catalogue
    (kimrel_cli/codex_config.py, shared with the `kimrel serve` banner)."""
    return codex_config.overrides(
        relay_url, model=model, catalog_path=catalog_path, headers=headers
    )
