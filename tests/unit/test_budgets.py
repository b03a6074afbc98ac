"""usage/budgets.py: the store, the windows, which cap a request crosses, the words; `kimrel budget`
on the command line; and `kimrel chat`'s own check (it calls the API without the relay)."""

from __future__ import annotations

import json
import stat
import time
from datetime import datetime, timezone

import pytest
from typer.testing import CliRunner

from kimrel_cli.usage import budgets as bud
from kimrel_cli.usage import ledger


def _at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()


NOW = _at("2026-12-31T23:59:30")


def test_windows_reset_at_midnight_utc_and_on_the_first_of_the_month():
    assert bud.window_start("daily", NOW) == _at("2026-12-31T00:00:00")
    assert bud.resets_at("daily", NOW) == _at("2027-01-01T00:00:00")
    assert bud.window_start("monthly", NOW) == _at("2026-12-01T00:00:00")
    assert bud.resets_at("monthly", NOW) == _at("2027-01-01T00:00:00")
    assert bud.resets_at("project", _at("2026-02-10T12:00:00")) == _at("2026-03-01T00:00:00")
    assert bud.window_start("session", NOW) is None and bud.resets_at("session", NOW) is None
    assert bud.reset_text("daily", NOW) == "resets 00:00 UTC"
    assert bud.reset_text("monthly", NOW) == "resets 1 Jan 00:00 UTC"
    assert bud.reset_text("session", NOW) == "never resets"
    assert bud.window_id("daily", NOW) != bud.window_id("daily", NOW + 60)  # a new day


def test_a_request_crosses_a_cap_only_past_its_limit_and_the_message_says_which():
    cap = bud.new_cap("daily", 200, account="work")
    scope = bud.Scope(account="work")
    key = bud.cap_key(cap, scope, NOW)
    assert bud.crossing([cap], scope, 2, {key: 198}, NOW) is None  # reaches 200 exactly
    crossed = bud.crossing([cap], scope, 2, {key: 200}, NOW)
    assert crossed is not None
    assert bud.message(crossed, NOW) == (
        "spend limit reached (daily; resets 00:00 UTC): 200/200 credits used by account work"
    )
    assert "--daily N --account work" in bud.hint(crossed)
    partly = bud.crossing([cap], scope, 3, {key: 199}, NOW)
    assert partly is not None and bud.message(partly, NOW).endswith("; this request costs 3")
    # another account's cap does not apply; one without an account covers all of them
    assert bud.crossing([cap], bud.Scope(account="home"), 2, {key: 500}, NOW) is None
    assert bud.applicable([bud.new_cap("daily", 1)], bud.Scope(account="home"))


def test_of_two_crossed_caps_the_one_resetting_last_is_named():
    caps = [bud.new_cap("daily", 10), bud.new_cap("monthly", 10), bud.new_cap("session", 100)]
    scope = bud.Scope(session_id="s")
    spent = {bud.cap_key(c, scope, NOW): 10 for c in caps}
    crossed = bud.crossing(caps, scope, 1, spent, NOW)  # both reset at midnight on 31 Dec
    assert crossed is not None and crossed.cap.kind == "monthly"
    mid = _at("2026-12-15T12:00:00")
    spent = {bud.cap_key(c, scope, mid): 10 for c in caps}
    crossed = bud.crossing(caps, scope, 1, spent, mid)
    assert crossed is not None and crossed.cap.kind == "monthly"


def test_session_and_project_caps_apply_only_to_requests_that_carry_one():
    session, project = bud.new_cap("session", 5), bud.new_cap("project", 5, project="kimrel")
    assert bud.applicable([session, project], bud.Scope()) == []
    assert bud.applicable([project], bud.Scope(project="other")) == []
    assert bud.applicable([bud.new_cap("project", 5)], bud.Scope(project="other"))
    assert bud.subject_of(session, bud.Scope(session_id="abc")) == "session abc"


def test_tightest_left_is_the_cap_with_the_fewest_credits_left():
    caps = [bud.new_cap("daily", 200), bud.new_cap("monthly", 1000), bud.new_cap("session", 50)]
    scope = bud.Scope(session_id="s1")
    spent = {
        bud.cap_key(caps[0], scope, NOW): 20,
        bud.cap_key(caps[1], scope, NOW): 990,
        bud.cap_key(caps[2], scope, NOW): 45,
    }
    assert bud.tightest_left(caps, scope, spent, NOW) == ("session", 5, 50)
    spent[bud.cap_key(caps[1], scope, NOW)] = 999
    assert bud.tightest_left(caps, scope, spent, NOW) == ("monthly", 1, 1000)
    assert bud.tightest_left(caps, bud.Scope(account="x"), {}, NOW) == ("daily", 200, 200)
    assert bud.tightest_left([caps[2]], bud.Scope(), {}, NOW) is None


def test_the_file_is_written_atomically_private_and_read_back(sandbox):
    budgets = bud.Budgets().with_cap(bud.new_cap("daily", 5, account="work", warn=90))
    budgets = budgets.with_cap(bud.new_cap("daily", 7, account="work"))  # replaces it
    path = bud.save(budgets)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert bud.load() == bud.Budgets((bud.Cap("daily", 7, 80, "work"),))
    assert json.loads(path.read_text())["caps"] == [
        {"kind": "daily", "limit": 7, "warn": 80, "account": "work"}
    ]
    for text, words in (
        ("{", "not valid JSON"),
        ('{"caps": [{"kind": "weekly", "limit": 1}]}', "unknown kind 'weekly'"),
        ('{"caps": [{"kind": "daily", "limit": -1}]}', "limit must be a whole number"),
        ('{"caps": [{"kind": "daily", "limit": true}]}', "limit must be a whole number"),
    ):
        path.write_text(text)
        with pytest.raises(bud.BudgetFileError, match=words):
            bud.load()


def test_left_for_reads_the_ledger_and_the_file(sandbox):
    assert bud.left_for(bud.Scope(session_id="s")) is None  # no caps
    bud.save(bud.Budgets((bud.new_cap("session", 10), bud.new_cap("daily", 100))))
    conn = ledger.open_ledger()
    now = time.time()
    ledger.insert_rows(
        conn,
        [
            ledger.UsageRow(now - 5, "anthropic", "claude-code", 200, True, 3, session_id="s"),
            ledger.UsageRow(now - 5, "anthropic", "claude-code", 200, True, 9, session_id="t"),
        ],
    )
    conn.close()
    assert bud.left_for(bud.Scope(session_id="s")) == ("session", 7, 10)
    assert bud.left_for(bud.Scope()) == ("daily", 88, 100)


def _cli(*args: str) -> object:
    from kimrel_cli.cli.app import app

    return CliRunner().invoke(app, list(args))


def test_kimrel_budget_set_show_clear(sandbox):
    result = _cli("budget", "set", "--daily", "200", "--account", "work", "--warn", "90")
    assert result.exit_code == 0, result.output
    assert _cli("budget", "set", "--project", "30", "--project-name", "kimrel").exit_code == 0
    assert _cli("budget", "set", "--session", "40").exit_code == 0
    conn = ledger.open_ledger()
    ledger.insert_rows(
        conn,
        [
            ledger.UsageRow(time.time(), "chat", "other", 200, False, 12, account="work"),
            ledger.UsageRow(time.time(), "anthropic", "claude-code", 200, True, 5, session_id="z"),
        ],
    )
    conn.close()
    shown = _cli("budget", "show", "--json")
    assert shown.exit_code == 0, shown.output
    caps = {c["name"]: c for c in json.loads(shown.stdout)["caps"]}
    assert (caps["daily"]["spent"], caps["daily"]["left"], caps["daily"]["warn"]) == (12, 188, 90)
    assert caps["session"]["subject"] == "session z" and caps["session"]["left"] == 35
    assert caps["project kimrel"]["spent"] == 0
    assert "daily" in _cli("budget", "show").stdout
    both = _cli("budget", "set", "--daily", "1", "--monthly", "2")
    assert both.exit_code == 1 and "exactly one of" in both.output
    wrong = _cli("budget", "set", "--session", "1", "--account", "work")
    assert wrong.exit_code == 1 and "--account goes with --daily or --monthly" in wrong.output
    cleared = _cli("budget", "clear", "--daily", "--account", "work")
    assert cleared.exit_code == 0 and "removed" in cleared.output
    assert [c.kind for c in bud.load().caps] == ["project", "session"]
    assert _cli("budget", "clear").exit_code == 0
    assert bud.load().caps == ()


def test_kimrel_chat_refuses_a_turn_past_a_cap_before_sending_it(sandbox):
    from kimrel_cli.chat.render import footer
    from kimrel_cli.chat.session import Session
    from kimrel_cli.errors import SpendLimitReached
    from kimrel_cli.hosted.client import Client
    from kimrel_cli.servers import bind_socket, start_in_thread
    from kimrel_cli.simulator.app import SimulatorSettings, create_app
    from tests.support.recorder import Recorder

    upstream = Recorder(create_app(SimulatorSettings()))
    sim = start_in_thread(upstream, bind_socket())
    try:
        bud.save(bud.Budgets((bud.new_cap("daily", 5, account="work"),)))
        session = Session(client=Client("sk-sim-demo", sim.url + "/api"), model="kimi-k2.5")
        session.account = "work"
        session.add_user("hi")
        result = session.stream_turn(lambda _: None, lambda _: None)
        assert result.budget_left == ("daily", 3, 5)
        assert "daily budget 3/5 left" in footer(result, session.model).plain
        session.add_user("again")
        session.stream_turn(lambda _: None, lambda _: None)
        session.add_user("once more")
        with pytest.raises(SpendLimitReached) as refused:
            session.stream_turn(lambda _: None, lambda _: None)
        assert str(refused.value).startswith(
            "spend limit reached (daily; resets 00:00 UTC): 4/5 credits used by account work"
        )
        assert sum(1 for e in upstream.seen if e["method"] == "POST") == 2
    finally:
        sim.stop()


def test_the_spend_limit_kind_in_each_protocol_says_stop_and_do_not_retry():
    from kimrel_cli.errors import SpendLimitReached
    from kimrel_cli.protocols.errors import ERROR_WIRE, ClientProtocol, responses_failure

    exc = SpendLimitReached("spend limit reached (daily; resets 00:00 UTC): 2/2", hint="Raise it.")
    status, body, headers = ERROR_WIRE[ClientProtocol.ANTHROPIC].answer(exc)
    assert (status, headers) == (429, {"x-should-retry": "false"})
    assert body["error"] == {
        "type": "rate_limit_error",
        "message": "spend limit reached (daily; resets 00:00 UTC): 2/2. Raise it.",
        "details": {"error_code": "credits_required"},
    }
    status, body, headers = ERROR_WIRE[ClientProtocol.CHAT].answer(exc)
    assert (status, headers["x-should-retry"]) == (429, "false")
    assert body["error"]["type"] == "insufficient_quota"
    assert body["error"]["code"] == "spend_limit_reached"
    assert responses_failure(exc) == (
        "invalid_prompt",
        "spend limit reached (daily; resets 00:00 UTC): 2/2. Raise it.",
    )
    name, event = ERROR_WIRE[ClientProtocol.ANTHROPIC].stream_event(exc)
    assert name == "error" and event["error"]["type"] == "rate_limit_error"
