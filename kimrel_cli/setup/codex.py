"""Codex's config.toml and profile files, pure (tomlkit: comments, order and other tables kept).

Writes `[model_providers.kimrel]` pointing at the relay's `/v1` with `wire_api = "responses"`
(Codex 0.95+ refuses "chat"), the token supplied by `auth.command` (no secret in the file), and
one profile per model the way the installed Codex reads them: `$CODEX_HOME/<name>.config.toml`
from 0.134.0 on (a legacy `[profiles.<name>]` table then stops `--profile` from starting), or
`[profiles.<name>]` tables for 0.95–0.133. Profile names are plain (`kimi-k2-6`), since
`--profile` rejects dots. From 0.134.0 on, `kimrel-models.json` (Codex's model-catalogue format,
see protocols/codex_models.py) is written next to config.toml and every profile points
`model_catalog_json` at it: Codex's `/model` then lists the Kimi models with their windows.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kimrel_cli.catalogue import MODELS, model_for_profile, profile_name
from kimrel_cli.errors import ConfigError, SetupError
from kimrel_cli.setup.target import (
    LaunchContext,
    LaunchPlan,
    Option,
    RunningRelay,
    SetupContext,
    SetupPlan,
    Status,
    check_model,
    moved,
)

PROVIDER = "kimrel"
PROFILE_FILES_SINCE = (0, 134, 0)
CATALOG_FILE = "kimrel-models.json"
RESPONSES_SINCE = (0, 95, 0)


def codex_home() -> Path:
    base = os.environ.get("CODEX_HOME")
    return Path(base) if base else Path.home() / ".codex"


@dataclass(frozen=True)
class CodexOptions:
    relay_url: str
    token_command: tuple[str, ...]  # e.g. ("kimrel", "serve", "token")
    models: tuple[str, ...] = field(default_factory=lambda: tuple(MODELS))
    default_model: str | None = None  # --default: top-level model/model_provider
    version: tuple[int, ...] = ()  # () = unknown: assume current


def _parse(text: str, path: str) -> object:
    import tomlkit
    from tomlkit.exceptions import ParseError

    try:
        return tomlkit.parse(text)
    except ParseError as exc:
        raise ConfigError(
            f"{path} line {exc.line}, column {exc.col}: {exc.args[0] if exc.args else exc}",
            hint="Fix the file by hand (kimrel has not changed it).",
            path=path,
            line=exc.line,
            column=exc.col,
        ) from None


def _profile_table(model: str, catalog: Path | None = None) -> object:
    import tomlkit

    table = tomlkit.table()
    table["model"] = model
    table["model_provider"] = PROVIDER
    table["web_search"] = "disabled"
    info = MODELS.get(model)
    if info is not None:
        table["model_context_window"] = info.context_window
        if info.thinking != "none":
            table["model_reasoning_effort"] = "medium"
    if catalog is not None:
        table["model_catalog_json"] = str(catalog)
    return table


def catalog_path(home: Path) -> Path:
    """The Kimi model catalogue setup writes next to config.toml (`model_catalog_json`)."""
    return home / CATALOG_FILE


def catalog_text() -> str:
    from kimrel_cli.protocols.codex_models import catalog_json

    return catalog_json()


def profile_file_text(model: str, catalog: Path | None = None) -> str:
    import tomlkit

    doc = tomlkit.document()
    doc.add(
        tomlkit.comment(f"Written by `kimrel setup codex`: codex --profile {profile_name(model)}")
    )
    for key, value in _profile_table(model, catalog).items():  # type: ignore[attr-defined]
        doc[key] = value
    return doc.as_string()


def uses_profile_files(version: tuple[int, ...]) -> bool:
    return not version or version >= PROFILE_FILES_SINCE


def apply_config(
    text: str, options: CodexOptions, path: str = "config.toml", catalog: Path | None = None
) -> str:
    """config.toml with kimrel's provider (and, for Codex < 0.134, its profile tables)."""
    import tomlkit

    if options.version and options.version < RESPONSES_SINCE:
        raise SetupError(
            "this Codex is older than 0.95 and speaks only the Chat wire API",
            hint="Upgrade Codex: npm install -g @openai/codex",
        )
    doc = _parse(text, path)
    providers = doc.get("model_providers")  # type: ignore[attr-defined]
    if providers is None:
        providers = tomlkit.table(is_super_table=True)
        doc["model_providers"] = providers  # type: ignore[index]
    provider = tomlkit.table()
    provider["name"] = "kimrel relay"
    provider["base_url"] = options.relay_url.rstrip("/") + "/v1"
    provider["wire_api"] = "responses"
    auth = tomlkit.inline_table()
    auth["command"] = options.token_command[0]
    auth["args"] = list(options.token_command[1:])
    provider["auth"] = auth
    provider["request_max_retries"] = 4
    provider["stream_max_retries"] = 5
    provider["stream_idle_timeout_ms"] = 300000
    provider.add(tomlkit.nl())  # keep a blank line before whatever table follows
    providers[PROVIDER] = provider
    if not uses_profile_files(options.version):
        profiles = doc.get("profiles")  # type: ignore[attr-defined]
        if profiles is None:
            profiles = tomlkit.table(is_super_table=True)
            doc["profiles"] = profiles  # type: ignore[index]
        for model in options.models:
            profiles[profile_name(model)] = _profile_table(model)
    if options.default_model:
        doc["model"] = options.default_model  # type: ignore[index]
        doc["model_provider"] = PROVIDER  # type: ignore[index]
        if catalog is not None:
            doc["model_catalog_json"] = str(catalog)  # type: ignore[index]
    return doc.as_string()  # type: ignore[attr-defined]


def changes(
    current: dict[Path, str | None], options: CodexOptions, home: Path
) -> dict[Path, str | None]:
    """Every file kimrel wants in CODEX_HOME, from the current texts (None = absent)."""
    config = home / "config.toml"
    catalog = catalog_path(home) if uses_profile_files(options.version) else None
    out: dict[Path, str | None] = {
        config: apply_config(current.get(config) or "", options, str(config), catalog)
    }
    if catalog is not None:
        out[catalog] = catalog_text()
        for model in options.models:
            out[home / f"{profile_name(model)}.config.toml"] = profile_file_text(model, catalog)
    return out


def configured(text: str) -> bool:
    try:
        doc = _parse(text, "config.toml")
    except ConfigError:
        return False
    providers = doc.get("model_providers") or {}  # type: ignore[attr-defined]
    return PROVIDER in providers


def config_problem(text: str) -> str | None:
    """What would stop the config kimrel wrote from working: a moved kimrel."""
    import tomlkit

    try:
        auth = tomlkit.parse(text).unwrap().get("model_providers", {}).get(PROVIDER, {}).get("auth")
    except Exception:
        return None
    program = auth.get("command") if isinstance(auth, dict) else None
    return moved(program if isinstance(program, str) else None, "codex")


# `kimrel launch codex` names its provider apart, so nothing merges with the `kimrel` provider
# `setup codex` wrote (whose `auth.command` cannot be combined with `env_key`).
LAUNCH_PROVIDER = "kimrel-launch"


def launch_overrides(overrides: list[str]) -> list[str]:
    """`tools.codex_overrides` with the provider renamed to LAUNCH_PROVIDER."""
    renamed = []
    for arg in overrides:
        if arg.startswith(f"model_providers.{PROVIDER}="):
            arg = f"model_providers.{LAUNCH_PROVIDER}=" + arg.split("=", 1)[1]
        elif arg in (f"model_provider={PROVIDER}", f'model_provider="{PROVIDER}"'):
            arg = f'model_provider="{LAUNCH_PROVIDER}"'
        renamed.append(arg)
    return renamed


@dataclass(frozen=True)
class CodexSetup:
    options: CodexOptions
    home: Path


class CodexTarget:
    """`kimrel setup codex` (a provider and one profile per model) and `kimrel launch codex`."""

    name = "codex"
    title = "Codex"
    program = "codex"
    install_hint = "npm install -g @openai/codex"
    next_step = "codex --profile kimi-k2-5 (or another profile)"
    setup_help = """Configure Codex: a `kimrel` provider (Responses API via the relay) and one profile per model.

    Examples:\n
      kimrel setup codex --dry-run\n
      kimrel setup codex --yes && codex --profile kimi-k2-6\n
      kimrel setup codex --default --model kimi-k2.6 --yes
    """
    launch_help = """Run Codex through the relay's Responses bridge; other arguments go to `codex` untouched.

    Examples:\n
      kimrel launch codex\n
      kimrel launch codex --simulate exec --skip-git-repo-check "say hello"
    """
    options = (
        Option("--profile", "Only this model's profile (e.g. kimi-k2.6)."),
        Option("--default", "Also make kimrel Codex's default provider and model.", False),
        Option("--model", "Model for --default (default: settings' default_model)."),
    )

    def prepare(self, values: Mapping[str, Any], ctx: SetupContext) -> SetupPlan:
        from kimrel_cli.setup.tools import find_tool, version_tuple

        profile, default, model = values["profile"], values["default"], values["model"]
        settings = ctx.settings()
        tool = find_tool(self.program)
        if not tool.installed:
            ctx.warn(f"codex is not installed ({self.install_hint}); writing the current format")
        models = tuple(MODELS)
        if profile is not None:
            wanted = profile if profile in MODELS else model_for_profile(profile)
            if wanted is None:
                raise SetupError(f"unknown model {profile!r}", hint="One of: " + ", ".join(MODELS))
            models = (wanted,)
        if model is not None:
            check_model(model, "--model")
        options = CodexOptions(
            relay_url=ctx.relay_url(),
            token_command=(*ctx.kimrel_command, "serve", "token"),
            models=models,
            default_model=(model or settings.default_model) if default else None,
            version=version_tuple(tool.version),
        )
        home = codex_home()
        return SetupPlan(CodexSetup(options, home), (home / "config.toml",))

    def change(self, current: Mapping[Path, str], plan: SetupPlan) -> dict[Path, str | None]:
        setup: CodexSetup = plan.options
        return changes(dict(current), setup.options, setup.home)

    def status_file(self) -> Path:
        return codex_home() / "config.toml"

    def status(self, text: str, running: RunningRelay | None) -> Status:
        return Status("relay" if configured(text) else None, config_problem(text))

    def launch(self, ctx: LaunchContext) -> LaunchPlan:
        from kimrel_cli.setup.tools import CODEX_TOKEN_ENV, codex_overrides
        from kimrel_cli.usage.attribution import PROJECT_HEADER, project_header_value

        headers = {PROJECT_HEADER: project_header_value(ctx.project)} if ctx.project else None
        overrides = codex_overrides(
            ctx.relay_url, model=ctx.model or ctx.settings.default_model, headers=headers
        )
        return LaunchPlan(launch_overrides(overrides), {CODEX_TOKEN_ENV: ctx.token})
