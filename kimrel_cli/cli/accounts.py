"""`kimrel accounts list | use | rename`."""

from __future__ import annotations

import typer

accounts_app = typer.Typer(
    help="Several accounts: list them, pick the default, rename.", no_args_is_help=True
)


@accounts_app.command("list")
def list_(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """List accounts (no network): name, default, where the key is stored, masked key."""
    from dataclasses import asdict

    from kimrel_cli.accounts.registry import list_accounts
    from kimrel_cli.cli.auth import accounts_table
    from kimrel_cli.cli.output import out, print_json

    accounts = [{**asdict(a), "key": f"…{a.last4}"} for a in list_accounts()]
    if as_json:
        print_json(accounts)
        return
    if not accounts:
        out().print("No accounts. Run [bold]kimrel login[/bold].")
        return
    out().print(accounts_table(out(), accounts))


@accounts_app.command("use")
def use(
    name: str = typer.Argument(..., metavar="NAME", help="Account to make the default."),
) -> None:
    """Make an account the default."""
    from kimrel_cli.accounts.registry import set_default
    from kimrel_cli.cli.output import success

    set_default(name)
    success(f"{name} is now the default account")


@accounts_app.command("rename")
def rename(
    old: str = typer.Argument(..., metavar="OLD", help="The account's current name."),
    new: str = typer.Argument(..., metavar="NEW", help="Its new name."),
) -> None:
    """Rename an account (its key moves with it; the default follows)."""
    from kimrel_cli.accounts.registry import rename_account
    from kimrel_cli.cli.output import success

    rename_account(old, new)
    success(f"renamed {old} to {new}")


def register(app: typer.Typer) -> None:
    app.add_typer(accounts_app, name="accounts")
