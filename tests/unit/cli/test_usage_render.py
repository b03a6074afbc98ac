"""The terminal report's pieces, rendered into a fixed-width console (no terminal needed)."""

from __future__ import annotations

import io

from rich.console import Console

from kimrel_cli.cli.usage import balance_lines, bar, by_time, report_renderable, sparkline
from kimrel_cli.usage.ledger import UsageRow
from kimrel_cli.usage.report import BalancePoint, build_report


def render(renderable, width: int) -> str:
    console = Console(file=io.StringIO(), width=width, legacy_windows=False, color_system=None)
    console.print(renderable)
    return console.file.getvalue()


def test_bars_are_drawn_in_eighths_of_a_cell():
    assert bar(10, 10, 4) == "████"
    assert bar(5, 10, 4) == "██"
    assert bar(1, 10, 4) == "▍"  # 3.2 eighths → 3
    assert bar(0, 10, 4) == "" and bar(1, 0, 4) == ""
    assert bar(0.01, 10, 4) == "▏"  # anything above zero shows


def test_the_balance_sparkline_is_flat_through_quiet_hours():
    points = [BalancePoint(0, "a", 100), BalancePoint(1, "a", 90), BalancePoint(100, "a", 80)]
    cells = by_time(points, 10, 0, 100)
    assert cells[:9] == [90] * 9 and cells[9] == 80
    assert sparkline([5, 5, 5], 3) == "███" and sparkline([0, 7], 2) == "▁█"


def test_balance_lines_give_each_account_first_last_and_change():
    points = (
        BalancePoint(0, "work", 1000),
        BalancePoint(5, None, 50),
        BalancePoint(10, "work", 990),
    )
    lines = balance_lines(points, width=80)
    assert lines[0].startswith("work") and "1,000 → 990 (-10)" in lines[0]
    assert "(no account name)" in lines[1]


def test_a_narrow_terminal_keeps_group_names_and_drops_minor_columns():
    rows = [
        UsageRow(
            ts=1_800_000_000.0 + i,
            protocol="anthropic",
            client="claude-code",
            status=200,
            stream=True,
            credits_charged=3,
            model="a-rather-long-model-name-kept-whole",
            tokens_in=123456,
            tokens_out=7890,
            tokens_reasoning=55,
            latency_ms=1500.0,
            credits_after=1000 - 3 * i,
        )
        for i in range(3)
    ]
    text = render(report_renderable(Console(width=50), build_report(rows, by="model")), 50)
    assert "a-rather-long-model-name-kept-whole" in text
    assert "not shown at this width" in text and "reasoning" in text
    assert "3 requests" in text and "9 credits" in text
    assert "1,000 → 994 (-6)" in text
