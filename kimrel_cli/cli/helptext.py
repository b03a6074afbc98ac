"""How options and arguments are named in `--help`: flags show no type, values show a metavar.

Typer labels every parameter with its Python type (`--json <bool>`, `--account <str>`, `name
<str>`). A flag takes no value, and `<str>` says nothing, so after the command tree is built,
`tidy_help` gives each parameter the argparse-style label people expect: nothing for a flag,
`--account NAME` for a value (the parameter's own `metavar=` wins, else its name in capitals),
and `NAME` alone for an argument. Only typer and click are imported: this runs on every start.
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperArgument


class _Argument(TyperArgument):
    """An argument whose name is its label: no `<str>` type column next to it."""

    def display_type_rich(self, ctx: Any) -> str | None:  # typer >= 0.16 calls this
        return None


def _tidy_param(param: Any) -> None:
    if param.param_type_name == "option":
        if getattr(param, "is_flag", False) or getattr(param, "count", False):
            param.metavar = ""
        elif param.metavar is None and param.name:
            param.metavar = param.name.upper()
    elif param.param_type_name == "argument":
        if param.metavar is None and param.name:
            param.metavar = param.name.upper()
        if type(param) is TyperArgument:
            param.__class__ = _Argument


def tidy_help(command: Any) -> None:
    """Label the parameters of a command and of every subcommand under it.

    Labels are applied when click asks for the help option, which it does each time it lists a
    command's parameters: so `--help` itself and options added after the tree was built (typer's
    `--install-completion`) are labelled too.
    """
    make_help_option = getattr(command, "get_help_option", None)
    if make_help_option is not None:

        def get_help_option(ctx: Any, _make: Any = make_help_option) -> Any:
            for param in command.params:
                _tidy_param(param)
            option = _make(ctx)
            if option is not None:
                _tidy_param(option)
            return option

        command.get_help_option = get_help_option
    for sub in getattr(command, "commands", {}).values():
        tidy_help(sub)
