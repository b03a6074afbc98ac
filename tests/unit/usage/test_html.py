"""The --html page: self-contained, every figure in the DOM, and read back from headless Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import datetime, timezone
from html.parser import HTMLParser
from pathlib import Path

import pytest

from kimrel_cli.usage.html import render_html
from kimrel_cli.usage.ledger import UsageRow
from kimrel_cli.usage.report import build_report, group_rows

UTC = timezone.utc
T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC).timestamp()


def row(ts, **kw):
    base = {
        "protocol": "anthropic",
        "client": "claude-code",
        "status": 200,
        "stream": True,
        "credits_charged": 3,
        "model": "kimi-k2.6",
        "account": "work",
        "tokens_in": 1000,
        "tokens_out": 100,
    }
    return UsageRow(ts=ts, **{**base, **kw})


ROWS = [
    row(T0, credits_after=997, latency_ms=800.0),
    row(T0 + 60, client="codex", protocol="responses", credits_charged=1, credits_after=996),
    row(T0 + 86400, status=429, credits_charged=0, error_code="rate_limit_exceeded"),
    row(T0 + 86460, client="<script>alert(1)</script>", credits_charged=2, credits_after=994),
]


class Figures(HTMLParser):
    """Collects the data-* figures the page promises (totals, bars, days, balance, rows)."""

    def __init__(self) -> None:
        super().__init__()
        self.totals: dict[str, str] = {}
        self.bars: dict[str, dict[str, int]] = {}
        self.days: dict[str, int] = {}
        self.balance: list[int] = []
        self.table: dict[str, int] = {}
        self.external: list[str] = []
        self._chart: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "svg" and a.get("id", "").startswith("by-"):
            self._chart = a["id"]
            self.bars[self._chart] = {}
        if "data-metric" in a:
            self.totals[a["data-metric"]] = a["data-value"]
        if tag == "g" and "data-key" in a and self._chart:
            self.bars[self._chart][a["data-key"]] = int(a["data-credits"])
        if "data-day" in a:
            self.days[a["data-day"]] = int(a["data-credits"])
        if "data-balance" in a:
            self.balance.append(int(a["data-balance"]))
        if tag == "tr" and "data-key" in a:
            self.table[a["data-key"]] = int(a["data-credits"])
        for name in ("src", "href"):
            if a.get(name):
                self.external.append(a[name])
        if tag == "script":
            self.external.append("<script>")

    def handle_endtag(self, tag):
        if tag == "svg":
            self._chart = None


def page() -> str:
    report = build_report(ROWS, by="client", since=T0 - 3600, tz=UTC)
    breakdowns = {"model": group_rows(ROWS, "model", UTC)}
    return render_html(report, breakdowns=breakdowns, generated=T0 + 90000, tz=UTC, version="t")


def figures(text: str) -> Figures:
    parsed = Figures()
    parsed.feed(text)
    return parsed


def test_the_page_carries_every_figure_in_data_attributes():
    got = figures(page())
    assert got.totals["requests"] == "4" and got.totals["credits"] == "6"
    assert got.totals["errors"] == "1" and got.totals["tokens_in"] == "4000"
    assert got.bars["by-group"] == {"claude-code": 3, "codex": 1, "<script>alert(1)</script>": 2}
    assert got.bars["by-model"] == {"kimi-k2.6": 6}
    assert got.days == {"2026-11-25": 4, "2026-11-26": 2}
    assert got.balance == [997, 996, 994]
    assert got.table == got.bars["by-group"]


def test_the_page_is_self_contained_and_escapes_what_clients_sent():
    text = page()
    assert figures(text).external == []  # no script, no link, no image from anywhere
    assert "http://" not in text and "https://" not in text
    assert "<script>alert" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text


def test_an_empty_window_renders_zero_totals_and_says_so():
    text = render_html(build_report([], by="model"))
    assert figures(text).totals["requests"] == "0"
    assert "no requests in this window" in text


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not installed")
def test_headless_chromium_renders_the_report_with_the_right_totals(tmp_path: Path):
    path = tmp_path / "usage.html"
    path.write_text(page(), encoding="utf-8")
    result = subprocess.run(
        [
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--dump-dom",
            path.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    dom = result.stdout
    assert "<svg" in dom and 'id="totals"' in dom
    got = figures(dom)
    assert got.totals["requests"] == "4" and got.totals["credits"] == "6"
    assert got.bars["by-group"]["claude-code"] == 3 and got.days["2026-11-26"] == 2
    shown = re.search(r'data-metric="credits"[^>]*>.*?<dd[^>]*>([^<]+)</dd>', dom, re.S)
    assert shown is not None and shown.group(1) == "6"


def test_the_reconciliation_table_shows_each_accounts_drift():
    from kimrel_cli.usage.report import attach_drift

    def reconcile(rows):
        return [{"account": "work", "balance_first": 997, "balance_last": 994, "charged": 3}]

    report = attach_drift(build_report(ROWS, tz=UTC), ROWS, reconcile)
    text = render_html(report, tz=UTC)
    assert '<table id="drift">' in text and 'data-account="work"' in text
    assert "not reconciled" in text  # a record without a drift figure says so


def test_hours_are_columns_in_time_order_and_days_need_no_second_chart():
    hourly = figures(render_html(build_report(ROWS, by="hour", tz=UTC), tz=UTC))
    assert list(hourly.bars["by-group"]) == ["2026-11-25 09:00", "2026-11-26 09:00"]
    daily = render_html(build_report(ROWS, by="day", tz=UTC), tz=UTC)
    assert 'id="by-group"' not in daily and 'id="per-day"' in daily
    assert figures(daily).table == {"2026-11-25": 4, "2026-11-26": 2}


def test_many_groups_keep_the_biggest_and_sum_the_rest_as_others():
    many = [row(T0 + i, session_id=f"s{i:02d}", credits_charged=1 + i % 3) for i in range(30)]
    bars = figures(render_html(build_report(many, by="session", tz=UTC))).bars["by-group"]
    assert len(bars) == 13 and bars["(others)"] == sum(1 + i % 3 for i in range(30)) - sum(
        v for k, v in bars.items() if k != "(others)"
    )
