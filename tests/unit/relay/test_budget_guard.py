"""Spend caps in a real relay in front of the simulator: refused requests never go upstream,
each protocol gets its own "stop, do not retry" answer, caps change without a restart, the
ledger seeds them, and 64 concurrent requests at a cap's edge never overshoot it."""

from __future__ import annotations

import asyncio
import io
import json
import time
from typing import Any

import httpx
import pytest

from kimrel_cli.relay.context import RelayConfig
from kimrel_cli.relay.run import start_relay_in_thread
from kimrel_cli.servers import bind_socket, start_in_thread
from kimrel_cli.usage import budgets as bud
from kimrel_cli.usage import ledger
from tests.support import loopback
from tests.support.recorder import Recorder
from tests.support.relay_idle import settle, wait_until_idle

TOKEN = "kr-local-budget-test"
ANTHROPIC = {"authorization": f"Bearer {TOKEN}", "anthropic-version": "2023-06-01"}
OPENAI = {"authorization": f"Bearer {TOKEN}"}


class Stack:
    def __init__(self, relay: Any, upstream: Recorder, out: io.StringIO) -> None:
        self.relay, self.upstream, self.out = relay, upstream, out
        self.url = relay.url

    def model_requests(self) -> int:
        return sum(1 for e in self.upstream.seen if e["method"] == "POST")

    def log(self) -> str:
        settle(self.relay.ctx)
        return self.out.getvalue()


def _stack(**simulator: Any) -> Any:
    from kimrel_cli.relay.dashboard import RequestLog
    from kimrel_cli.simulator.app import SimulatorSettings, create_app

    upstream = Recorder(create_app(SimulatorSettings(**simulator)))
    sim = start_in_thread(upstream, bind_socket())
    out = io.StringIO()
    relay = start_relay_in_thread(
        RelayConfig(
            api_key="sk-sim-demo",
            base_url=sim.url + "/api",
            token=TOKEN,
            max_retries=0,
            account="work",
            log=RequestLog("pretty", stream=out),
        )
    )
    try:
        yield Stack(relay, upstream, out)
    finally:
        relay.stop()
        sim.stop()


@pytest.fixture
def stack():
    yield from _stack()


@pytest.fixture
def slow_stack():
    yield from _stack(chunk_delay=0.1)


def _set(*caps: bud.Cap) -> None:
    bud.save(bud.Budgets(tuple(caps)))


def _message(st: Stack, model: str = "kimi-k2.5", stream: bool = False, **headers: str) -> Any:
    body = {"model": model, "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]}
    if stream:
        body["stream"] = True
    return loopback.post(st.url + "/v1/messages", headers={**ANTHROPIC, **headers}, json=body)


def test_claude_code_gets_a_429_that_says_stop_and_nothing_goes_upstream(stack):
    _set(bud.new_cap("daily", 4, account="work"))  # kimi-k2.5 costs 2: two requests fit
    assert _message(stack).status_code == 200
    assert _message(stack, stream=True).status_code == 200
    refused = _message(stack)
    assert refused.status_code == 429
    assert refused.headers["x-should-retry"] == "false"
    body = refused.json()
    assert body["type"] == "error" and body["error"]["type"] == "rate_limit_error"
    assert body["error"]["message"].startswith(
        "spend limit reached (daily; resets 00:00 UTC): 4/4 credits used by account work."
    )
    assert "kimrel budget set --daily N --account work" in body["error"]["message"]
    streamed = _message(stack, stream=True)  # a stream is refused before it starts
    assert streamed.status_code == 429 and streamed.json()["error"]["type"] == "rate_limit_error"
    assert stack.model_requests() == 2
    assert wait_until_idle(stack.relay.ctx)  # the stream is settled when the relay closes it
    snap = stack.relay.ctx.budgets.snapshot()["caps"]
    assert snap == [
        {
            "name": "daily",
            "kind": "daily",
            "subject": "account work",
            "account": "work",
            "project": None,
            "cap": 4,
            "spent": 4,
            "left": 0,
            "warn": 80,
            "warned": True,
            "resets_at": snap[0]["resets_at"],
            "in_flight": 0,
        }
    ]


def test_openai_routes_get_a_final_insufficient_quota_and_codex_a_failed_response(stack):
    _set(bud.new_cap("monthly", 0))
    chat = loopback.post(
        stack.url + "/v1/chat/completions",
        headers=OPENAI,
        json={"model": "kimi-k2", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert chat.status_code == 429 and chat.headers["x-should-retry"] == "false"
    error = chat.json()["error"]
    assert (error["type"], error["code"]) == ("insufficient_quota", "spend_limit_reached")
    assert error["message"].startswith("spend limit reached (monthly; resets 1 ")
    assert "0/0 credits used by all accounts" in error["message"]

    responses = loopback.post(
        stack.url + "/v1/responses",
        headers=OPENAI,
        json={"model": "kimi-k2", "input": "hi", "stream": True},
    )
    assert responses.status_code == 200  # Codex retries HTTP errors; it stops on this event
    failed = [
        json.loads(line[6:])
        for line in responses.text.splitlines()
        if line.startswith("data: ") and "response.failed" in line
    ]
    assert failed[0]["response"]["error"]["code"] == "invalid_prompt"
    assert failed[0]["response"]["error"]["message"].startswith("spend limit reached (monthly;")
    assert stack.model_requests() == 0


def test_a_running_relay_takes_a_new_cap_and_a_cleared_one_without_restart(stack):
    assert _message(stack, model="kimi-k2").status_code == 200  # 1 credit, no cap yet
    _set(bud.new_cap("daily", 1))
    assert _message(stack, model="kimi-k2").status_code == 429  # 1 + 1 > 1
    bud.save(bud.Budgets())
    assert _message(stack, model="kimi-k2").status_code == 200
    _set(bud.new_cap("daily", 2))
    assert _message(stack, model="kimi-k2").status_code == 429  # 2 charged since start
    assert stack.model_requests() == 2


def test_caps_are_seeded_from_the_ledger_so_they_survive_a_relay_restart(sandbox):
    from kimrel_cli.relay.budget_guard import BudgetGuard

    conn = ledger.open_ledger()
    now = time.time()
    rows = [
        ledger.UsageRow(now - 60, "anthropic", "claude-code", 200, False, 7, account="work"),
        ledger.UsageRow(now - 30, "chat", "other", 200, False, 2, account="home"),
        ledger.UsageRow(now - 40 * 86400, "chat", "other", 200, False, 50, account="work"),
        ledger.UsageRow(now - 10, "repl", "kimrel-chat", 200, False, 3, session_id="s1"),
    ]
    ledger.insert_rows(conn, rows)
    conn.close()
    _set(bud.new_cap("daily", 10, account="work"), bud.new_cap("session", 4))
    guard = BudgetGuard(account="work")
    from kimrel_cli.errors import SpendLimitReached
    from kimrel_cli.usage.attribution import Attribution

    guard.reserve({"model": "kimi-k2.6"}, None).commit()  # 7 + 3 = 10: fits exactly
    with pytest.raises(SpendLimitReached, match=r"10/10 credits used by account work"):
        guard.reserve({"model": "kimi-k2"}, None)
    guard = BudgetGuard(account="home")
    guard.reserve({"model": "kimi-k2"}, Attribution(session_id="s2")).commit()
    with pytest.raises(SpendLimitReached, match=r"\(session; never resets\): 3/4 .* costs 2"):
        guard.reserve({"model": "kimi-k2.5"}, Attribution(session_id="s1"))


def test_what_kimrel_chat_spends_while_the_relay_runs_counts_against_its_caps(sandbox):
    """`kimrel chat`'s rows reach a running relay's caps through the ledger, once the relay's
    reading of it is LEDGER_TTL old; the relay's own rows there are not counted twice."""
    from kimrel_cli.errors import SpendLimitReached
    from kimrel_cli.relay.budget_guard import LEDGER_TTL, BudgetGuard

    clock = [time.time()]
    _set(bud.new_cap("daily", 10, account="work"))
    guard = BudgetGuard(account="work", clock=lambda: clock[0])
    guard.reserve({"model": "kimi-k2.6"}, None).commit()  # 3 credits, counted in memory
    conn = ledger.open_ledger()
    ledger.insert_rows(
        conn,
        [  # the relay's own row (its ledger writer is not running here) and chat's
            ledger.UsageRow(clock[0] + 1, "chat", "openai-sdk", 200, False, 3, account="work"),
            ledger.UsageRow(clock[0] + 1, "repl", "kimrel-chat", 200, False, 6, account="work"),
        ],
    )
    conn.close()
    guard.reserve({"model": "kimi-k2.5"}, None).release()  # 3 + 2 fits: chat not seen yet
    clock[0] += LEDGER_TTL
    with pytest.raises(SpendLimitReached, match=r"9/10 credits used by account work"):
        guard.reserve({"model": "kimi-k2.5"}, None)
    guard.reserve({"model": "kimi-k2"}, None).commit()  # 9 + 1 = 10: fits exactly
    assert guard.snapshot()["caps"][0]["spent"] == 10
    conn = ledger.open_ledger()  # chat goes on: a re-read adds its new row, once
    ledger.insert_rows(
        conn, [ledger.UsageRow(clock[0] + 1, "repl", "kimrel-chat", 200, False, 1, account="work")]
    )
    conn.close()
    clock[0] += LEDGER_TTL
    assert guard.snapshot()["caps"][0]["spent"] == 11
    clock[0] += LEDGER_TTL
    assert guard.snapshot()["caps"][0]["spent"] == 11


def test_a_request_that_is_not_billed_gives_its_reservation_back(sandbox):
    from kimrel_cli.relay.budget_guard import BudgetGuard

    _set(bud.new_cap("daily", 2))
    guard = BudgetGuard()
    with pytest.raises(RuntimeError), guard.hold({"model": "kimi-k2.5"}, None):
        assert guard.snapshot()["caps"][0]["in_flight"] == 2
        raise RuntimeError("upstream failed")
    stream = guard.reserve({"model": "kimi-k2.5"}, None)
    stream.settle(billed=False)  # the stream never delivered its end (client left)
    assert guard.snapshot()["caps"][0]["spent"] == 0
    guard.reserve({"model": "kimi-k2.5"}, None).commit()
    assert guard.snapshot()["caps"][0]["spent"] == 2


def test_an_upstream_failure_and_a_cut_stream_cost_nothing(slow_stack):
    stack = slow_stack
    _set(bud.new_cap("daily", 2))
    failed = _message(stack, **{"x-kimrel-fault": "status=500"})
    assert failed.status_code == 500
    with loopback.stream(
        "POST",
        stack.url + "/v1/messages",
        # chunks a second apart: the client is gone long before the stream could end, however
        # loaded the machine (with the fixture's 0.1 s the story sometimes ended first)
        headers={**ANTHROPIC, "x-kimrel-fault": "chunk_delay=1"},
        json={
            "model": "kimi-k2.5",
            "max_tokens": 2000,
            "stream": True,
            "messages": [{"role": "user", "content": "write a long story " * 20}],
        },
    ) as response:
        next(response.iter_bytes())  # leave after the first bytes
    assert wait_until_idle(stack.relay.ctx, timeout=20)
    assert _message(stack).status_code == 200  # still room for one request of 2
    assert _message(stack).status_code == 429


def test_the_warning_threshold_logs_once_per_cap_and_window(stack):
    _set(bud.new_cap("daily", 6, warn=50))
    for _ in range(5):
        _message(stack, model="kimi-k2")
    log = stack.log()
    assert log.count("budget warning") == 1, log
    assert "budget warning: 3/6 credits of the daily cap used by all accounts (50% threshold" in log


def test_session_and_project_caps_count_each_session_and_project_apart(stack):
    _set(bud.new_cap("session", 2), bud.new_cap("project", 3, project="kimrel"))
    a = {"x-claude-code-session-id": "aaaa"}
    b = {"x-claude-code-session-id": "bbbb"}
    assert _message(stack, **a).status_code == 200
    refused = _message(stack, model="kimi-k2", **a)
    assert refused.status_code == 429
    assert "(session; never resets): 2/2 credits used by session aaaa" in refused.text
    assert _message(stack, **b).status_code == 200
    project = {"x-kimrel-project": "kimrel", "x-claude-code-session-id": "cccc"}
    assert _message(stack, model="kimi-k2", **project).status_code == 200
    assert _message(stack, model="kimi-k2", **{"x-kimrel-project": "kimrel"}).status_code == 200
    refused = _message(stack, model="kimi-k2.5", **{"x-kimrel-project": "kimrel"})
    assert "(project kimrel; resets 1 " in refused.text and "2/3 credits" in refused.text
    assert _message(stack, model="kimi-k2", **{"x-kimrel-project": "other"}).status_code == 200


def test_64_concurrent_requests_at_the_edge_of_a_cap_never_overshoot(stack):
    _set(bud.new_cap("daily", 20))  # kimi-k2 costs 1: exactly 20 of 64 fit

    async def burst() -> list[int]:
        async with httpx.AsyncClient(trust_env=False, timeout=30) as client:

            async def one(i: int) -> int:
                body = {
                    "model": "kimi-k2",
                    "stream": i % 2 == 0,
                    "messages": [{"role": "user", "content": f"hi {i}"}],
                }
                r = await client.post(stack.url + "/v1/chat/completions", headers=OPENAI, json=body)
                return r.status_code

            return await asyncio.gather(*(one(i) for i in range(64)))

    statuses = asyncio.run(burst())
    assert statuses.count(200) == 20 and statuses.count(429) == 44, statuses
    assert stack.model_requests() == 20
    assert wait_until_idle(stack.relay.ctx)
    snap = stack.relay.ctx.budgets.snapshot()
    assert snap["caps"][0]["spent"] == 20 and snap["caps"][0]["in_flight"] == 0
    assert snap["overshoot"] == 0


def test_a_broken_budget_file_keeps_the_caps_it_had_and_says_so(stack):
    _set(bud.new_cap("daily", 0))
    assert _message(stack).status_code == 429
    bud.budgets_path().write_text("{not json")
    assert _message(stack).status_code == 429  # a typo never lifts a cap
    assert "budgets not reloaded" in stack.log()
    assert stack.relay.ctx.budgets.snapshot()["file_error"]


def test_billing_past_a_cap_is_reported_as_overshoot(sandbox):
    from kimrel_cli.relay.budget_guard import BudgetGuard

    warnings: list[str] = []
    _set(bud.new_cap("daily", 10))
    guard = BudgetGuard(on_warning=warnings.append)
    in_flight = guard.reserve({"model": "kimi-k2.6"}, None)  # 3 credits, reserved under 10
    _set(bud.new_cap("daily", 1))  # the cap is lowered while the request is in flight
    guard.refresh()
    in_flight.commit()
    assert guard.snapshot()["overshoot"] == 2
    assert warnings == [
        "budget overshoot: daily cap of 1 exceeded by 2 credits (3/1 used by all accounts)"
    ]
