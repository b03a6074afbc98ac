"""`kimrel config get | set | unset | list | path` over the settings file (comments kept)."""

from __future__ import annotations

import typer

config_app = typer.Typer(
    help="Non-secret settings in config.toml (comments are kept).", no_args_is_help=True
)


@config_app.command("get")
def get(key: str = typer.Argument(..., help="Dotted key, e.g. relay.port")) -> None:
    """Print one setting's effective value."""
    from kimrel_cli.cli.output import print_raw
    from kimrel_cli.config import get_value, load_document

    value = get_value(load_document(), key)
    if value is None:
        value = _effective().get(key)
    print_raw(("" if value is None else str(value)) + "\n")


@config_app.command("set")
def set_(key: str = typer.Argument(...), value: str = typer.Argument(...)) -> None:
    """Set a setting.

    Examples:\n
      kimrel config set relay.port 9000\n
      kimrel config set default_model kimi-k2.6\n
      kimrel config set limits.kimi-k2.6.max_output_tokens 16384
    """
    from kimrel_cli.cli.output import success
    from kimrel_cli.config import coerce_value, load_document, save_document, set_value

    doc = load_document()
    typed = coerce_value(key, value)
    if key.startswith("limits."):
        parts = key.split(".")
        model, field = ".".join(parts[1:-1]), parts[-1]
        import tomlkit

        limits = doc.setdefault("limits", tomlkit.table(is_super_table=True))
        limits.setdefault(model, tomlkit.table())[field] = typed
    else:
        set_value(doc, key, typed)
    save_document(doc)
    success(f"{key} = {typed!r}")


@config_app.command("unset")
def unset(key: str = typer.Argument(...)) -> None:
    """Remove a setting (its default applies again)."""
    from kimrel_cli.cli.output import success, warn
    from kimrel_cli.config import load_document, save_document, unset_value

    doc = load_document()
    if unset_value(doc, key):
        save_document(doc)
        success(f"removed {key}")
    else:
        warn(f"{key} was not set")


def _effective() -> dict[str, object]:
    from kimrel_cli.config import load_settings

    s = load_settings()
    return {
        "base_url": s.base_url,
        "default_model": s.default_model,
        "small_model": s.small_model,
        "default_account": s.default_account,
        "relay.host": s.relay_host,
        "relay.port": s.relay_port,
        "relay.messages_upstream": s.messages_upstream,
        "relay.mid_conversation_system": s.mid_conversation_system,
        "relay.low_credit_warning": s.low_credit_warning,
    }


@config_app.command("list")
def list_(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """Every known setting with its effective value; (default) marks values not in the file."""
    from kimrel_cli.cli.output import out, print_json
    from kimrel_cli.config import get_value, load_document

    doc = load_document()
    effective = _effective()
    if as_json:
        print_json(effective)
        return
    for key, value in effective.items():
        mark = "" if get_value(doc, key) is not None else " [dim](default)[/dim]"
        out().print(f"{key} = {value!r}{mark}")


@config_app.command("path")
def path() -> None:
    """Print the settings file's path."""
    from kimrel_cli import paths
    from kimrel_cli.cli.output import print_raw

    print_raw(str(paths.config_file()) + "\n")


def register(app: typer.Typer) -> None:
    app.add_typer(config_app, name="config")
