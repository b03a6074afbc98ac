"""`kimrel models` and `kimrel credits`."""

from __future__ import annotations

from typing import Any

import typer

ACCOUNT_HELP = "Account to use (default: KIMREL_API_KEY, else the default account)."


def _client(account: str | None) -> Any:
    from kimrel_cli.accounts.registry import resolve_key
    from kimrel_cli.hosted.client import Client

    resolved = resolve_key(account)
    return Client(resolved.key, resolved.base_url)


def _waiting(message: str) -> Any:
    import contextlib
    import sys

    from kimrel_cli.cli.output import err

    return err().status(message) if sys.stderr.isatty() else contextlib.nullcontext()


def models(
    account: str | None = typer.Option(None, "--account", "-a", help=ACCOUNT_HELP),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """The models the API offers, with context window, output limit, price and capabilities.

    Examples:\n
      kimrel models\n
      kimrel models --json | jq '.[].id'
    """
    from kimrel_cli.catalogue import MODELS
    from kimrel_cli.cli.output import out, print_json

    with _client(account) as client, _waiting("asking the API for its models…"):
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
    from rich.table import Table

    table = Table(title="kimrel models", title_justify="left")
    for column in ("model", "context", "max output", "credits", "thinking", "images", "tools"):
        table.add_column(
            column, justify="right" if column in ("context", "max output", "credits") else "left"
        )
    yes = lambda v: "" if v is None else ("yes" if v else "—")  # noqa: E731
    for row in rows:
        table.add_row(
            row["id"],
            f"{row['context_window']:,}" if row["context_window"] else "",
            f"{row['max_output_tokens']:,}" if row["max_output_tokens"] else "",
            str(row["credits_per_request"] or ""),
            {"always": "always", "switchable": "on/off", "none": "—"}.get(str(row["thinking"]), ""),
            yes(row["images"]),
            yes(row["tools"]),
        )
    out().print(table)


def credits(
    account: str | None = typer.Option(None, "--account", "-a", help=ACCOUNT_HELP),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Credit balance, the rate-limit tier it gives, and what the last answer's headers said."""
    from kimrel_cli.cli.output import out, print_json
    from kimrel_cli.hosted.ratelimit import tier_shown

    with _client(account) as client, _waiting("asking the API for your balance…"):
        result = client.credits()
    data = result.data if isinstance(result.data, dict) else {}
    balance = data.get("credits_remaining", result.rate.credits_remaining)
    tier = tier_shown(int(balance or 0))
    report = {
        "credits_remaining": balance,
        "credits_used": data.get("credits_used"),
        "tier": {
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
    out().print(
        f"[bold]{balance}[/bold] credits left"
        + (f" ({report['credits_used']} used)" if report["credits_used"] is not None else "")
    )
    out().print(
        f"tier {tier.name}: {tier.per_minute}/min, {tier.per_hour}/hour, {tier.per_day}/day"
    )
    if result.rate.limit is not None:
        out().print(f"this minute: {result.rate.remaining} of {result.rate.limit} requests left")
    if balance is not None and int(balance) <= 0:
        out().print("[yellow]No credits left:[/yellow] buy some at https://kimrel.com/my-credits")


def register(app: typer.Typer) -> None:
    app.command()(models)
    app.command()(credits)
