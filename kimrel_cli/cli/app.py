"""The root `kimrel` command: --version, --debug, the one error boundary, and the command groups.

Each command module registers itself through `register(app)`; command modules import only
typer, the standard library and light kimrel modules at the top, so `kimrel --help` stays fast.
"""

from __future__ import annotations

import os
import re
import sys
from typing import Any

import typer
from typer.core import TyperGroup

from kimrel_cli import __version__
from kimrel_cli.errors import KimrelError


def debug_enabled() -> bool:
    return os.environ.get("KIMREL_DEBUG", "") not in ("", "0", "false", "no")


def _usage_error_base() -> type[Exception]:
    """The ClickException class of whichever click Typer uses (Typer ≥0.26 vendors its own).

    Looked up through `typer.BadParameter` so it is right for every supported Typer version;
    `import click` would name the wrong class on a vendored Typer, or fail when click is absent.
    """
    for cls in typer.BadParameter.__mro__:
        if cls.__name__ == "ClickException":
            return cls
    return typer.BadParameter  # pragma: no cover - every Typer has a ClickException base


def _root_option_names(ctx: Any) -> list[str]:
    root = ctx.find_root().command if ctx is not None else None
    names: list[str] = []
    for param in getattr(root, "params", []):
        names += [o for o in getattr(param, "opts", []) if o.startswith("--")]
    return [*names, "--help"]


def _did_you_mean(exc: Exception, ctx: Any) -> None:
    """Add "Did you mean …?" to an unknown-command or unknown-option error, in one wording for
    every Typer version (older ones suggest nothing for commands, newer ones word options as
    "(Possible options: …)")."""
    import difflib

    message = str(getattr(exc, "message", "") or "")
    if "Did you mean" in message:
        return
    option = getattr(exc, "option_name", None)
    if option is not None and hasattr(exc, "possibilities"):
        choices = sorted(exc.possibilities or [])  # type: ignore[attr-defined]
        if ctx is not None and ctx.parent is not None and option in _root_option_names(ctx):
            exc.message = (  # type: ignore[attr-defined]
                f"No such option: {option}. It belongs before the command: "
                f"kimrel {option} {ctx.command_path.split(' ', 1)[-1]} …"
            )
            exc.possibilities = None  # type: ignore[attr-defined]
        elif choices:
            exc.message = f"No such option: {option}. Did you mean {' or '.join(choices[:3])}?"  # type: ignore[attr-defined]
            exc.possibilities = None  # type: ignore[attr-defined]
        return
    found = re.match(r"No such command (['\"])(.*)\1", message)
    if not found:
        return
    typo = found.group(2)
    group = ctx.command if ctx is not None else None
    commands = sorted(getattr(group, "commands", {}) or {})
    close = difflib.get_close_matches(typo, commands, n=2, cutoff=0.6)
    if close:
        exc.message = f"No such command {typo!r}. Did you mean {' or '.join(map(repr, close))}?"  # type: ignore[attr-defined]
        return
    if ctx is not None and ctx.parent is None and f"--{typo}" in _root_option_names(ctx):
        exc.message = f"No such command {typo!r}. Did you mean 'kimrel --{typo}'?"  # type: ignore[attr-defined]


class KimrelGroup(TyperGroup):
    """The error boundary: KimrelError → one clear line and an exit code; no tracebacks.

    Usage errors (unknown command or option, missing or invalid argument) are not kimrel's
    failures: they pass through to Typer, which prints its own message and exits 2, with a
    "Did you mean …?" added here.
    """

    def parse_args(self, ctx: Any, args: list[str]) -> Any:
        try:
            return super().parse_args(ctx, args)
        except _usage_error_base() as exc:
            _did_you_mean(exc, ctx)
            raise

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from kimrel_cli.cli.completion import wire_completion
        from kimrel_cli.cli.helptext import tidy_help

        tidy_help(self)  # help labels: no <bool> on flags, `--account NAME` on values
        wire_completion(self)  # accounts, model ids and tool names complete in the shell

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except KimrelError as exc:
            if debug_enabled():
                raise
            from kimrel_cli.cli.output import render_error

            render_error(exc)
            raise typer.Exit(exc.exit_code) from None
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:
            if isinstance(exc, _usage_error_base()):
                _did_you_mean(exc, getattr(exc, "ctx", None))
                raise
            if debug_enabled():
                raise
            from rich.markup import escape

            from kimrel_cli.cli.output import err

            err().print(
                f"[bold red]internal error:[/bold red] {escape(type(exc).__name__)}: "
                f"{escape(str(exc))}\n"
                "[dim]hint:[/dim] run again with --debug (or KIMREL_DEBUG=1) for the traceback, "
                "and report it."
            )
            raise typer.Exit(70) from None


app = typer.Typer(
    name="kimrel",
    cls=KimrelGroup,
    help=(
        "Use the kimrel.com Kimi K2 API from your own machine and tools.\n\n"
        "Start with no account: [bold]kimrel serve --simulate[/bold]. "
        "With an account: [bold]kimrel login[/bold], then [bold]kimrel setup claude-code[/bold] "
        "or [bold]kimrel launch codex[/bold]."
    ),
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"kimrel {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(
        False,
        "--version",
        "-V",
        callback=_version,
        is_eager=True,
        help="Show the version and exit.",
    ),
    debug: bool = typer.Option(
        False, "--debug", help="Show tracebacks and debug logs (same as KIMREL_DEBUG=1)."
    ),
) -> None:
    """Use the kimrel.com Kimi K2 API from your own machine and tools."""
    if debug:
        os.environ["KIMREL_DEBUG"] = "1"


# The command modules, in the order `kimrel --help` lists them. A new one is a module in this
# package with a `register(app)` function, named here: one line. Each imports only typer, the
# standard library and light kimrel modules at its top (heavy ones inside its functions), so
# `kimrel --help` stays fast; tests/unit/test_cli_imports.py checks that nothing heavy loads.
COMMAND_MODULES = (
    "auth",
    "accounts",
    "config",
    "models",
    "setup",
    "serve",
    "launch",
    "chat",
    "simulate",
    "usage",
    "budget",
    "statusline",
)


def _register_all() -> None:
    import importlib

    for name in COMMAND_MODULES:
        importlib.import_module(f"kimrel_cli.cli.{name}").register(app)


_register_all()


def _wants_help(args: list[str]) -> bool:
    return not args or "--help" in args or "-h" in args


def main() -> None:
    """Console-script entry point."""
    if _wants_help(sys.argv[1:]):
        from kimrel_cli.cli.fasthelp import light_help_renderer

        light_help_renderer()
    try:
        app(prog_name="kimrel")
    except KeyboardInterrupt:
        sys.stderr.write("\ninterrupted\n")
        sys.exit(130)
