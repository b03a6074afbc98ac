"""The root `kimrel` command: --version, --debug, the one error boundary, and the command groups.

Each command module registers itself through `register(app)`; command modules import only
typer, the standard library and light kimrel modules at the top, so `kimrel --help` stays fast.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import typer
from typer.core import TyperGroup

from kimrel_cli import __version__
from kimrel_cli.errors import KimrelError


def debug_enabled() -> bool:
    return os.environ.get("KIMREL_DEBUG", "") not in ("", "0", "false", "no")


class KimrelGroup(TyperGroup):
    """The error boundary: KimrelError → one clear line and an exit code; no tracebacks."""

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
            import click

            if isinstance(exc, click.ClickException) or debug_enabled():
                raise
            from kimrel_cli.cli.output import err

            err().print(
                f"[bold red]internal error:[/bold red] {type(exc).__name__}: {exc}\n"
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


def _register_all() -> None:
    from kimrel_cli.cli import (
        accounts,
        auth,
        chat,
        config,
        launch,
        models,
        serve,
        setup,
        simulate,
    )

    for module in (auth, accounts, config, models, setup, serve, launch, chat, simulate):
        module.register(app)


_register_all()


def main() -> None:
    """Console-script entry point."""
    try:
        app(prog_name="kimrel")
    except KeyboardInterrupt:
        sys.stderr.write("\ninterrupted\n")
        sys.exit(130)
