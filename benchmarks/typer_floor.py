"""The floor for `kimrel --help`: a bare Typer app of the same shape (nine command groups, rich
markup, the same markdown/traceback stand-ins as cli/app.py) and nothing else. What `kimrel
--help` costs above this is kimrel's own start-up."""

from __future__ import annotations

import sys

import typer

app = typer.Typer(rich_markup_mode="rich", no_args_is_help=True, help="A bare Typer app.")
for name in [
    "auth",
    "accounts",
    "config",
    "models",
    "setup",
    "serve",
    "launch",
    "chat",
    "simulate",
]:
    group = typer.Typer(help=f"The {name} commands.")

    @group.command()
    def run(option: str = typer.Option("", help="An option.")) -> None:
        """A command."""

    app.add_typer(group, name=name)

if __name__ == "__main__":
    if "--help" in sys.argv:
        from kimrel_cli.cli.fasthelp import light_help_renderer  # imports nothing else of kimrel

        light_help_renderer()
    app()
