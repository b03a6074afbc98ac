"""`kimrel credits` shows what went through kimrel here today and this month, from the ledger."""

from __future__ import annotations

import json
import time
from datetime import datetime

import pytest
from typer.testing import CliRunner

from kimrel_cli.cli.app import app
from kimrel_cli.usage import ledger
from kimrel_cli.usage.ledger import UsageRow

runner = CliRunner()


@pytest.fixture
def sim_env(simulator, monkeypatch):
    monkeypatch.setenv("KIMREL_BASE_URL", simulator)
    monkeypatch.setenv("KIMREL_API_KEY", "sk-sim-demo")
    return simulator


def row(ts: float, credits: int, account: str | None) -> UsageRow:
    return UsageRow(
        ts=ts,
        protocol="chat",
        client="openai-sdk",
        status=200,
        stream=False,
        credits_charged=credits,
        account=account,
    )


def fill(rows):
    conn = ledger.open_ledger()
    try:
        ledger.insert_rows(conn, rows)
    finally:
        conn.close()


def test_credits_json_keeps_its_fields_and_adds_local_consumption(sim_env):
    now = time.time()
    month = datetime.now().astimezone().replace(day=1, hour=0, minute=0, second=0).timestamp()
    today = datetime.now().astimezone().replace(hour=0, minute=0, second=0).timestamp()
    earlier = max(month, today - 86400) + 1  # this month, before today where the month allows
    fill(
        [
            row(now - 60, 3, None),  # KIMREL_API_KEY's requests carry no account name
            row(now - 30, 2, None),
            row(earlier, 1, None),
            row(month - 3600, 3, None),  # last month
            row(now - 10, 2, "work"),
        ]
    )
    data = json.loads(runner.invoke(app, ["credits", "--json"]).stdout)
    assert data["credits_remaining"] == 1000 and data["tier"]["per_minute"] == 60
    assert data["rate_limit"]["limit"] == 60
    local = data["local"]
    assert local["account"] is None
    assert local["month"] == {"credits": 6, "requests": 3}
    assert local["today"]["credits"] in (5, 6)  # 6 on the first of the month
    assert {a["account"]: a["month"]["credits"] for a in local["accounts"]} == {None: 6, "work": 2}


def test_credits_for_people_adds_a_line_of_local_use(sim_env):
    fill([row(time.time() - 5, 3, None), row(time.time() - 5, 2, "work")])
    result = runner.invoke(app, ["credits"])
    assert result.exit_code == 0, result.output
    assert "through kimrel here: 3 credits today (1 request)" in result.stdout
    assert "other account work: 2 today" in result.stdout


def test_credits_without_a_ledger_reports_zero_local_use(sim_env):
    data = json.loads(runner.invoke(app, ["credits", "--json"]).stdout)
    assert data["local"]["today"] == {"credits": 0, "requests": 0}
    assert data["local"]["accounts"] == []


def test_an_unreadable_ledger_does_not_stop_credits(sim_env):
    path = ledger.ledger_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"garbage" * 500)
    result = runner.invoke(app, ["credits", "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["local"] is None
    assert "local usage not shown" in result.stderr
