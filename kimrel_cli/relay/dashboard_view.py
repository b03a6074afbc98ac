"""The live dashboard's panel: a `DashboardState` (and the pacer's and budgets' state) in, a rich
renderable out.

Pure functions: everything that varies (the time, the threshold, the terminal's height) comes
in as an argument, so tests render a state they built to a string and read it.
"""

from __future__ import annotations

import time
from typing import Any

from kimrel_cli.relay.dashboard_model import (
    DashboardHeader,
    DashboardState,
    Pacing,
    Rates,
    RequestRecord,
    Tally,
    charge,
    pacing_text,
    upstream_model,
)

BAR_WIDTH = 20
GROUP_ROWS = 5  # models / clients shown before the rest are summed
COMPACT_BELOW = 110  # a narrower panel leaves out the last requests' client and credits left


def dashboard_panel(
    state: DashboardState,
    header: DashboardHeader,
    *,
    now: float,
    low_balance: int,
    pacing: Pacing | None = None,
    budgets: list[str] | None = None,
    rows: int = 8,
    width: int | None = None,
) -> Any:
    """The whole live panel: header, balance, rates, pacing and budgets, the per-model and
    per-client tables, and the last `rows` requests (newest first). `width`: the panel's, else
    the console's (then laid out as a wide one)."""
    from rich.console import Group
    from rich.panel import Panel
    from rich.text import Text

    parts: list[Any] = [header_line(header), balance_line(state)]
    warning = low_balance_line(state.balance, low_balance)
    if warning is not None:
        parts.append(warning)
    parts.append(rates_line(state.rates(now)))
    waiting = pacing_text(pacing)
    if waiting is not None:
        parts.append(Text(waiting, style="yellow"))
    parts.extend(Text(f"budget {line}", style="magenta") for line in budgets or [])
    parts.append(Text())
    compact = width is not None and width < COMPACT_BELOW
    parts.append(groups_table(state, compact=compact))
    parts.append(Text())
    parts.append(recent_table(list(state.recent)[::-1][:rows], compact=compact))
    return Panel(
        Group(*parts),
        title="[bold]kimrel relay[/bold]",
        title_align="left",
        subtitle="Ctrl-C stops",
        subtitle_align="right",
        border_style="blue",
        width=width,
    )


def header_line(header: DashboardHeader) -> Any:
    from rich.text import Text

    text = Text()
    text.append(header.url, style="bold")
    text.append("  →  ", style="dim")
    text.append(header.upstream)
    text.append("  ·  ", style="dim")
    text.append(header.who)
    return text


def balance_line(state: DashboardState) -> Any:
    """`balance 994 credits  −6 since start  ·  6 credits charged by 3 requests (≈ price table)`."""
    from rich.text import Text

    text = Text("balance ")
    if state.balance is None:
        text.append("unknown", style="dim")
    else:
        text.append(f"{state.balance:,} credits", style="bold")
        change = state.change or 0
        style = "red" if change < 0 else ("green" if change > 0 else "dim")
        text.append(f"  {_signed(change)} since start", style=style)
    total = state.total
    text.append("  ·  ", style="dim")
    text.append(f"{total.credits:,} credit{'s' if total.credits != 1 else ''} charged")
    text.append(f" by {total.requests:,} request{'s' if total.requests != 1 else ''}")
    if total.errors:
        text.append(f", {total.errors:,} failed", style="red")
    if total.estimated:
        text.append("  (≈ price table)", style="dim")
    return text


def low_balance_line(balance: int | None, threshold: int) -> Any:
    """The warning shown while the balance is below `relay.low_credit_warning`, else None."""
    from rich.text import Text

    if balance is None or balance >= threshold:
        return None
    return Text(
        f"⚠ balance is low: {balance:,} credits left (warning below {threshold:,}); "
        "top up at kimrel.com",
        style="bold red",
    )


def rates_line(rates: Rates) -> Any:
    """Model requests per minute against the tier's limit (a bar), then per hour and per day."""
    from rich.text import Text

    text = Text("requests ")
    tier = rates.tier
    if tier is None:
        text.append(f"{rates.per_minute:,}/min  ·  {rates.per_hour:,}/h  ·  {rates.per_day:,}/day")
        return text
    used = rates.per_minute / tier.per_minute if tier.per_minute else 1.0
    style = "green" if used < 0.75 else ("yellow" if used < 1.0 else "red")
    text.append(f"{rates.per_minute:,}/min of {tier.per_minute:,} ", style=style)
    filled = min(BAR_WIDTH, round(used * BAR_WIDTH))
    text.append("█" * filled, style=style)
    text.append("░" * (BAR_WIDTH - filled), style="dim")
    text.append(f"  ·  {rates.per_hour:,}/h of {tier.per_hour:,}")
    text.append(f"  ·  {rates.per_day:,}/day of {tier.per_day:,}")
    text.append(f"  (tier {tier.name})", style="dim")
    return text


def groups_table(state: DashboardState, *, compact: bool = False) -> Any:
    """Per model and per client, side by side: requests, errors, credits."""
    from rich.table import Table

    grid = Table.grid(padding=(0, 4))
    grid.add_column()
    grid.add_column()
    grid.add_row(
        _tally_table("model", state.top(state.by_model, GROUP_ROWS), compact),
        _tally_table("client", state.top(state.by_client, GROUP_ROWS), compact),
    )
    return grid


def _tally_table(title: str, rows: list[tuple[str, Tally]], compact: bool) -> Any:
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column(title, no_wrap=True, max_width=24, overflow="ellipsis")
    table.add_column("reqs" if compact else "requests", justify="right")
    table.add_column("errs" if compact else "errors", justify="right")
    table.add_column("credits", justify="right")
    for name, tally in rows:
        table.add_row(
            Text(name),
            f"{tally.requests:,}",
            f"{tally.errors:,}" if tally.errors else "",
            ("≈" if tally.estimated else "") + f"{tally.credits:,}",
        )
    if not rows:
        table.add_row("[dim]none yet[/dim]", "", "", "")
    return table


def recent_table(records: list[RequestRecord], *, compact: bool = False) -> Any:
    """The last requests: time, route, model (the one that ran), client, status, latency, charge,
    credits left, error. `compact` (a narrow terminal) leaves out the client and credits left."""
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, pad_edge=False, padding=(0, 2, 0, 0), header_style="bold")
    # fixed columns keep their width; the names shrink first, the error takes what is left
    table.add_column("time", style="dim", width=8, no_wrap=True)
    table.add_column("route", style="cyan", no_wrap=True, max_width=22, overflow="ellipsis")
    table.add_column("model", no_wrap=True, max_width=18, overflow="ellipsis")
    if not compact:
        table.add_column("client", no_wrap=True, max_width=13, overflow="ellipsis")
    table.add_column("status", justify="right", width=6, no_wrap=True)
    table.add_column("latency", justify="right", width=7, no_wrap=True)
    table.add_column("charge", justify="right", width=6, no_wrap=True)
    if not compact:
        table.add_column("left", justify="right", width=6, no_wrap=True, style="dim")
    table.add_column("", overflow="ellipsis", min_width=12)  # shrinks first; cells don't wrap
    for rec in records:
        cost, estimated = charge(rec)
        style = "green" if rec.status < 400 else ("yellow" if rec.status < 500 else "red")
        cells: list[Any] = [
            time.strftime("%H:%M:%S", time.localtime(rec.time)),
            Text(rec.route),
            Text(upstream_model(rec.model) or "-"),  # what ran (and was charged)
        ]
        if not compact:
            cells.append(Text(rec.client or "-"))
        cells += [
            Text(str(rec.status), style=style),
            latency_text(rec.latency_ms),
            (("≈" if estimated else "") + str(cost)) if cost else "-",
        ]
        if not compact:
            cells.append("-" if rec.credits_left is None else f"{rec.credits_left:,}")
        cells.append(Text(rec.error or "", style=style, no_wrap=True, overflow="ellipsis"))
        table.add_row(*cells)
    if not records:
        table.add_row("", "[dim]no requests yet[/dim]")
    return table


def latency_text(ms: float) -> str:
    """`812 ms`, `2.3 s`, `95 s`."""
    if ms < 1000:
        return f"{ms:.0f} ms"
    if ms < 10_000:
        return f"{ms / 1000:.1f} s"
    return f"{ms / 1000:.0f} s"


def _signed(value: int) -> str:
    if value > 0:
        return f"+{value:,}"
    if value < 0:
        return f"−{-value:,}"
    return "±0"
