"""`kimrel usage` and `usage prune` through the real CLI app, on a ledger in the test's state dir."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import time

import pytest
from typer.testing import CliRunner

from kimrel_cli.cli.app import app
from kimrel_cli.usage import ledger
from kimrel_cli.usage.ledger import UsageRow

runner = CliRunner()
NOW = time.time()
DAY = 86400.0


def row(age: float, **kw) -> UsageRow:
    base = {
        "protocol": "anthropic",
        "client": "claude-code",
        "status": 200,
        "stream": True,
        "credits_charged": 3,
        "account": "work",
        "model": "kimi-k2.6",
        "tokens_in": 1200,
        "tokens_out": 80,
        "latency_ms": 900.0,
    }
    return UsageRow(ts=NOW - age, **{**base, **kw})


def fill(rows: list[UsageRow]) -> None:
    conn = ledger.open_ledger()
    try:
        ledger.insert_rows(conn, rows)
    finally:
        conn.close()


@pytest.fixture
def recorded() -> list[UsageRow]:
    rows = [
        row(100 * DAY, credits_after=1000),  # outside every default window
        row(3 * DAY, credits_after=990, session_id="s1", project="shop"),
        row(2 * DAY, client="codex", protocol="responses", model="kimi-k2", credits_charged=1),
        row(3600, status=429, credits_charged=0, error_code="rate_limit_exceeded"),
        row(600, credits_after=984, client="kimrel-chat", protocol="repl", account="home"),
    ]
    fill(rows)
    return rows


def usage(*args: str):
    return runner.invoke(app, ["usage", *args])


def test_no_ledger_yet_is_a_friendly_message_and_json_zero_totals():
    result = usage()
    assert result.exit_code == 0 and "No usage recorded yet" in result.stderr
    data = json.loads(usage("--json").stdout)
    assert data["totals"]["requests"] == 0 and data["totals"]["credits"] == 0
    assert data["groups"] == []
    assert not ledger.ledger_path().exists()  # reading never creates it


def test_json_totals_and_groups_for_the_last_week_by_client(recorded):
    result = usage("--since", "7d", "--by", "client", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    totals = data["totals"]
    assert (totals["requests"], totals["credits"], totals["errors"]) == (4, 7, 1)
    assert data["totals"]["tokens_in"] == 4800 and data["totals"]["tokens_out"] == 320
    groups = {g["key"]: g for g in data["groups"]}
    assert groups["claude-code"]["credits"] == 3 and groups["claude-code"]["errors"] == 1
    assert groups["codex"]["requests"] == 1 and groups["kimrel-chat"]["credits"] == 3
    assert data["by"] == "client" and data["since"] is not None


def test_since_and_until_pick_the_window(recorded):
    data = json.loads(usage("--since", "150d", "--until", "1d", "--json").stdout)
    assert data["totals"]["requests"] == 3 and data["totals"]["credits"] == 7


def test_csv_is_a_header_and_one_line_per_group(recorded):
    result = usage("--by", "account", "--csv")
    assert result.exit_code == 0, result.output
    lines = list(csv.reader(io.StringIO(result.stdout)))
    assert lines[0][:4] == ["account", "requests", "credits", "errors"]
    assert {line[0]: line[2] for line in lines[1:]} == {"work": "4", "home": "3"}


def test_the_terminal_report_shows_totals_table_bars_and_balance(recorded):
    result = usage("--by", "model")
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "4 requests" in text and "7 credits" in text and "1 error" in text
    assert "kimi-k2.6" in text and "Credits by model" in text and "█" in text
    assert "Balance over time" in text and "990 → 990" in text  # work, in the window


def test_by_project_and_session_show_rows_without_one_as_none(recorded):
    data = json.loads(usage("--by", "project", "--json").stdout)
    assert {g["key"] for g in data["groups"]} == {"shop", None}
    assert "(none)" in usage("--by", "session").stdout


def test_bad_window_and_grouping_are_clear_errors_without_a_traceback(recorded):
    result = usage("--since", "last tuesday")
    assert result.exit_code == 1 and "cannot read 'last tuesday' as a time" in result.stderr
    result = usage("--since", "1h", "--until", "2h")
    assert result.exit_code == 1 and "is not before" in result.stderr
    result = usage("--by", "colour")
    assert result.exit_code == 2 and "day, hour, model" in result.output
    assert "Traceback" not in result.output


def test_json_and_csv_together_are_refused():
    result = usage("--json", "--csv")
    assert result.exit_code == 1 and "pick one" in result.stderr


def test_a_corrupt_ledger_is_one_clear_error(sandbox):
    path = ledger.ledger_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"this is not a database" * 100)
    result = usage("--json")
    assert result.exit_code == 1
    assert "cannot read the usage ledger" in result.stderr and "move it aside" in result.stderr
    assert "Traceback" not in result.output and result.stdout == ""


def test_a_locked_ledger_is_one_clear_error(recorded):
    holder = sqlite3.connect(ledger.ledger_path())
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("DELETE FROM requests WHERE 0")
    try:
        result = usage()
    finally:
        holder.rollback()
        holder.close()
    assert result.exit_code == 1 and "locked" in result.stderr
    assert "Traceback" not in result.output


def test_a_ledger_from_a_newer_kimrel_says_to_upgrade(recorded):
    conn = sqlite3.connect(ledger.ledger_path())
    conn.execute(f"PRAGMA user_version = {ledger.SCHEMA_VERSION + 1}")
    conn.close()
    result = usage()
    assert result.exit_code == 1 and "Upgrade kimrel" in result.stderr


def test_html_writes_one_page_with_the_totals(recorded, sandbox):
    target = sandbox / "report.html"
    result = usage("--since", "7d", "--html", str(target))
    assert result.exit_code == 0, result.output
    text = target.read_text(encoding="utf-8")
    assert 'data-metric="credits" data-value="7"' in text
    assert 'data-metric="requests" data-value="4"' in text
    assert result.stdout == "" and "wrote" in result.stderr


def test_html_into_a_missing_directory_is_a_clear_error(recorded, sandbox):
    result = usage("--html", str(sandbox / "nowhere" / "r.html"))
    assert result.exit_code == 1 and "cannot write" in result.stderr


def test_prune_deletes_old_rows_and_says_how_many(recorded):
    result = runner.invoke(app, ["usage", "prune", "--before", "90d", "--yes"])
    assert result.exit_code == 0, result.output
    assert "pruned 1 rows" in result.stderr and "4 remain" in result.stderr
    data = json.loads(usage("--since", "365d", "--json").stdout)
    assert data["totals"]["requests"] == 4


def test_prune_asks_first_and_refuses_without_a_terminal(recorded):
    result = runner.invoke(app, ["usage", "prune", "--before", "90d"])
    assert result.exit_code == 1 and "--yes" in result.stderr
    assert json.loads(usage("--since", "365d", "--json").stdout)["totals"]["requests"] == 5


def test_prune_with_nothing_old_or_no_ledger_changes_nothing():
    result = runner.invoke(app, ["usage", "prune", "--before", "90d", "--yes"])
    assert result.exit_code == 0 and "nothing to prune" in result.stderr
    fill([row(10)])
    result = runner.invoke(app, ["usage", "prune", "--before", "90d", "--yes"])
    assert result.exit_code == 0 and "nothing to prune" in result.stderr


def test_until_alone_looks_at_the_week_before_it_and_since_all_at_everything(recorded):
    data = json.loads(usage("--until", "95d", "--json").stdout)
    assert data["totals"]["requests"] == 1  # the row of 100 days ago
    data = json.loads(usage("--since", "all", "--json").stdout)
    assert data["totals"]["requests"] == 5 and data["since"] is None
