"""The usage ledger through a real relay and the simulator: one row per request that went
upstream, written by the official SDKs on every route, streaming and not, with what it cost."""

from __future__ import annotations

import pytest

from kimrel_cli.relay.context import RelayConfig
from kimrel_cli.relay.run import start_relay_in_thread
from kimrel_cli.usage.ledger import iter_rows, open_readonly
from tests.support import loopback, sdk
from tests.support.relay_idle import settle

TOKEN = "kr-local-ledger-test"


@pytest.fixture
def stack(simulator, tmp_path):
    path = tmp_path / "usage.sqlite3"
    relay = start_relay_in_thread(
        RelayConfig(
            api_key="sk-sim-demo",
            base_url=simulator,
            token=TOKEN,
            max_retries=0,
            account="work",
            ledger=path,
        )
    )
    yield relay, path, simulator
    relay.stop()


def rows(relay, path):
    assert relay.ctx.ledger is not None
    # a stream's row is handed over when the relay closes it, which can be just after the
    # client saw its end (a dropped stream): wait for the relay to finish every request
    settle(relay.ctx, timeout=5.0)
    conn = open_readonly(path)
    if conn is None:  # nothing written yet: no database
        return []
    try:
        return list(iter_rows(conn))
    finally:
        conn.close()


def credits_used(simulator: str) -> int:
    answer = loopback.get(
        simulator + "/user/credits", headers={"authorization": "Bearer sk-sim-demo"}
    )
    return int(answer.json()["credits_used"])


def openai(relay):
    return sdk.openai_client(base_url=relay.url + "/v1", api_key=TOKEN, max_retries=0)


def anthropic(relay):
    return sdk.anthropic_client(base_url=relay.url, auth_token=TOKEN, max_retries=0)


HI = [{"role": "user", "content": "hi"}]


def test_every_route_writes_one_row_per_request_streaming_and_not(stack):
    relay, path, simulator = stack
    oa, an = openai(relay), anthropic(relay)
    oa.chat.completions.create(model="kimi-k2.6", messages=HI)
    for _ in oa.chat.completions.create(model="kimi-k2", messages=HI, stream=True):
        pass
    an.messages.create(model="claude-opus-4-8", max_tokens=50, messages=HI)
    with an.messages.stream(model="kimi-k2.6", max_tokens=50, messages=HI) as s:
        s.get_final_message()
    oa.responses.create(model="kimi-k2.5", input="hi")
    with oa.responses.stream(model="kimi-k2-thinking", input="hi") as s:
        s.get_final_response()

    got = rows(relay, path)
    assert [(r.protocol, r.stream, r.model) for r in got] == [
        ("chat", False, "kimi-k2.6"),
        ("chat", True, "kimi-k2"),
        ("anthropic", False, "kimi-k2.5"),
        ("anthropic", True, "kimi-k2.6"),
        ("responses", False, "kimi-k2.5"),
        ("responses", True, "kimi-k2-thinking"),
    ]
    assert [r.credits_charged for r in got] == [3, 1, 2, 3, 2, 1]
    assert sum(r.credits_charged for r in got) == credits_used(simulator) == 12
    assert got[2].model_requested == "claude-opus-4-8"
    assert [r.client for r in got] == ["openai-sdk", "openai-sdk"] + ["anthropic-sdk"] * 2 + [
        "openai-sdk"
    ] * 2
    for row in got:
        assert row.status == 200 and row.error_code is None
        assert row.account == "work"
        assert row.tokens_in and row.tokens_out
        assert row.latency_ms is not None and row.ttfb_ms is not None
        assert 0 <= row.ttfb_ms <= row.latency_ms
        assert row.user_agent
    # the balance each answer reported, in order: 1000 less what was charged so far
    assert [r.credits_after for r in got] == [997, 996, 994, 991, 989, 988]
    # one after another, the balance fell by exactly what the ledger charged after the first
    from kimrel_cli.usage.reconcile import reconcile

    (rec,) = reconcile(got)
    assert (rec.account, rec.fell, rec.charged, rec.drift, rec.flagged) == ("work", 9, 9, 0, False)


def test_requests_the_relay_answers_itself_write_no_row(stack):
    relay, path, _ = stack
    headers = {"authorization": f"Bearer {TOKEN}", "anthropic-version": "2023-06-01"}
    assert loopback.get(relay.url + "/v1/models", headers=headers).status_code == 200
    assert loopback.get(relay.url + "/health").status_code == 200
    count = loopback.post(
        relay.url + "/v1/messages/count_tokens",
        headers=headers,
        json={"model": "kimi-k2", "messages": HI},
    )
    assert count.status_code == 200
    assert (
        loopback.post(relay.url + "/v1/messages", headers=headers, content=b"{").status_code == 400
    )
    assert loopback.post(relay.url + "/v1/nothing", headers=headers, json={}).status_code == 404
    assert loopback.post(relay.url + "/v1/messages", json={}).status_code == 401  # no token
    assert rows(relay, path) == []


def test_an_upstream_refusal_is_a_row_with_its_code_and_no_charge(stack):
    relay, path, simulator = stack
    oa = openai(relay)
    import openai as openai_module

    # the 500 first: after a 429 the pacer holds the next stream, whose error then comes as a
    # stream event (docs/budgets.md, "Streams while held")
    with pytest.raises(openai_module.InternalServerError):
        oa.chat.completions.create(
            model="kimi-k2",
            messages=HI,
            stream=True,
            extra_headers={"x-kimrel-fault": "status=500"},
        )
    with pytest.raises(openai_module.RateLimitError):
        oa.chat.completions.create(
            model="kimi-k2", messages=HI, extra_headers={"x-kimrel-fault": "status=429"}
        )
    got = rows(relay, path)
    assert [(r.status, r.error_code, r.credits_charged, r.stream) for r in got] == [
        (500, "injected_fault", 0, True),
        (429, "rate_limit_exceeded", 0, False),
    ]
    assert all(r.credits_after == 1000 for r in got)
    assert credits_used(simulator) == 0


def test_a_stream_upstream_drops_midway_is_recorded_uncharged(stack):
    relay, path, simulator = stack
    an = anthropic(relay)
    import anthropic as anthropic_module

    with (
        pytest.raises(anthropic_module.APIError),
        an.messages.stream(
            model="kimi-k2",
            max_tokens=50,
            messages=HI,
            extra_headers={"x-kimrel-fault": "drop_after=2"},
        ) as s,
    ):
        s.get_final_message()
    (row,) = rows(relay, path)
    assert row.stream and row.credits_charged == 0 and row.error_code == "upstream-unavailable"
    assert credits_used(simulator) == 0


def test_the_project_header_is_recorded_and_never_sent_upstream(simulator, tmp_path):
    from kimrel_cli.relay.app import create_app
    from kimrel_cli.relay.context import build_context
    from kimrel_cli.servers import bind_socket, start_in_thread
    from kimrel_cli.simulator.app import SimulatorSettings
    from kimrel_cli.simulator.app import create_app as create_simulator
    from tests.support.recorder import Recorder

    upstream = Recorder(create_simulator(SimulatorSettings()))
    sim = start_in_thread(upstream, bind_socket())
    path = tmp_path / "usage.sqlite3"
    ctx = build_context(
        RelayConfig(api_key="sk-sim-demo", base_url=sim.url + "/api", token=TOKEN, ledger=path)
    )
    relay = start_in_thread(create_app(ctx), bind_socket())
    try:
        client = sdk.openai_client(
            base_url=relay.url + "/v1",
            api_key=TOKEN,
            max_retries=0,
            default_headers={"x-kimrel-project": "caf%C3%A9-app", "session_id": "s-1"},
        )
        client.chat.completions.create(model="kimi-k2", messages=HI)
        assert ctx.ledger is not None and ctx.ledger.flush(5.0)
        conn = open_readonly(path)
        assert conn is not None
        (row,) = list(iter_rows(conn))
        conn.close()
        assert row.project == "café-app" and row.session_id == "s-1"
        sent = [e for e in upstream.seen if e["path"].endswith("/chat/completions")]
        assert sent and all("x-kimrel-project" not in e["headers"] for e in sent)
    finally:
        relay.stop()
        sim.stop()


def test_the_messages_pass_through_writes_rows_with_the_upstream_usage(simulator, tmp_path):
    from kimrel_cli.config import Settings

    path = tmp_path / "usage.sqlite3"
    relay = start_relay_in_thread(
        RelayConfig(
            api_key="sk-sim-demo",
            base_url=simulator,
            token=TOKEN,
            max_retries=0,
            settings=Settings(messages_upstream="messages"),
            ledger=path,
        )
    )
    try:
        an = anthropic(relay)
        an.messages.create(model="kimi-k2", max_tokens=50, messages=HI)
        with an.messages.stream(model="kimi-k2.6", max_tokens=50, messages=HI) as s:
            final = s.get_final_message()
        got = rows(relay, path)
    finally:
        relay.stop()
    assert [(r.protocol, r.stream, r.credits_charged) for r in got] == [
        ("anthropic", False, 1),
        ("anthropic", True, 3),
    ]
    assert got[1].tokens_in == final.usage.input_tokens
    assert got[1].tokens_out == final.usage.output_tokens
    assert all(r.tokens_in and r.tokens_out for r in got)
    assert sum(r.credits_charged for r in got) == credits_used(simulator)


def test_serve_writes_no_ledger_when_the_setting_is_off():
    from kimrel_cli.config import Settings
    from kimrel_cli.relay.run import ServeOptions, make_config
    from kimrel_cli.usage.ledger import ledger_path

    on, _ = make_config(ServeOptions(), Settings(), "http://127.0.0.1:9/api", None)
    off, _ = make_config(
        ServeOptions(), Settings(usage_ledger=False), "http://127.0.0.1:9/api", None
    )
    assert on.ledger == ledger_path() and off.ledger is None
