"""`kimrel setup claude-code | codex | status | undo`: configure the tools, safely and reversibly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

setup_app = typer.Typer(
    help="Point Claude Code and Codex at kimrel, keeping everything else in their config files.",
    no_args_is_help=True,
)


def _apply(
    tool: str, changes: dict[Path, str | None], *, dry_run: bool, yes: bool, secret_files: set[Path]
) -> None:
    import sys

    from kimrel_cli.cli.output import err, info, success
    from kimrel_cli.errors import SetupError
    from kimrel_cli.setup.backups import apply_changes, pending_changes, read_bytes
    from kimrel_cli.setup.diff import coloured, unified

    pending = pending_changes(changes)
    if not pending:
        success(f"{tool} is already configured; nothing changed")
        return
    for path, text in pending.items():
        before = read_bytes(path)
        diff = unified(
            str(path), None if before is None else before.decode("utf-8", "replace"), text
        )
        err().print(coloured(diff))
    if dry_run:
        info("dry run: nothing was written")
        return
    if not yes:
        if not sys.stdin.isatty():
            raise SetupError(
                "confirmation needed", hint="Review the diff above, then run again with --yes."
            )
        if not typer.confirm("Write these changes?", default=True, err=True):
            raise typer.Exit(1)
    backup = apply_changes(tool, pending, secret_files={p for p in secret_files if p in pending})
    from kimrel_cli.wording import count

    success(
        f"configured {tool} ({count(len(pending), 'file')}); "
        f"undo with: kimrel setup undo {tool}  \\[backup {backup.id}]"
    )


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""
    except UnicodeDecodeError:
        from kimrel_cli.errors import ConfigError

        raise ConfigError(f"{path} is not UTF-8 text; kimrel has not changed it") from None


def _relay_url() -> str:
    from kimrel_cli.config import load_settings
    from kimrel_cli.relay.state import read_state

    state = read_state()
    if state is not None:
        return state.url
    settings = load_settings()
    return f"http://{settings.relay_host}:{settings.relay_port}"


@setup_app.command("claude-code")
def claude_code(
    scope: str = typer.Option(
        "user",
        help="user (~/.claude/settings.json), project (.claude/settings.json) or local (.claude/settings.local.json).",
    ),
    via: str = typer.Option(
        "relay",
        help="relay: through the local relay (its token, never your key); direct: the hosted API with apiKeyHelper.",
    ),
    model: str | None = typer.Option(None, help="Main model (default: settings' default_model)."),
    small_model: str | None = typer.Option(
        None, "--small-model", help="Small/fast model (default: settings' small_model)."
    ),
    account: str | None = typer.Option(
        None, "--account", help="Account for --via direct's apiKeyHelper."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the diff; change nothing."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Write without asking."),
) -> None:
    """Configure Claude Code (settings.json `env`), keeping every other setting.

    Examples:\n
      kimrel setup claude-code --dry-run\n
      kimrel setup claude-code --yes\n
      kimrel setup claude-code --via direct --account work --scope project
    """
    from kimrel_cli.config import load_settings
    from kimrel_cli.errors import SetupError
    from kimrel_cli.relay.state import relay_token
    from kimrel_cli.setup.claude_code import ClaudeOptions, apply, settings_path

    if scope not in ("user", "project", "local"):
        raise SetupError(f"unknown scope {scope!r}", hint="Use user, project or local.")
    if via not in ("relay", "direct"):
        raise SetupError(f"unknown --via {via!r}", hint="Use relay or direct.")
    settings = load_settings()
    path = settings_path(scope)  # type: ignore[arg-type]
    options = ClaudeOptions(
        via=via,  # type: ignore[arg-type]
        base_url=_relay_url() if via == "relay" else settings.base_url,
        model=model or settings.default_model,
        small_model=small_model or settings.small_model,
        token=relay_token() if via == "relay" else None,
        account=account or (settings.default_account if via == "direct" else None),
    )
    new = apply(_read(path), options, str(path))
    _apply(
        "claude-code",
        {path: new},
        dry_run=dry_run,
        yes=yes,
        secret_files={path} if via == "relay" else set(),
    )


@setup_app.command("codex")
def codex(
    profile: str | None = typer.Option(None, help="Only this model's profile (e.g. kimi-k2.6)."),
    default: bool = typer.Option(
        False, "--default", help="Also make kimrel Codex's default provider and model."
    ),
    model: str | None = typer.Option(
        None, help="Model for --default (default: settings' default_model)."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the diff; change nothing."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Write without asking."),
) -> None:
    """Configure Codex: a `kimrel` provider (Responses API via the relay) and one profile per model.

    Examples:\n
      kimrel setup codex --dry-run\n
      kimrel setup codex --yes && codex --profile kimi-k2-6\n
      kimrel setup codex --default --model kimi-k2.6 --yes
    """
    import shutil
    import sys

    from kimrel_cli.catalogue import MODELS
    from kimrel_cli.cli.output import warn
    from kimrel_cli.config import load_settings
    from kimrel_cli.errors import SetupError
    from kimrel_cli.setup import codex as codex_setup
    from kimrel_cli.setup.tools import find_tool, version_tuple

    settings = load_settings()
    tool = find_tool("codex")
    if not tool.installed:
        warn("codex is not installed (npm install -g @openai/codex); writing the current format")
    models = tuple(MODELS)
    if profile is not None:
        wanted = (
            profile.replace("-6", ".6").replace("-5", ".5") if profile not in MODELS else profile
        )
        if wanted not in MODELS:
            raise SetupError(f"unknown model {profile!r}", hint="One of: " + ", ".join(MODELS))
        models = (wanted,)
    kimrel = shutil.which("kimrel")
    command = (
        (kimrel, "serve", "token")
        if kimrel
        else (sys.executable, "-m", "kimrel_cli", "serve", "token")
    )
    options = codex_setup.CodexOptions(
        relay_url=_relay_url(),
        token_command=command,
        models=models,
        default_model=(model or settings.default_model) if default else None,
        version=version_tuple(tool.version),
    )
    home = codex_setup.codex_home()
    config = home / "config.toml"
    current = {config: _read(config)}
    _apply(
        "codex",
        codex_setup.changes(current, options, home),
        dry_run=dry_run,
        yes=yes,
        secret_files=set(),
    )


@setup_app.command("status")
def status(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """For each tool: installed and version, the file configured, how, and whether the relay is up."""
    from kimrel_cli.cli.output import out, print_json
    from kimrel_cli.relay.run import health_ok
    from kimrel_cli.setup import codex as codex_setup
    from kimrel_cli.setup.claude_code import configured_via, settings_path
    from kimrel_cli.setup.tools import find_tool

    relay = _relay_url()
    relay_up = health_ok(relay, timeout=0.5)
    report: list[dict[str, Any]] = []
    claude = find_tool("claude")
    claude_path = settings_path("user")
    report.append(
        {
            "tool": "claude-code",
            "installed": claude.installed,
            "version": claude.version,
            "file": str(claude_path),
            "via": configured_via(_read(claude_path)),
        }
    )
    codex_tool = find_tool("codex")
    codex_path = codex_setup.codex_home() / "config.toml"
    report.append(
        {
            "tool": "codex",
            "installed": codex_tool.installed,
            "version": codex_tool.version,
            "file": str(codex_path),
            "via": "relay" if codex_setup.configured(_read(codex_path)) else None,
        }
    )
    if as_json:
        print_json({"tools": report, "relay": {"url": relay, "up": relay_up}})
        return
    for row in report:
        installed = (
            f"{row['version'] or 'installed'}"
            if row["installed"]
            else "[yellow]not installed[/yellow]"
        )
        via = row["via"] or "[dim]not configured by kimrel[/dim]"
        out().print(f"[bold]{row['tool']}[/bold]: {installed}; {row['file']}: {via}")
    out().print(
        f"relay {relay}: {'[green]up[/green]' if relay_up else '[yellow]not running[/yellow] (kimrel serve --background)'}"
    )


@setup_app.command("undo")
def undo(
    tool: str = typer.Argument(..., help="claude-code or codex"),
    list_only: bool = typer.Option(False, "--list", help="List the backups."),
    backup: str | None = typer.Option(
        None, "--backup", help="Restore this backup instead of the latest."
    ),
    force: bool = typer.Option(
        False, "--force", help="Restore even over changes made by hand since."
    ),
) -> None:
    """Take back kimrel's last change to a tool's config, byte for byte."""
    import time

    from kimrel_cli.cli.output import out, success
    from kimrel_cli.errors import SetupError
    from kimrel_cli.setup.backups import list_backups, restore

    if tool not in ("claude-code", "codex"):
        raise SetupError(f"unknown tool {tool!r}", hint="Use claude-code or codex.")
    if list_only:
        for item in list_backups(tool):
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(item.created))
            out().print(f"{item.id}  {when}  " + ", ".join(item.files))
        return
    restored = restore(tool, backup, force=force)
    success(f"restored {tool} from backup {restored.id}")


def register(app: typer.Typer) -> None:
    app.add_typer(setup_app, name="setup")
