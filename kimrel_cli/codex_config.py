"""What Codex needs to reach the relay without a config file: the `-c` overrides
`kimrel launch codex` passes (and the `kimrel serve` banner prints), and kimrel's copy of the
Kimi model catalogue they point `model_catalog_json` at.

One source for both users (setup/tools.py's `codex_overrides`, relay/dashboard.py's snippet),
kept out of either feature so neither imports the other.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

CODEX_TOKEN_ENV = "KIMREL_RELAY_TOKEN"
CATALOG_FILE = "codex-models.json"


def catalog_file() -> Path:
    """kimrel's copy of the Codex model catalogue (state dir), rewritten when it changed;
    settings' `[limits."MODEL"]` (context_window, max_output_tokens) apply."""
    from kimrel_cli.config import load_settings
    from kimrel_cli.errors import KimrelError
    from kimrel_cli.files import atomic_write_text
    from kimrel_cli.paths import ensure_dir, state_dir
    from kimrel_cli.protocols.codex_models import catalog_json

    try:
        limits = load_settings().limits
    except KimrelError:  # a broken settings file is reported elsewhere; use the catalogue
        limits = {}
    path = ensure_dir(state_dir()) / CATALOG_FILE
    text = catalog_json(limits)
    try:
        current = path.read_text(encoding="utf-8")
    except OSError:
        current = None
    if current != text:
        atomic_write_text(path, text)
    return path


def overrides(
    relay_url: str,
    *,
    model: str,
    catalog_path: Path | str | None = None,
    headers: Mapping[str, str] | None = None,
) -> list[str]:
    """`-c` arguments that give Codex the relay as an inline provider (Responses wire API) and
    the Kimi model catalogue (so `/model` lists Kimi models with their real windows and Codex
    offers `apply_patch`). Without `catalog_path`, kimrel's copy in the state dir is written.
    `headers`: sent with every request to the relay (the provider's `http_headers`; launch
    passes `x-kimrel-project`, which the relay reads and never forwards)."""
    catalog = catalog_path if catalog_path is not None else catalog_file()
    extra = ""
    if headers:
        table = ", ".join(f"{json.dumps(k)}={json.dumps(v)}" for k, v in headers.items())
        extra = f", http_headers={{{table}}}"
    provider = (
        f'{{name="kimrel relay", base_url="{relay_url}/v1", env_key="{CODEX_TOKEN_ENV}", '
        'wire_api="responses", request_max_retries=4, stream_max_retries=5, '
        f"stream_idle_timeout_ms=300000{extra}}}"
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
