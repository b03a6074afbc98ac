"""`kimrel usage`: where the credits went, from the local usage ledger; `usage prune`.

Thin: the window and the grouping are parsed here, `kimrel_cli.usage.report` builds the report
and `kimrel_cli.usage.html` the page. The renderables below (totals, table, bars, balance) are
pure functions of a Report; only the commands print. rich and sqlite3 load inside functions.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from datetime import datetime

    from rich.console import Console, RenderableType

    from kimrel_cli.usage.report import BalancePoint, Group, Report

GROUPINGS = ("day", "hour", "model", "account", "client", "session", "project")
DEFAULT_SPAN_DAYS = 7  # the window when --since is not given
_SPARKS = "▁▂▃▄▅▆▇█"
_EIGHTHS = " ▏▎▍▌▋▊▉"

usage_app = typer.Typer(
    invoke_without_command=True,
    no_args_is_help=False,
    rich_markup_mode="rich",
)


def _check_by(value: str) -> str:
    if value not in GROUPINGS:
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(GROUPINGS)}")
    return value


@usage_app.callback()
def usage(
    ctx: typer.Context,
    since: str | None = typer.Option(
        None,
        "--since",
        metavar="WHEN",
        help="Start: a duration back from now (90m, 24h, 7d), a date (2026-11-01) or "
        "'all' (default: 7 days before the end).",
    ),
    until: str | None = typer.Option(
        None, "--until", metavar="WHEN", help="End (same forms as --since; default: now)."
    ),
    by: str = typer.Option(
        "day",
        "--by",
        metavar="GROUP",
        callback=_check_by,
        help="Group by day, hour, model, account, client, session or project.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output (an object)."),
    as_csv: bool = typer.Option(False, "--csv", help="The groups as CSV, one line per group."),
    html: Path | None = typer.Option(
        None, "--html", metavar="FILE", help="Also write a self-contained HTML report to FILE."
    ),
) -> None:
    """Where the credits went: totals, a table and a bar chart per group, the balance over time.

    Read from the usage ledger the relay and `kimrel chat` write (see docs/usage.md).

    Examples:
      kimrel usage                       # the last 7 days, by day
      kimrel usage --since 24h --by client
      kimrel usage --since 2026-11-01 --by model --json
      kimrel usage --since 30d --html usage.html
    """
    if ctx.invoked_subcommand is not None:
        return
    from kimrel_cli.errors import KimrelError

    if as_json and as_csv:
        raise KimrelError("--json and --csv are two outputs: pick one", code="usage-output")
    now = _now()
    start, end = _window(since, until, now)
    rows = _read_rows(start, end)
    from kimrel_cli.usage import report as rp

    s, e = (start.timestamp() if start else None), (end.timestamp() if end else None)
    report = rp.build_report(rows or [], by=by, since=s, until=e)
    report = rp.attach_drift(report, rows or [])
    if html is not None:
        _write_html(html, report, rows or [], now)
    if as_json:
        from kimrel_cli.cli.output import print_json

        print_json(rp.to_json(report))
        return
    if as_csv:
        import csv
        import sys

        csv.writer(sys.stdout, lineterminator="\n").writerows(rp.csv_rows(report))
        return
    if html is not None:
        return
    from kimrel_cli.cli.output import info, out

    if rows is None:
        info(
            "No usage recorded yet: the relay (kimrel serve) and kimrel chat record every "
            "request they make; run one, then ask again."
        )
        return
    console = out()
    console.print(report_renderable(console, report))


@usage_app.command()
def prune(
    before: str = typer.Option(
        ...,
        "--before",
        metavar="WHEN",
        help="Delete rows older than this: a duration back from now (90d) or a date.",
    ),
    yes: bool = typer.Option(False, "--yes", "-y", help="Delete without asking."),
) -> None:
    """Delete old rows from the usage ledger.

    Examples:
      kimrel usage prune --before 90d
      kimrel usage prune --before 2026-01-01 --yes
    """
    import sqlite3
    import sys

    from kimrel_cli.cli.output import info, success
    from kimrel_cli.errors import KimrelError
    from kimrel_cli.usage import ledger
    from kimrel_cli.usage.report import WhenError, parse_when

    try:
        cutoff = parse_when(before, now=_now())
    except WhenError as exc:
        raise KimrelError(str(exc), code="usage-time") from None
    path = ledger.ledger_path()
    if not path.exists():
        info("No usage ledger yet: nothing to prune.")
        return
    try:
        conn = ledger.open_ledger(path)
        try:
            going = sum(1 for _ in ledger.iter_rows(conn, until=cutoff.timestamp()))
            if going == 0:
                info(f"Nothing recorded before {cutoff:%Y-%m-%d %H:%M}: nothing to prune.")
                return
            if not yes:
                if not sys.stdin.isatty():
                    raise KimrelError(
                        f"confirmation needed to delete {going:,} rows",
                        hint="Run again with --yes.",
                        code="confirmation-needed",
                    )
                question = f"Delete {going:,} rows recorded before {cutoff:%Y-%m-%d %H:%M}?"
                if not typer.confirm(question, default=False, err=True):
                    raise typer.Exit(1)
            gone = ledger.prune(conn, before=cutoff.timestamp())
            left = sum(1 for _ in ledger.iter_rows(conn))
        finally:
            conn.close()
    except (ledger.LedgerError, sqlite3.Error) as exc:
        raise _ledger_error(exc, path) from None
    success(f"pruned {gone:,} rows recorded before {cutoff:%Y-%m-%d %H:%M}; {left:,} remain")


def register(app: typer.Typer) -> None:
    """Add `kimrel usage` (and `usage prune`) to the root app."""
    app.add_typer(usage_app, name="usage")


# --- reading --------------------------------------------------------------------------------


def _now() -> datetime:
    from datetime import datetime

    return datetime.now().astimezone()


def _window(
    since: str | None, until: str | None, now: datetime
) -> tuple[datetime | None, datetime | None]:
    from datetime import timedelta

    from kimrel_cli.errors import KimrelError
    from kimrel_cli.usage.report import WhenError, parse_window

    try:
        return parse_window(since, until, now=now, default_span=timedelta(days=DEFAULT_SPAN_DAYS))
    except WhenError as exc:
        raise KimrelError(str(exc), code="usage-time") from None


def _read_rows(start: datetime | None, end: datetime | None) -> list[Any] | None:
    """The rows in the window, or None when there is no ledger yet; KimrelError if unreadable."""
    import sqlite3

    from kimrel_cli.usage import ledger

    path = ledger.ledger_path()
    try:
        conn = ledger.open_readonly(path)
        if conn is None:
            return None
        try:
            return list(
                ledger.iter_rows(
                    conn,
                    since=start.timestamp() if start else None,
                    until=end.timestamp() if end else None,
                )
            )
        finally:
            conn.close()
    except (ledger.LedgerError, sqlite3.Error) as exc:
        raise _ledger_error(exc, path) from None


def _ledger_error(exc: Exception, path: Path) -> Exception:
    from kimrel_cli.errors import KimrelError

    text = str(exc)
    prefix = f"cannot read the usage ledger {path}: "
    message = text if text.startswith(("cannot", "the usage ledger")) else prefix + text
    if "locked" in text:
        hint = "Another process holds it (a relay writing a large batch?): try again in a moment."
    elif "newer" in text:
        hint = "Upgrade kimrel to read it."
    else:
        hint = (
            f"If it is damaged, move it aside (mv {path} {path}.bad): "
            "the relay starts a new one, and the old rows stay in the moved file."
        )
    return KimrelError(message, hint=hint, code="usage-ledger")


def _write_html(path: Path, report: Report, rows: list[Any], now: datetime) -> None:
    from kimrel_cli import __version__
    from kimrel_cli.cli.output import success
    from kimrel_cli.errors import KimrelError
    from kimrel_cli.usage.html import render_html
    from kimrel_cli.usage.report import group_rows

    breakdowns = {by: group_rows(rows, by) for by in ("model", "client", "project")}
    page = render_html(
        report, breakdowns=breakdowns, generated=now.timestamp(), version=__version__
    )
    try:
        path.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise KimrelError(
            f"cannot write {path}: {exc.strerror or exc}", code="usage-html"
        ) from None
    success(f"wrote {path} ({len(page.encode()):,} bytes): open it in a browser")


# --- renderables ----------------------------------------------------------------------------


def report_renderable(console: Console, report: Report) -> RenderableType:
    """The terminal report: window and totals, the table, the bars, the balance."""
    from rich.console import Group as Stack
    from rich.text import Text

    parts: list[RenderableType] = [
        Text.from_markup(heading(report)),
        Text.from_markup(totals_line(report)),
    ]
    if not report.groups:
        parts.append(Text("No requests in this window.", style="dim"))
        return Stack(*parts)
    parts += [Text(""), groups_table(console, report)]
    parts += [Text(""), Text.from_markup(f"[bold]Credits by {report.by}[/bold]")]
    parts.append(credit_bars(report.groups, width=console.width))
    lines = balance_lines(report.balance, width=console.width)
    if lines:
        span = f"{_clock(report.balance[0].ts)} → {_clock(report.balance[-1].ts)}"
        parts += [Text(""), Text.from_markup(f"[bold]Balance over time[/bold] [dim]{span}[/dim]")]
        parts += [Text.from_markup(line) for line in lines]
    if report.drift:
        parts += [Text(""), Text.from_markup("[bold]Reconciliation[/bold]")]
        parts += [Text.from_markup(line) for line in drift_lines(report.drift)]
    return Stack(*parts)


def heading(report: Report) -> str:
    from datetime import datetime

    def when(ts: float) -> str:
        return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M")

    if report.since is not None and report.until is not None:
        span = f"from {when(report.since)} to {when(report.until)}"
    elif report.since is not None:
        span = f"since {when(report.since)}"
    elif report.until is not None:
        span = f"until {when(report.until)}"
    else:
        span = "of every recorded request"
    return f"[bold]Usage {span}[/bold], by {report.by}"


def _clock(ts: float) -> str:
    from datetime import datetime

    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M")


def totals_line(report: Report) -> str:
    from kimrel_cli.wording import count, number

    t = report.totals
    parts = [
        f"[bold]{count(t.requests, 'request')}[/bold]",
        f"[bold]{count(t.credits, 'credit')}[/bold]",
        (f"[red]{count(t.errors, 'error')}[/red]" if t.errors else "no errors"),
        f"{short_number(t.tokens_in)} tokens in, {short_number(t.tokens_out)} out"
        + (f", {short_number(t.tokens_reasoning)} reasoning" if t.tokens_reasoning else ""),
    ]
    if t.median_latency_ms is not None:
        parts.append(f"median latency {latency(t.median_latency_ms)}")
    if t.requests:
        parts.append(f"{number(round(t.credits / t.requests, 2))} credits/request")
    return " · ".join(parts)


def short_number(value: int) -> str:
    """12,345 → 12.3k; 4,500,000 → 4.5M (token counts in a line)."""
    if value >= 1_000_000:
        return f"{value / 1_000_000:.1f}M"
    if value >= 10_000:
        return f"{value / 1000:.1f}k"
    return f"{value:,}"


def latency(ms: float) -> str:
    return f"{ms / 1000:.1f} s" if ms >= 1000 else f"{ms:.0f} ms"


def groups_table(console: Console, report: Report) -> RenderableType:
    from kimrel_cli.cli.output import Column, fitted_table
    from kimrel_cli.wording import number

    columns = [
        Column(report.by, id=True),
        Column("requests", keep=9, justify="right"),
        Column("credits", keep=10, justify="right"),
        Column("errors", keep=7, justify="right"),
        Column("tokens in", keep=5, justify="right"),
        Column("tokens out", keep=4, justify="right"),
        Column("reasoning", keep=2, justify="right"),
        Column("median latency", keep=3, justify="right"),
    ]
    cells = []
    for g in report.groups:
        t = g.totals
        cells.append(
            [
                _escape(g.label),
                number(t.requests),
                number(t.credits),
                f"[red]{number(t.errors)}[/red]" if t.errors else "0",
                number(t.tokens_in),
                number(t.tokens_out),
                number(t.tokens_reasoning),
                latency(t.median_latency_ms) if t.median_latency_ms is not None else "—",
            ]
        )
    return fitted_table(console, columns, cells)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def bar(value: float, top: float, width: int) -> str:
    """A horizontal bar `width` cells long at `top`, in eighths of a cell."""
    if top <= 0 or value <= 0 or width <= 0:
        return ""
    eighths = max(1, round(8 * width * value / top))
    return "█" * (eighths // 8) + (_EIGHTHS[eighths % 8] if eighths % 8 else "")


def credit_bars(groups: tuple[Group, ...], *, width: int, limit: int = 15) -> RenderableType:
    """Credits per group as horizontal bars (the largest `limit` groups; days in order)."""
    from rich.table import Table

    from kimrel_cli.wording import number

    chronological = bool(groups) and len(groups[0].label) >= 10 and groups[0].label[:4].isdigit()
    shown = list(groups) if chronological else list(groups)[:limit]
    if chronological and len(shown) > limit:
        shown = shown[-limit:]
    label_w = min(max((len(g.label) for g in shown), default=4), max(28, width // 2 - 10))
    value_w = max((len(number(g.totals.credits)) for g in shown), default=1)
    bar_w = max(min(width - label_w - value_w - 4, 60), 8)
    top = max((g.totals.credits for g in shown), default=0)
    table = Table.grid(padding=(0, 1))
    table.add_column(no_wrap=True, width=label_w, overflow="ellipsis")
    table.add_column(justify="right", no_wrap=True)
    table.add_column(no_wrap=True)
    for g in shown:
        table.add_row(
            _escape(g.label),
            number(g.totals.credits),
            f"[cyan]{bar(g.totals.credits, top, bar_w)}[/cyan]",
        )
    hidden = len(groups) - len(shown)
    if hidden:
        table.add_row("", "", f"[dim]… {hidden} more (see the table or --json)[/dim]")
    return table


def sparkline(values: list[int], width: int) -> str:
    """Values (already one per cell, or resampled by position) as ▁▂▃▄▅▆▇█."""
    if not values or width <= 0:
        return ""
    if len(values) > width:
        n = len(values)
        values = [values[min(n - 1, round((i + 1) * n / width) - 1)] for i in range(width)]
    lo, hi = min(values), max(values)
    if hi == lo:
        return _SPARKS[-1] * len(values)
    return "".join(_SPARKS[round((v - lo) * (len(_SPARKS) - 1) / (hi - lo))] for v in values)


def by_time(points: list[BalancePoint], width: int, t0: float, t1: float) -> list[int]:
    """The balance at `width` even steps of time from t0 to t1 (the last value reported by
    then), so quiet hours read flat; cells before the first report repeat the first."""
    import bisect

    times = [p.ts for p in points]
    span = (t1 - t0) or 1.0
    cells = []
    for i in range(width):
        at = t0 + span * (i + 1) / width
        k = bisect.bisect_right(times, at) - 1
        cells.append(points[max(k, 0)].credits)
    return cells


def balance_lines(points: tuple[BalancePoint, ...], *, width: int) -> list[str]:
    """One line per account: first → last balance, the change, and a sparkline over time
    (one shared time axis for all accounts)."""
    from kimrel_cli.wording import number

    if not points:
        return []
    series: dict[str | None, list[BalancePoint]] = {}
    for p in points:
        series.setdefault(p.account, []).append(p)
    t0, t1 = points[0].ts, points[-1].ts
    names = {account: account or "(no account name)" for account in series}
    label_w = max(len(name) for name in names.values())
    figures = {
        a: f"{number(pts[0].credits)} → {number(pts[-1].credits)} "
        f"({pts[-1].credits - pts[0].credits:+,})"
        for a, pts in series.items()
    }
    figure_w = max(len(f) for f in figures.values())
    room = max(min(width - label_w - figure_w - 4, 60), 10)
    lines = []
    for account, pts in series.items():
        spark = sparkline(by_time(pts, room, t0, t1), room)
        lines.append(
            f"{_escape(names[account]).ljust(label_w)}  {figures[account].rjust(figure_w)}  "
            f"[green]{spark}[/green]"
        )
    return lines


def drift_lines(entries: Any) -> list[str]:
    """Per account: how far the balance fell, what the ledger charged, and the drift between."""
    from kimrel_cli.usage.report import drift_verdict
    from kimrel_cli.wording import number

    lines = []
    for entry in entries:
        name = _escape(str(entry.get("account") or "(no account name)"))
        fell, charged = entry.get("fell"), entry.get("charged")
        figures = (
            f"balance fell {number(fell)}, ledger charged {number(charged)}"
            if isinstance(fell, int) and isinstance(charged, int)
            else ""
        )
        colour = "green" if entry.get("drift") == 0 else "yellow"
        lines.append(f"{name}: {figures} · [{colour}]{_escape(drift_verdict(entry))}[/{colour}]")
    return lines
