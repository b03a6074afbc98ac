"""`kimrel login`, `logout`, `status` and `key print`."""

from __future__ import annotations

import os
import sys
from typing import Any

import typer

key_app = typer.Typer(
    help="The stored API key, for programs that ask a command for it.", no_args_is_help=True
)

ACCOUNT_HELP = "Account (default: KIMREL_API_KEY if set, else the default account)."


def login(
    account: str = typer.Option(
        "default",
        "--account",
        "-a",
        metavar="NAME",
        show_default=False,
        help='Name to keep the key under; several accounts are allowed. Without it: "default".',
    ),
    base_url: str | None = typer.Option(
        None, "--base-url", metavar="URL", help="API root (default: settings, KIMREL_BASE_URL)."
    ),
    with_token: bool = typer.Option(
        False, "--with-token", help="Read the key from standard input (for scripts)."
    ),
    insecure_storage: bool = typer.Option(
        False,
        "--insecure-storage",
        help="Store the key in a 0600 file in the state dir instead of the keyring.",
    ),
) -> None:
    """Log in: check an API key against kimrel.com and keep it in the OS keyring.

    Examples:
      kimrel login
      kimrel login --account work
      echo "$KEY" | kimrel login --with-token --account ci --insecure-storage
    See docs/accounts.md.
    """
    from kimrel_cli.accounts.login import check_storage
    from kimrel_cli.accounts.login import login as do_login
    from kimrel_cli.accounts.registry import validate_name
    from kimrel_cli.cli.output import err, info, success, waiting, warn
    from kimrel_cli.config import load_settings
    from kimrel_cli.wording import count, rates

    settings = load_settings()
    url = (base_url or settings.base_url).rstrip("/")
    storage = "file" if insecure_storage else "keyring"
    validate_name(account)
    check_storage(storage)  # before asking for the key: no keyring, nothing to paste
    if with_token:
        raw = sys.stdin.read()
    elif not sys.stdin.isatty():
        info("reading the key from standard input (it is not a terminal)")
        raw = sys.stdin.read()
    else:
        raw = typer.prompt("Paste your kimrel.com API key", hide_input=True, err=True)
    if not raw.strip() and not sys.stdin.isatty():
        from kimrel_cli.errors import AccountError

        raise AccountError(
            "no key on standard input",
            hint='Pipe it in (echo "$KEY" | kimrel login --with-token), or run kimrel login '
            "in a terminal to paste it.",
        )
    with waiting(f"checking the key with {url}…"):
        key, balance, stripped, became_default = do_login(
            account, raw, base_url=url, storage=storage
        )
    if stripped:
        warn("removed spaces or extra line breaks around the key")
    success(f"logged in as [bold]{account}[/bold] ({key.masked}) at {url}")
    if balance.credits is not None and balance.credits <= 0:
        warn("this account has no credits left: buy some at https://kimrel.com/my-credits")
    elif balance.credits is not None and balance.tier is not None:
        tier = balance.tier
        err().print(
            f"  {count(balance.credits, 'credit')}; tier {tier.name}: "
            f"{rates(tier.per_minute, tier.per_hour, tier.per_day)} requests"
        )
    if storage == "file":
        warn("the key is stored in a file (mode 0600), not in the keyring")
    if became_default:
        err().print(f"  {account} is now the default account")


def logout(
    account: str | None = typer.Option(
        None,
        "--account",
        "-a",
        metavar="NAME",
        help="Account to log out (default: the default account).",
    ),
    all_accounts: bool = typer.Option(False, "--all", help="Log out of every account."),
) -> None:
    """Log out: remove the key from where it is stored and the account from settings."""
    from kimrel_cli.accounts.registry import forget_account, get_account, list_accounts
    from kimrel_cli.accounts.store import delete_key
    from kimrel_cli.cli.output import success
    from kimrel_cli.config import load_settings
    from kimrel_cli.errors import AccountError

    settings = load_settings()
    if all_accounts:
        targets = list_accounts(settings)
    else:
        name = account or settings.default_account
        if name is None:
            raise AccountError("not logged in", hint="Nothing to log out of.")
        targets = [get_account(name, settings)]
    for entry in targets:
        delete_key(entry.name, entry.storage)
        forget_account(entry.name)
        success(f"logged out of {entry.name}")


def _status_row(entry: Any, offline: bool) -> dict[str, object]:
    """One account of `kimrel status`: where its key is, and its balance unless offline."""
    from kimrel_cli.accounts.login import Balance, balance_or_error
    from kimrel_cli.accounts.store import load_key
    from kimrel_cli.errors import KimrelError

    row: dict[str, object] = {
        "name": entry.name,
        "default": entry.default,
        "storage": entry.storage,
        "key": f"…{entry.last4}" if entry.last4 else "…",
        "base_url": entry.base_url,
    }
    if not offline:
        try:
            result = balance_or_error(load_key(entry.name, entry.storage), entry.base_url)
        except KimrelError as exc:
            result = exc
        if isinstance(result, Balance):
            row["credits"] = result.credits
            row["tier"] = result.tier.name if result.tier else None
        else:
            row["error"] = result.message
    return row


def status(
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    offline: bool = typer.Option(False, "--offline", help="Do not contact the API (no balances)."),
) -> None:
    """Accounts, where their keys are stored, balances and tiers, and whether a relay is running."""
    from kimrel_cli.accounts.registry import list_accounts
    from kimrel_cli.accounts.store import keyring_usable
    from kimrel_cli.apikey import ApiKey
    from kimrel_cli.cli.output import out, print_json, waiting
    from kimrel_cli.relay.state import read_state

    accounts = list_accounts()
    spinner = waiting("asking the API for balances…", quiet=as_json or offline or not accounts)
    with spinner:
        rows = [_status_row(entry, offline) for entry in accounts]
    env_key = os.environ.get("KIMREL_API_KEY", "").strip()
    relay = read_state()
    usable, backend = keyring_usable()
    data = {
        "accounts": rows,
        "env_key": ApiKey(env_key).masked if env_key else None,
        "keyring": {"usable": usable, "backend": backend},
        "relay": {"url": relay.url, "pid": relay.pid, "simulate": relay.simulate}
        if relay
        else None,
    }
    if as_json:
        print_json(data)
        return
    if rows:
        out().print(accounts_table(out(), rows))
        if any(r["storage"] == "file" for r in rows):
            out().print(
                "[yellow]warning:[/yellow] some keys are stored in plain files (--insecure-storage)"
            )
    else:
        out().print(
            "Not logged in. Run [bold]kimrel login[/bold] (or try [bold]kimrel serve --simulate[/bold])."
        )
    if data["env_key"]:
        out().print(
            f"KIMREL_API_KEY is set ({data['env_key']}) and is used when no --account is given."
        )
    out().print(f"keyring: {'usable' if usable else '[yellow]not usable[/yellow]'} ({backend})")
    out().print(f"relay: {'running at ' + relay.url if relay else 'not running'}")


def accounts_table(console: Any, rows: list[dict[str, Any]]) -> Any:
    """Accounts (the dicts of `status --json` / `accounts list --json`) as a table.

    Account names are never cut; `*` marks the default account. Balances appear when the rows
    have them (`status`), not for `accounts list`, which makes no network call. The API column
    appears only when accounts use different APIs; otherwise one line below names it.
    """
    from rich.markup import escape

    from kimrel_cli.cli.output import Column, fitted_table
    from kimrel_cli.wording import number

    online = any("credits" in row or "error" in row for row in rows)
    columns = [Column("", id=True), Column("account", id=True), Column("key", keep=3)]
    columns.append(Column("stored in", keep=2))
    if online:
        columns += [Column("credits", keep=5, justify="right", wrap=True), Column("tier", keep=4)]
    urls = {str(row["base_url"]) for row in rows}
    if len(urls) > 1:
        columns.append(Column("API", keep=1))
    cells = []
    for row in rows:
        cell = [
            "*" if row["default"] else "",
            escape(str(row["name"])),
            str(row["key"]),
            "[yellow]file (0600)[/yellow]" if row["storage"] == "file" else "keyring",
        ]
        if online:
            if "error" in row:
                cell += [f"[red]{escape(str(row['error']))}[/red]", ""]
            else:
                credits = row.get("credits")
                cell += [
                    number(credits) if credits is not None else "?",
                    str(row.get("tier") or ""),
                ]
        if len(urls) > 1:
            cell.append(escape(str(row["base_url"])))
        cells.append(cell)
    table = fitted_table(console, columns, cells)
    if len(urls) > 1:
        return table
    from rich.console import Group
    from rich.text import Text

    return Group(table, Text(f"API: {urls.pop()}"))


@key_app.command("print")
def key_print(
    account: str | None = typer.Option(None, "--account", "-a", metavar="NAME", help=ACCOUNT_HELP),
) -> None:
    """Print only the API key, for programs that ask a command for it (Claude Code's apiKeyHelper).

    Nothing else goes to stdout; errors go to stderr with a non-zero exit.
    """
    from kimrel_cli.accounts.registry import resolve_key
    from kimrel_cli.cli.output import print_raw

    print_raw(resolve_key(account).key.reveal() + "\n")


def register(app: typer.Typer) -> None:
    app.command()(login)
    app.command()(logout)
    app.command()(status)
    app.add_typer(key_app, name="key")
