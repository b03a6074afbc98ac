"""`kimrel models` and `kimrel credits`."""

from __future__ import annotations

from typing import Any

import typer

ACCOUNT_HELP = "Account (default: KIMREL_API_KEY if set, else the default account)."


def _client(account: str | None) -> Any:
    from kimrel_cli.accounts.registry import resolve_key
    from kimrel_cli.hosted.client import Client

    resolved = resolve_key(account)
    return Client(resolved.key, resolved.base_url)


def models(
    account: str | None = typer.Option(None, "--account", "-a", metavar="NAME", help=ACCOUNT_HELP),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """The models the API offers, with context window, output limit, price and capabilities.

    Examples:
      kimrel models
      kimrel models --json | jq '.[].id'
    Prices are in credits per request; see docs/hosted-client.md.
    """
    from kimrel_cli.catalogue import MODELS
    from kimrel_cli.cli.output import out, print_json, waiting

    with _client(account) as client, waiting("asking the API for its models…", quiet=as_json):
        listed = client.list_models().data.get("data", [])
    ids = [str(item.get("id")) for item in listed if isinstance(item, dict)] or list(MODELS)
    rows = []
    for model_id in ids:
        info = MODELS.get(model_id)
        rows.append(
            {
                "id": model_id,
                "context_window": info.context_window if info else None,
                "max_output_tokens": info.max_output_tokens if info else None,
                "credits_per_request": info.credits if info else None,
                "thinking": info.thinking if info else None,
                "images": info.images if info else None,
                "tools": info.tools if info else None,
                "description": info.description if info else "",
            }
        )
    if as_json:
        print_json(rows)
        return
    out().print(models_table(out(), rows))


def models_table(console: Any, rows: list[dict[str, Any]]) -> Any:
    """The models as a table that never cuts a model id (narrow terminals lose the flags first)."""
    from kimrel_cli.cli.output import Column, fitted_table
    from kimrel_cli.wording import number

    columns = [
        Column("model", id=True),
        Column("context", keep=5, justify="right"),
        Column("max output", keep=3, justify="right"),
        Column("credits", keep=6, justify="right"),
        Column("thinking", keep=4),
        Column("images", keep=2),
        Column("tools", keep=1),
    ]
    yes = lambda v: "" if v is None else ("yes" if v else "—")  # noqa: E731
    cells = [
        [
            str(row["id"]),
            number(row["context_window"]) if row["context_window"] else "",
            number(row["max_output_tokens"]) if row["max_output_tokens"] else "",
            number(row["credits_per_request"]) if row["credits_per_request"] else "",
            {"always": "always", "switchable": "on/off", "none": "—"}.get(str(row["thinking"]), ""),
            yes(row["images"]),
            yes(row["tools"]),
        ]
        for row in rows
    ]
    return fitted_table(console, columns, cells)


def credits(
    account: str | None = typer.Option(None, "--account", "-a", metavar="NAME", help=ACCOUNT_HELP),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Credit balance, the rate-limit tier it gives, and what the last answer's headers said.

    Also what went through kimrel here today and this month (see docs/usage.md).
    """
    from kimrel_cli.accounts.registry import resolve_key
    from kimrel_cli.cli.output import out, print_json, waiting
    from kimrel_cli.hosted.client import Client
    from kimrel_cli.hosted.ratelimit import tier_shown

    resolved = resolve_key(account)
    with (
        Client(resolved.key, resolved.base_url) as client,
        waiting("asking the API for your balance…", quiet=as_json),
    ):
        result = client.credits()
    data = result.data if isinstance(result.data, dict) else {}
    balance = data.get("credits_remaining", result.rate.credits_remaining)
    tier = tier_shown(int(balance or 0))
    report = {
        "credits_remaining": balance,
        "credits_used": data.get("credits_used"),
        "tier": None  # no credits, no tier (tier_for(0) would claim "1-100")
        if tier is None
        else {
            "name": tier.name,
            "per_minute": tier.per_minute,
            "per_hour": tier.per_hour,
            "per_day": tier.per_day,
        },
        "rate_limit": {
            "limit": result.rate.limit,
            "remaining": result.rate.remaining,
            "reset": result.rate.reset,
        },
        "local": local_consumption(resolved.account),
    }
    if as_json:
        print_json(report)
        return
    for line in credits_lines(report) + local_lines(report["local"]):
        out().print(line)


def local_consumption(account: str | None) -> dict[str, Any] | None:
    """What this machine spent through kimrel today and this month (local time), from the usage
    ledger: for `account` (None: the KIMREL_API_KEY key), and per account. None (and one
    warning) when the ledger cannot be read; zeros when there is none yet."""
    import sqlite3
    from datetime import datetime

    from kimrel_cli.cli.output import warn
    from kimrel_cli.usage import ledger
    from kimrel_cli.usage.report import Consumption, consumption, day_start, month_start

    now = datetime.now().astimezone()
    today, month = day_start(now).timestamp(), month_start(now).timestamp()
    try:
        conn = ledger.open_readonly()
        if conn is None:
            spent: dict[str | None, Consumption] = {}
        else:
            try:
                spent = consumption(ledger.iter_rows(conn, since=month), today=today, month=month)
            finally:
                conn.close()
    except (ledger.LedgerError, sqlite3.Error) as exc:
        warn(f"local usage not shown: {exc}")
        return None
    mine = spent.get(account, Consumption())
    return {
        "account": account,
        **mine.as_dict(),
        "accounts": [
            {"account": name, **used.as_dict()}
            for name, used in sorted(spent.items(), key=lambda kv: -kv[1].month_credits)
        ],
    }


def local_lines(local: dict[str, Any] | None) -> list[str]:
    """`kimrel credits`: what went through kimrel here today and this month (rich markup)."""
    from rich.markup import escape

    from kimrel_cli.wording import count, number

    if local is None:
        return []
    today, month = local["today"], local["month"]
    lines = [
        f"through kimrel here: [bold]{count(today['credits'], 'credit')}[/bold] today "
        f"({count(today['requests'], 'request')}), {number(month['credits'])} this month "
        f"({count(month['requests'], 'request')})"
    ]
    others = [a for a in local["accounts"] if a["account"] != local["account"]]
    for other in others:
        name = escape(other["account"] or "KIMREL_API_KEY")
        lines.append(
            f"  [dim]other account {name}: {number(other['today']['credits'])} today, "
            f"{number(other['month']['credits'])} this month[/dim]"
        )
    return lines


def credits_lines(report: dict[str, Any]) -> list[str]:
    """`kimrel credits` for people: balance, tier, this minute's requests (rich markup)."""
    from kimrel_cli.wording import count, number, rates

    balance = report["credits_remaining"]
    used = report["credits_used"]
    lines = [
        (
            "[bold]?[/bold] credits left"
            if balance is None
            else f"[bold]{count(balance, 'credit')}[/bold] left"
        )
        + (f" ({number(used)} used)" if used is not None else "")
    ]
    tier = report["tier"]
    if balance is not None and int(balance) <= 0:
        lines.append("[yellow]No credits left:[/yellow] buy some at https://kimrel.com/my-credits")
    elif tier is not None:
        lines.append(
            f"tier {tier['name']}: "
            + rates(tier["per_minute"], tier["per_hour"], tier["per_day"])
            + " requests"
        )
    rate = report["rate_limit"]
    if rate["limit"] is not None:
        lines.append(
            f"this minute: {number(rate['remaining'] or 0)} of {number(rate['limit'])} requests left"
        )
    return lines


def register(app: typer.Typer) -> None:
    app.command()(models)
    app.command()(credits)
