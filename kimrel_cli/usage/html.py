"""The `kimrel usage --html` page: one self-contained HTML file from a Report (pure).

No network, no CDN, no JavaScript: inline CSS and SVG charts drawn here. Every figure on the
page is also in the DOM for programs to read: the totals as `#totals [data-metric]` with
`data-value`, each bar as `[data-key][data-credits]`, each day as `[data-day][data-credits]`,
each balance point as `[data-ts][data-balance]`, each table row as `tr[data-key]`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, tzinfo
from html import escape
from typing import Any

from kimrel_cli.usage.report import BalancePoint, Group, Report, drift_verdict, iso

_CSS = """
:root { color-scheme: light dark; --fg: #1d2430; --muted: #667085; --bg: #ffffff;
  --card: #f5f7fa; --bar: #3b6fd8; --bar2: #2f9e77; --line: #d0d5dd; --err: #c4320a; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6e9ef; --muted: #98a2b3; --bg: #12151c;
  --card: #1c212b; --bar: #6b97f0; --bar2: #4cc79b; --line: #344054; --err: #f97066; } }
* { box-sizing: border-box; }
body { margin: 0; padding: 24px 32px 40px; font: 14px/1.45 system-ui, -apple-system,
  "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: var(--fg); background: var(--bg); }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 16px; margin: 28px 0 10px; }
.sub { color: var(--muted); margin: 0 0 20px; }
#totals { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr));
  gap: 12px; margin: 0; }
#totals div { background: var(--card); border-radius: 10px; padding: 12px 14px; }
#totals dt { color: var(--muted); font-size: 12px; text-transform: uppercase;
  letter-spacing: .04em; }
#totals dd { margin: 4px 0 0; font-size: 24px; font-weight: 600;
  font-variant-numeric: tabular-nums; }
#totals .err dd { color: var(--err); }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(440px, 1fr)); gap: 8px 32px; }
svg { display: block; max-width: 100%; height: auto; }
svg text { fill: var(--fg); font: 12px system-ui, sans-serif; }
svg .muted { fill: var(--muted); } svg .bar { fill: var(--bar); } svg .day { fill: var(--bar2); }
svg .axis { stroke: var(--line); } svg .balance { fill: none; stroke-width: 2; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { text-align: right; padding: 6px 10px; border-bottom: 1px solid var(--line); }
th:first-child, td:first-child { text-align: left; }
th { color: var(--muted); font-weight: 500; font-size: 12px; text-transform: uppercase; }
.empty { color: var(--muted); font-style: italic; }
footer { margin-top: 32px; color: var(--muted); font-size: 12px; }
"""

_LINE_COLOURS = ("#3b6fd8", "#2f9e77", "#d97706", "#9b51e0", "#c4320a", "#0e9384")

_TOTALS = (
    ("requests", "requests"),
    ("credits", "credits"),
    ("errors", "errors"),
    ("tokens_in", "tokens in"),
    ("tokens_out", "tokens out"),
    ("tokens_reasoning", "reasoning tokens"),
    ("median_latency_ms", "median latency"),
)


def _compact(value: float | int | None) -> str:
    """Big counts short enough for a card: 25,228,362 → 25.2M (the full figure is in the DOM)."""
    if isinstance(value, int) and value >= 1_000_000:
        return f"{value / 1_000_000:.1f}M"
    return _n(value)


def _n(value: float | int | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.1f}"
    return f"{int(value):,}"


def _ms(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value / 1000:,.2f} s" if value >= 1000 else f"{value:,.0f} ms"


def _a(value: object) -> str:
    """An attribute value."""
    return escape("" if value is None else str(value), quote=True)


def totals_block(report: Report) -> str:
    values = report.totals.as_dict()
    items = []
    for name, title in _TOTALS:
        value = values[name]
        shown = _ms(value) if name == "median_latency_ms" else _compact(value)
        extra = ' class="err"' if name == "errors" and value else ""
        items.append(
            f'<div{extra} data-metric="{name}" data-value="{_a(value)}">'
            f'<dt>{title}</dt><dd title="{_a(_n(value))}">{shown}</dd></div>'
        )
    return f'<dl id="totals">{"".join(items)}</dl>'


def bar_chart(groups: Sequence[Group], *, chart_id: str, width: int = 560, limit: int = 12) -> str:
    """Horizontal bars of credits per group, the largest first (the rest summed as "others")."""
    shown = sorted(groups, key=lambda g: -g.totals.credits)[:limit]
    rest = sorted(groups, key=lambda g: -g.totals.credits)[limit:]
    rows: list[tuple[str, str, int, int]] = [
        (g.label, g.label, g.totals.credits, g.totals.requests) for g in shown
    ]
    if rest:
        rows.append(
            (
                f"{len(rest)} others",
                "(others)",
                sum(g.totals.credits for g in rest),
                sum(g.totals.requests for g in rest),
            )
        )
    if not rows:
        return f'<p class="empty" id="{chart_id}">no requests in this window</p>'
    label_w, value_w, row_h = 180, 90, 26
    plot_w = width - label_w - value_w
    top = max((g.totals.credits for g in shown), default=0) or 1  # "others" is clamped
    height = row_h * len(rows) + 8
    parts = [
        f'<svg id="{chart_id}" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="credits per group">'
    ]
    for i, (label, key, credits, requests) in enumerate(rows):
        y = 4 + i * row_h
        bar = min(max(round(plot_w * credits / top), 1 if credits else 0), plot_w)
        short = label if len(label) <= 22 else label[:21] + "…"
        parts.append(
            f'<g data-key="{_a(key)}" data-credits="{credits}" data-requests="{requests}">'
            f"<title>{escape(label)}: {credits:,} credits, {requests:,} requests</title>"
            f'<text x="{label_w - 8}" y="{y + 17}" text-anchor="end">{escape(short)}</text>'
            f'<rect class="bar" x="{label_w}" y="{y + 4}" width="{bar}" height="{row_h - 8}" '
            f'rx="3"/><text x="{label_w + bar + 6}" y="{y + 17}">{credits:,}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)


def day_chart(days: Sequence[Group], *, width: int = 560, height: int = 200) -> str:
    """Columns of credits per day (empty days included): `svg#per-day`, `[data-day]`."""
    return column_chart(
        days, chart_id="per-day", key_attr="data-day", label=_short_day, width=width, height=height
    )


def hour_chart(hours: Sequence[Group], *, width: int = 560, height: int = 200) -> str:
    """Columns of credits per hour with requests, in time order (`--by hour`)."""
    return column_chart(
        hours,
        chart_id="by-group",
        key_attr="data-key",
        label=lambda key: escape((key or "")[-5:]),
        width=width,
        height=height,
    )


def column_chart(
    groups: Sequence[Group],
    *,
    chart_id: str,
    key_attr: str,
    label: Callable[[str | None], str],
    width: int = 560,
    height: int = 200,
) -> str:
    """Columns of credits in the groups' order; each labelled when there are few, else the
    first and last."""
    if not groups:
        return f'<p class="empty" id="{chart_id}">no requests in this window</p>'
    left, bottom, top_pad = 44, 28, 18
    plot_w, plot_h = width - left - 8, height - bottom - top_pad
    top = max(g.totals.credits for g in groups) or 1
    slot = plot_w / len(groups)
    bar_w = max(min(slot * 0.75, 48), 1.0)
    parts = [
        f'<svg id="{chart_id}" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="credits over time">',
        f'<line class="axis" x1="{left}" y1="{top_pad + plot_h}" x2="{width - 8}" '
        f'y2="{top_pad + plot_h}"/>',
        f'<text class="muted" x="{left - 6}" y="{top_pad + 4}" text-anchor="end">{top:,}</text>',
        f'<text class="muted" x="{left - 6}" y="{top_pad + plot_h}" text-anchor="end">0</text>',
    ]
    few = len(groups) <= 14
    for i, group in enumerate(groups):
        credits = group.totals.credits
        h = plot_h * credits / top
        x = left + i * slot + (slot - bar_w) / 2
        parts.append(
            f'<g {key_attr}="{_a(group.key)}" data-credits="{credits}" '
            f'data-requests="{group.totals.requests}"><title>{_a(group.key)}: {credits:,} '
            f"credits, {group.totals.requests:,} requests</title>"
            f'<rect class="day" x="{x:.1f}" y="{top_pad + plot_h - h:.1f}" width="{bar_w:.1f}" '
            f'height="{h:.1f}" rx="2"/>'
            + (
                f'<text x="{x + bar_w / 2:.1f}" y="{top_pad + plot_h - h - 4:.1f}" '
                f'text-anchor="middle">{credits:,}</text>'
                if few and credits
                else ""
            )
            + "</g>"
        )
    if few:  # each under its column: "Mon 23", "14:00"
        for i, group in enumerate(groups):
            x = left + i * slot + slot / 2
            parts.append(
                f'<text class="muted" x="{x:.1f}" y="{height - 8}" text-anchor="middle">'
                f"{label(group.key)}</text>"
            )
    else:
        for i in (0, len(groups) - 1):
            anchor = "start" if i == 0 else "end"
            x = left + i * slot + (0 if i == 0 else slot)
            parts.append(
                f'<text class="muted" x="{x:.1f}" y="{height - 8}" text-anchor="{anchor}">'
                f"{_a(groups[i].key)}</text>"
            )
    parts.append("</svg>")
    return "".join(parts)


def balance_chart(
    points: Sequence[BalancePoint], *, tz: tzinfo | None = None, width: int = 560
) -> str:
    """The balance the API reported after each request: one small chart per account, each on
    its own scale, on a shared time axis."""
    if not points:
        return (
            '<p class="empty" id="balance">no balance reported in this window '
            "(the API sends it with each answer)</p>"
        )
    accounts: dict[str | None, list[BalancePoint]] = {}
    for p in points:
        accounts.setdefault(p.account, []).append(p)
    t0, t1 = min(p.ts for p in points), max(p.ts for p in points)
    height = 200 if len(accounts) == 1 else max(110, 220 // len(accounts))
    charts = [
        _balance_svg(account, series, n, t0, t1, tz=tz, width=width, height=height)
        for n, (account, series) in enumerate(accounts.items())
    ]
    return f'<div id="balance">{"".join(charts)}</div>'


def _balance_svg(
    account: str | None,
    series: Sequence[BalancePoint],
    n: int,
    t0: float,
    t1: float,
    *,
    tz: tzinfo | None,
    width: int,
    height: int,
) -> str:
    left, right, bottom, top_pad = 60, 12, 24, 22
    plot_w, plot_h = width - left - right, height - bottom - top_pad
    lo, hi = min(p.credits for p in series), max(p.credits for p in series)
    span_t, span_c = (t1 - t0) or 1.0, (hi - lo) or 1
    colour = _LINE_COLOURS[n % len(_LINE_COLOURS)]

    def xy(p: BalancePoint) -> tuple[float, float]:
        x = left + plot_w * ((p.ts - t0) / span_t if t1 > t0 else 0.5)
        y = top_pad + plot_h * (1 - (p.credits - lo) / span_c if hi > lo else 0.5)
        return x, y

    coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in map(xy, series))
    first, last = series[0].credits, series[-1].credits
    name = account or "(no account name)"
    parts = [
        f'<svg class="balance-chart" data-account="{_a(account or "")}" '
        f'data-first="{first}" data-last="{last}" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="balance of {_a(name)}">',
        f'<text x="{left}" y="14"><tspan font-weight="600">{escape(name)}</tspan>'
        f'<tspan class="muted"> {first:,} → {last:,} ({last - first:+,})</tspan></text>',
        f'<line class="axis" x1="{left}" y1="{top_pad + plot_h}" x2="{width - right}" '
        f'y2="{top_pad + plot_h}"/>',
        f'<text class="muted" x="{left - 6}" y="{top_pad + 4}" text-anchor="end">{hi:,}</text>',
        f'<text class="muted" x="{left - 6}" y="{top_pad + plot_h}" text-anchor="end">{lo:,}</text>',
        f'<text class="muted" x="{left}" y="{height - 6}">{_when(t0, tz)}</text>',
        f'<text class="muted" x="{width - right}" y="{height - 6}" text-anchor="end">'
        f"{_when(t1, tz)}</text>",
        f'<polyline class="balance" stroke="{colour}" points="{coords}"/>',
    ]
    for p in series:
        x, y = xy(p)
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="1.2" fill="{colour}" '
            f'data-ts="{p.ts:.3f}" data-balance="{p.credits}"/>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _short_day(key: str | None) -> str:
    try:
        return datetime.strptime(key or "", "%Y-%m-%d").strftime("%a %d")
    except ValueError:
        return escape(key or "")


def _when(ts: float, tz: tzinfo | None) -> str:
    moment = datetime.fromtimestamp(ts, tz) if tz is not None else datetime.fromtimestamp(ts)
    return moment.strftime("%Y-%m-%d %H:%M")


def groups_table(groups: Sequence[Group], by: str, *, table_id: str = "groups") -> str:
    if not groups:
        return f'<p class="empty" id="{table_id}">no requests in this window</p>'
    head = (
        f"<tr><th>{escape(by)}</th><th>requests</th><th>credits</th><th>errors</th>"
        "<th>tokens in</th><th>tokens out</th><th>reasoning</th><th>median latency</th></tr>"
    )
    body = []
    for g in groups:
        t = g.totals
        body.append(
            f'<tr data-key="{_a(g.key or "")}" data-credits="{t.credits}" '
            f'data-requests="{t.requests}"><td>{escape(g.label)}</td><td>{t.requests:,}</td>'
            f"<td>{t.credits:,}</td><td>{t.errors:,}</td><td>{t.tokens_in:,}</td>"
            f"<td>{t.tokens_out:,}</td><td>{t.tokens_reasoning:,}</td>"
            f"<td>{_ms(t.median_latency_ms)}</td></tr>"
        )
    return f'<table id="{table_id}"><thead>{head}</thead><tbody>{"".join(body)}</tbody></table>'


def drift_table(entries: Sequence[Mapping[str, Any]]) -> str:
    """The reconciliation per account: balance first → last, fell, charged, drift, verdict."""
    head = (
        "<tr><th>account</th><th>balance</th><th>fell</th><th>ledger charged</th>"
        "<th>drift</th><th></th></tr>"
    )
    body = []
    for e in entries:
        account = e.get("account")
        body.append(
            f'<tr data-account="{_a(account or "")}" data-drift="{_a(e.get("drift"))}" '
            f'data-charged="{_a(e.get("charged"))}" data-fell="{_a(e.get("fell"))}">'
            f"<td>{escape(str(account or '(no account name)'))}</td>"
            f"<td>{_n(e.get('balance_first'))} → {_n(e.get('balance_last'))}</td>"
            f"<td>{_n(e.get('fell'))}</td><td>{_n(e.get('charged'))}</td>"
            f"<td>{_n(e.get('drift'))}</td><td>{escape(drift_verdict(e))}</td></tr>"
        )
    return (
        '<section><h2>Reconciliation</h2><table id="drift">'
        f"<thead>{head}</thead><tbody>{''.join(body)}</tbody></table></section>"
    )


def group_chart(report: Report) -> str:
    """Credits per group: bars by size; columns in time order for hours; nothing for days (the
    per-day chart is that chart)."""
    if report.by == "day":
        return ""
    if report.by == "hour":
        chart = hour_chart(report.groups)
    else:
        chart = bar_chart(report.groups, chart_id="by-group")
    return f"<section><h2>Credits by {escape(report.by)}</h2>{chart}</section>"


def _window_text(report: Report, tz: tzinfo | None) -> str:
    since = _when(report.since, tz) if report.since is not None else None
    until = _when(report.until, tz) if report.until is not None else None
    if since and until:
        return f"from {since} to {until}"
    if since:
        return f"since {since}"
    if until:
        return f"until {until}"
    return "all recorded requests"


def render_html(
    report: Report,
    *,
    breakdowns: Mapping[str, Sequence[Group]] | None = None,
    generated: float | None = None,
    tz: tzinfo | None = None,
    version: str = "",
) -> str:
    """The page: totals, credits per group (and per other `breakdowns`), per day, the balance,
    and the table of groups."""
    extra = "".join(
        f"<section><h2>Credits by {escape(name)}</h2>{bar_chart(groups, chart_id=f'by-{name}')}"
        "</section>"
        for name, groups in (breakdowns or {}).items()
        if name != report.by
    )
    drift = drift_table(report.drift) if report.drift else ""
    made = f"generated {_when(generated, tz)} · " if generated is not None else ""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>kimrel usage</title>"
        f"<style>{_CSS}</style></head>"
        f'<body data-by="{_a(report.by)}" data-since="{_a(iso(report.since, tz))}" '
        f'data-until="{_a(iso(report.until, tz))}">'
        f"<h1>Where the credits went</h1>"
        f'<p class="sub">{escape(_window_text(report, tz))} · grouped by {escape(report.by)}</p>'
        f"{totals_block(report)}"
        '<div class="charts">'
        f"{group_chart(report)}"
        f"<section><h2>Credits per day</h2>{day_chart(report.per_day)}</section>"
        f"<section><h2>Balance over time</h2>{balance_chart(report.balance, tz=tz)}</section>"
        f"{extra}</div>"
        f"{drift}"
        f"<section><h2>By {escape(report.by)}</h2>{groups_table(report.groups, report.by)}"
        "</section>"
        f"<footer>{made}kimrel {escape(version)} · from the local usage ledger; "
        "credits are the price-table charge of each billed request</footer>"
        "</body></html>\n"
    )
