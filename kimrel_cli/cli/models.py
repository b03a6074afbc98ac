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
    """Credit balance, the rate-limit tier it gives, and what the last answer's headers said."""
    from kimrel_cli.cli.output import out, print_json, waiting
    from kimrel_cli.hosted.ratelimit import tier_shown

    with _client(account) as client, waiting("asking the API for your balance…", quiet=as_json):
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
    }
    if as_json:
        print_json(report)
        return
    for line in credits_lines(report):
        out().print(line)


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
