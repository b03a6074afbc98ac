"""Shell completion of the values people type: account names, model ids and tool names.

One rule for the whole CLI, by parameter name, so every command that takes `--account` or
`--model` completes the same way without each declaring it:

- `--account`, and `accounts use NAME` / `accounts rename OLD` → the accounts in config.toml;
- `--model`, `--small-model`, `--profile` → the catalogue's model ids, with their descriptions;
- `setup undo TOOL` → `claude-code`, `codex`.

`kimrel --install-completion` installs typer's script for the user's shell; the shell then calls
`kimrel` with `_KIMREL_COMPLETE=complete_bash` (zsh, fish, …), which lands here. A completion
never raises: a broken config.toml simply completes nothing.
"""

from __future__ import annotations

from typing import Any

TOOLS = {"claude-code": "Claude Code (settings.json)", "codex": "Codex (config.toml)"}


def complete_account(incomplete: str) -> list[tuple[str, str]]:
    """Account names from the settings, the default one marked."""
    try:
        from kimrel_cli.config import load_settings

        settings = load_settings()
    except Exception:  # a completion must never print a traceback into the shell
        return []
    names = sorted(settings.accounts)
    return [
        (name, "default account" if name == settings.default_account else "account")
        for name in names
        if name.startswith(incomplete)
    ]


def complete_model(incomplete: str) -> list[tuple[str, str]]:
    """Model ids from the catalogue, with their one-line descriptions."""
    from kimrel_cli.catalogue import MODELS

    return [
        (model_id, info.description)
        for model_id, info in MODELS.items()
        if model_id.startswith(incomplete)
    ]


def complete_tool(incomplete: str) -> list[tuple[str, str]]:
    """The tools kimrel sets up."""
    return [(name, text) for name, text in TOOLS.items() if name.startswith(incomplete)]


_BY_OPTION = {
    "account": complete_account,
    "model": complete_model,
    "small_model": complete_model,
    "profile": complete_model,
}
_BY_ARGUMENT = {
    ("use", "name"): complete_account,
    ("rename", "old"): complete_account,
    ("undo", "tool"): complete_tool,
}


def _completion_item_class() -> Any:
    try:
        from typer._click.shell_completion import CompletionItem  # typer >= 0.16 vendors click
    except ImportError:  # pragma: no cover - older typer uses click itself
        from click.shell_completion import CompletionItem
    return CompletionItem


def wire_completion(command: Any, name: str = "") -> None:
    """Give the parameters of a command and its subcommands the completions above."""
    item = _completion_item_class()
    for param in getattr(command, "params", []):
        if param.param_type_name == "option":
            complete = _BY_OPTION.get(param.name or "")
        else:
            complete = _BY_ARGUMENT.get((name, param.name or ""))
        if complete is not None:

            def shell_complete(ctx: Any, incomplete: str, _complete: Any = complete) -> list[Any]:
                return [item(value, help=text) for value, text in _complete(incomplete)]

            param.shell_complete = shell_complete
    for sub_name, sub in getattr(command, "commands", {}).items():
        wire_completion(sub, sub_name)
