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
) -> bool:
    """Show the diff and write (unless dry run); True when the tool is configured now."""
    import sys

    from kimrel_cli.cli.output import info, out, success
    from kimrel_cli.errors import SetupError
    from kimrel_cli.setup.backups import apply_changes, pending_changes, read_bytes
    from kimrel_cli.setup.diff import coloured, unified

    pending = pending_changes(changes)
    if not pending:
        success(f"{tool} is already configured; nothing changed")
        return True
    for path, text in pending.items():
        before = read_bytes(path)
        diff = unified(
            str(path), None if before is None else before.decode("utf-8", "replace"), text
        )
        out().print(coloured(diff), end="")  # the diff is the output: `> change.diff` works
    if dry_run:
        info("dry run: nothing was written")
        return False
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
    return True


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""
    except UnicodeDecodeError:
        from kimrel_cli.errors import ConfigError

        raise ConfigError(f"{path} is not UTF-8 text; kimrel has not changed it") from None


def kimrel_command() -> tuple[str, ...]:
    """How another program runs this kimrel, by absolute path (tools may not share our PATH).

    The `kimrel` script beside this interpreter (the venv or pipx install running now), else the
    one on PATH, else `python -m kimrel_cli` with this interpreter.
    """
    import shutil
    import sys

    beside = Path(sys.executable).parent / ("kimrel.exe" if sys.platform == "win32" else "kimrel")
    if beside.is_file():
        return (str(beside),)
    found = shutil.which("kimrel")
    if found:
        return (str(Path(found).resolve().parent / Path(found).name),)
    return (sys.executable, "-m", "kimrel_cli")


def _check_model(name: str, option: str) -> str:
    import difflib

    from kimrel_cli.catalogue import MODELS
    from kimrel_cli.errors import SetupError

    if name in MODELS:
        return name
    close = difflib.get_close_matches(name, list(MODELS), n=1)
    hint = f"Did you mean {close[0]!r}? " if close else ""
    raise SetupError(
        f"unknown model {name!r} for {option}",
        hint=hint + "Models: " + ", ".join(MODELS) + " (kimrel models lists them).",
    )


def _next_step(tool: str, relay: bool) -> None:
    """After writing: does the relay this config points at answer? Say what to run next."""
    from kimrel_cli.cli.output import info, warn
    from kimrel_cli.relay.state import health_ok

    run = "claude" if tool == "claude-code" else "codex --profile kimi-k2-5 (or another profile)"
    if not relay:
        info(f"next: run {run}")
        return
    url = _relay_url()
    if health_ok(url, timeout=0.5):
        info(f"the relay on {url} answers; next: run {run}")
        return
    warn(
        f"no relay answers on {url}: {tool} will wait for it. "
        "Start it with: kimrel serve --background (or kimrel serve in another terminal)"
    )


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
    from kimrel_cli.relay.state import running_token
    from kimrel_cli.setup.claude_code import ClaudeOptions, apply, settings_path

    if scope not in ("user", "project", "local"):
        raise SetupError(f"unknown scope {scope!r}", hint="Use user, project or local.")
    if via not in ("relay", "direct"):
        raise SetupError(f"unknown --via {via!r}", hint="Use relay or direct.")
    import shlex

    from kimrel_cli.accounts.registry import get_account

    settings = load_settings()
    if model is not None:
        _check_model(model, "--model")
    if small_model is not None:
        _check_model(small_model, "--small-model")
    if account is not None:
        get_account(account, settings)  # unknown → error with "did you mean"
    path = settings_path(scope)  # type: ignore[arg-type]
    account = account or (settings.default_account if via == "direct" else None)
    if via == "direct":
        from kimrel_cli.setup.claude_code import account_base_url, direct_mode_refusal
        from kimrel_cli.setup.tools import find_tool

        refusal = direct_mode_refusal(find_tool("claude").version)
        if refusal is not None:
            raise refusal
    options = ClaudeOptions(
        via=via,  # type: ignore[arg-type]
        base_url=_relay_url()
        if via == "relay"
        else account_base_url(settings.accounts, account, settings.base_url),
        model=model or settings.default_model,
        small_model=small_model or settings.small_model,
        token=running_token() if via == "relay" else None,
        account=account,
        helper_command=shlex.join([*kimrel_command(), "key", "print"]),
    )
    new = apply(_read(path), options, str(path))
    if _apply(
        "claude-code",
        {path: new},
        dry_run=dry_run,
        yes=yes,
        secret_files={path} if via == "relay" else set(),
    ):
        _next_step("claude-code", relay=via == "relay")


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
    from kimrel_cli.catalogue import MODELS, model_for_profile
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
        wanted = model_for_profile(profile)
        if wanted is None:
            raise SetupError(f"unknown model {profile!r}", hint="One of: " + ", ".join(MODELS))
        models = (wanted,)
    if model is not None:
        _check_model(model, "--model")
    options = codex_setup.CodexOptions(
        relay_url=_relay_url(),
        token_command=(*kimrel_command(), "serve", "token"),
        models=models,
        default_model=(model or settings.default_model) if default else None,
        version=version_tuple(tool.version),
    )
    home = codex_setup.codex_home()
    config = home / "config.toml"
    current = {config: _read(config)}
    if _apply(
        "codex",
        codex_setup.changes(current, options, home),
        dry_run=dry_run,
        yes=yes,
        secret_files=set(),
    ):
        _next_step("codex", relay=True)


@setup_app.command("status")
def status(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """For each tool: installed and version, the file configured, how, and whether the relay is up."""
    from kimrel_cli.cli.output import out, print_json
    from kimrel_cli.relay.state import health_ok
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
            "problem": _claude_problem(_read(claude_path)),
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
            "problem": _codex_problem(_read(codex_path)),
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
        if row["problem"]:
            out().print(f"  [yellow]problem:[/yellow] {row['problem']}", markup=True)
    out().print(
        f"relay {relay}: {'[green]up[/green]' if relay_up else '[yellow]not running[/yellow] (kimrel serve --background)'}"
    )


def _moved(program: str | None, tool: str) -> str | None:
    if program and Path(program).is_absolute() and not Path(program).exists():
        return (
            f"{program} no longer exists (kimrel moved or was reinstalled): "
            f"run kimrel setup {tool} again"
        )
    return None


def _claude_problem(text: str) -> str | None:
    """What would stop the settings kimrel wrote from working: a moved kimrel, a stale token."""
    from kimrel_cli.relay.state import read_state
    from kimrel_cli.setup.claude_code import helper_program
    from kimrel_cli.setup.jsonedit import parse_object

    try:
        settings = parse_object(text, "settings.json")
    except Exception:
        return None
    moved = _moved(helper_program(settings.get("apiKeyHelper")), "claude-code")
    if moved:
        return moved
    env = settings.get("env") if isinstance(settings.get("env"), dict) else {}
    token = env.get("ANTHROPIC_AUTH_TOKEN")
    state = read_state()
    if (
        state is not None
        and state.token
        and isinstance(token, str)
        and token.startswith("kr-local-")
        and env.get("ANTHROPIC_BASE_URL") == state.url
        and token != state.token
    ):
        return "the running relay expects another token: run kimrel setup claude-code again"
    return None


def _codex_problem(text: str) -> str | None:
    import tomlkit

    try:
        auth = tomlkit.parse(text).unwrap().get("model_providers", {}).get("kimrel", {}).get("auth")
    except Exception:
        return None
    program = auth.get("command") if isinstance(auth, dict) else None
    return _moved(program if isinstance(program, str) else None, "codex")


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
        backups = list_backups(tool)
        if not backups:
            out().print(f"no backups for {tool}: kimrel has not changed its configuration")
        for item in backups:
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(item.created))
            out().print(f"{item.id}  {when}  " + ", ".join(item.files))
        return
    restored = restore(tool, backup, force=force)
    success(f"restored {tool} from backup {restored.id}")


def register(app: typer.Typer) -> None:
    app.add_typer(setup_app, name="setup")
