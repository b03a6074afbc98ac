"""`kimrel config get | set | unset | list | path` over the settings file (comments kept).

Every key, type, default and check comes from `kimrel_cli.config.REGISTRY`; this module only
parses the command line and prints. docs/configuration.md is generated from the same registry.
"""

from __future__ import annotations

from typing import Any

import typer

config_app = typer.Typer(
    help="Non-secret settings in config.toml (comments are kept). See docs/configuration.md.",
    no_args_is_help=True,
)


def _settings_and_doc() -> tuple[Any, Any]:
    from kimrel_cli import paths
    from kimrel_cli.config import load_document, settings_from_document

    path = paths.config_file()
    doc = load_document(path)
    return settings_from_document(doc, path), doc


@config_app.command("get")
def get(
    key: str = typer.Argument(
        ..., help="Setting, e.g. relay.port or limits.kimi-k2.6.max_output_tokens."
    ),
) -> None:
    """Print one setting's effective value (from the file, the environment or the default).

    An unknown key or an invalid value in the file is an error (exit 1).
    """
    from kimrel_cli.cli.output import print_raw
    from kimrel_cli.config import effective_value, parse_key

    parse_key(key)  # unknown keys fail before the file is read
    settings, _ = _settings_and_doc()
    value = effective_value(settings, key)
    text = "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
    print_raw(text + "\n")


@config_app.command("set")
def set_(
    key: str = typer.Argument(..., help="Setting, e.g. relay.port."),
    value: str = typer.Argument(..., help="Its new value (checked before anything is written)."),
) -> None:
    """Set a setting (the value is checked first; the file's comments are kept).

    Examples:\n
      kimrel config set relay.port 9000\n
      kimrel config set default_model kimi-k2.6\n
      kimrel config set limits.kimi-k2.6.max_output_tokens 16384\n
      kimrel config set aliases.gpt-4.1 kimi-k2
    """
    from kimrel_cli import paths
    from kimrel_cli.cli.output import success
    from kimrel_cli.config import coerce_value, load_document, parse_key, save_document, set_value
    from kimrel_cli.config import show as show_value

    parsed = parse_key(key)
    typed = coerce_value(key, value)
    path = paths.config_file()
    doc = load_document(path)
    if parsed.setting.key == "default_account":
        from kimrel_cli.accounts.registry import unknown_account
        from kimrel_cli.config import settings_from_document

        settings = settings_from_document(doc, path)
        if typed not in settings.accounts:
            raise unknown_account(typed, settings)
    set_value(doc, key, typed)
    save_document(doc, path)
    success(f"{parsed.text} = {show_value(typed)}")


@config_app.command("unset")
def unset(key: str = typer.Argument(..., help="Setting, e.g. relay.port.")) -> None:
    """Remove a setting from the file (its default applies again)."""
    from kimrel_cli import paths
    from kimrel_cli.cli.output import success, warn
    from kimrel_cli.config import load_document, parse_key, save_document, unset_value
    from kimrel_cli.errors import ConfigError

    parsed = parse_key(key)
    if parsed.setting.managed_by:
        raise ConfigError(
            f"{parsed.text} is managed by `{parsed.setting.managed_by}`",
            hint="Use `kimrel logout` or `kimrel accounts` to change accounts.",
        )
    path = paths.config_file()
    doc = load_document(path)
    if unset_value(doc, key):
        save_document(doc, path)
        success(f"removed {parsed.text}")
    else:
        warn(f"{parsed.text} was not set")


@config_app.command("list")
def list_(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """Every setting with its effective value; (default) marks values not in the file.

    Invalid values and unknown keys in the file are reported as warnings (on stderr); the
    other settings are still listed.
    """
    import os

    from rich.markup import escape

    from kimrel_cli.cli.output import out, print_json, warn
    from kimrel_cli.config import REGISTRY, get_value, is_set, present_keys

    settings, doc = _settings_and_doc()
    for problem in settings.problems:
        warn(escape(f"{problem.where}: {problem.message}"))
    bad = {p.attr for p in settings.problems if p.attr}
    rows: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for setting in REGISTRY:
        if setting.is_family or setting.attr in bad:
            continue
        rows[setting.key] = getattr(settings, setting.attr)
        if setting.env and os.environ.get(setting.env):
            origin[setting.key] = f" [dim](from {setting.env})[/dim]"
        elif not is_set(doc, setting.key):
            origin[setting.key] = " [dim](default)[/dim]"
    for key in present_keys(doc):
        if key.split(".", 1)[0] not in bad:
            rows[key] = get_value(doc, key)
    if as_json:
        print_json(rows)
        return
    for problem in settings.problems:
        if problem.attr and problem.attr in bad and is_set(doc, problem.key):
            rows.setdefault(problem.key, get_value(doc, problem.key))
            origin[problem.key] = " [red](invalid: see the warning above)[/red]"
    for key, value in rows.items():
        shown = "(not set)" if value is None else repr(value)
        out().print(f"{escape(key)} = {escape(shown)}{origin.get(key, '')}")


@config_app.command("path")
def path() -> None:
    """Print the settings file's path."""
    from kimrel_cli import paths
    from kimrel_cli.cli.output import print_raw

    print_raw(str(paths.config_file()) + "\n")


def register(app: typer.Typer) -> None:
    app.add_typer(config_app, name="config")
