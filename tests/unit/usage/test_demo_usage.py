"""scripts/demo_usage.py (the data behind docs/usage.md's pictures) writes a coherent ledger."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from kimrel_cli.usage import ledger
from kimrel_cli.usage.report import build_report

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "demo_usage.py"


def load_script():
    spec = importlib.util.spec_from_file_location("demo_usage", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_demo_week_is_deterministic_and_its_balance_falls_by_what_was_charged():
    demo = load_script()
    assert demo.main(["--end", "2026-11-27", "--days", "3", "--seed", "7"]) == 0
    conn = ledger.open_readonly()
    rows = list(ledger.iter_rows(conn))
    conn.close()
    again = demo.demo_rows(end=demo.date(2026, 11, 27), days=3, seed=7, balance=20_000)
    assert [r.ts for r in rows] == [r.ts for r in again]
    report = build_report(rows, by="client")
    assert {g.key for g in report.groups} == {"claude-code", "codex", "kimrel-chat"}
    for account in ("work", "personal"):
        mine = [r for r in rows if r.account == account]
        start = 20_000 if account == "work" else 20_000 // 6
        assert mine[-1].credits_after == start - sum(r.credits_charged for r in mine)
