"""`kimrel setup TOOL | status | undo`: configure the tools, safely and reversibly.

One `kimrel setup NAME` command per tool setup in setup/registry.py, built from its options;
`status` and `undo` go through the same registry, so nothing here names a tool.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional

import typer

from kimrel_cli.setup.registry import TARGETS, get, names
from kimrel_cli.setup.target import SetupTarget

setup_app = typer.Typer(
    help=f"Point {names([t.title for t in TARGETS.values()], 'and')} at kimrel, "
    "keeping everything else in their config files.",
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
    expected = {path: read_bytes(path) for path in pending}  # what the diff is against
    for path, text in pending.items():
        before = expected[path]
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
    backup = apply_changes(
        tool,
        pending,
        secret_files={p for p in secret_files if p in pending},
        expected=expected,  # refuse files changed while the prompt was open
    )
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


def _next_step(target: SetupTarget, relay: bool) -> None:
    """After writing: does the relay this config points at answer? Say what to run next."""
    from kimrel_cli.cli.output import info, warn
    from kimrel_cli.relay.state import health_ok

    run = target.next_step
    if not relay:
        info(f"next: run {run}")
        return
    url = _relay_url()
    if health_ok(url, timeout=0.5):
        info(f"the relay on {url} answers; next: run {run}")
        return
    warn(
        f"no relay answers on {url}: {target.name} will wait for it. "
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


def _configure(target: SetupTarget, values: dict[str, Any], *, dry_run: bool, yes: bool) -> None:
    """`kimrel setup NAME` for any target: prepare, change the files' texts, show, write."""
    from kimrel_cli.cli.output import warn
    from kimrel_cli.config import load_settings
    from kimrel_cli.relay.state import running_token
    from kimrel_cli.setup.target import SetupContext

    context = SetupContext(
        settings=load_settings,
        relay_url=_relay_url,
        relay_token=running_token,
        kimrel_command=kimrel_command(),
        warn=warn,
    )
    plan = target.prepare(values, context)
    new = target.change({path: _read(path) for path in plan.files}, plan)
    if _apply(target.name, new, dry_run=dry_run, yes=yes, secret_files=set(plan.secret_files)):
        _next_step(target, relay=plan.via_relay)


def _setup_command(target: SetupTarget) -> Callable[..., None]:
    """A Typer command for `kimrel setup NAME` with the target's options, --dry-run and --yes."""

    def command(**values: Any) -> None:
        dry_run, yes = values.pop("dry_run"), values.pop("yes")
        _configure(target, values, dry_run=dry_run, yes=yes)

    params = [
        inspect.Parameter(
            option.key,
            inspect.Parameter.KEYWORD_ONLY,
            default=typer.Option(option.default, option.flag, help=option.help),
            annotation=bool
            if isinstance(option.default, bool)
            else str
            if option.default is not None
            else Optional[str],  # noqa: UP045 (Typer reads the annotation object)
        )
        for option in target.options
    ]
    params += [
        inspect.Parameter(
            "dry_run",
            inspect.Parameter.KEYWORD_ONLY,
            default=typer.Option(False, "--dry-run", help="Show the diff; change nothing."),
            annotation=bool,
        ),
        inspect.Parameter(
            "yes",
            inspect.Parameter.KEYWORD_ONLY,
            default=typer.Option(False, "--yes", "-y", help="Write without asking."),
            annotation=bool,
        ),
    ]
    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__doc__ = inspect.cleandoc(target.setup_help)
    return command


for _target in TARGETS.values():
    setup_app.command(_target.name)(_setup_command(_target))


@setup_app.command("status")
def status(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """For each tool: installed and version, the file configured, how, and whether the relay is up."""
    from kimrel_cli.cli.output import out, print_json
    from kimrel_cli.relay.state import health_ok, read_state
    from kimrel_cli.setup.target import RunningRelay
    from kimrel_cli.setup.tools import find_tool

    relay = _relay_url()
    relay_up = health_ok(relay, timeout=0.5)
    state = read_state()
    running = None if state is None else RunningRelay(state.url, state.token)
    report: list[dict[str, Any]] = []
    for target in TARGETS.values():
        tool = find_tool(target.program)
        path = target.status_file()
        text = _read(path)
        found = target.status(text, running)
        report.append(
            {
                "tool": target.name,
                "installed": tool.installed,
                "version": tool.version,
                "file": str(path),
                "via": found.via,
                "problem": found.problem,
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


@setup_app.command("undo")
def undo(
    tool: str = typer.Argument(..., help=names(list(TARGETS))),
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
    from kimrel_cli.setup.backups import list_backups, restore

    tool = get(tool).name
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
