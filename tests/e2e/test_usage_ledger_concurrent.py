"""A mixed, concurrent run through the relay: the ledger's charged credits add up to exactly what
the simulator says was used, with failed requests and streams the client abandoned midway."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx

from kimrel_cli.relay.context import RelayConfig
from kimrel_cli.relay.run import start_relay_in_thread
from kimrel_cli.usage.ledger import iter_rows, open_readonly
from kimrel_cli.usage.reconcile import reconcile, usable_balance
from tests.support.relay_idle import settle

TOKEN = "kr-local-ledger-mixed"
HI = [{"role": "user", "content": "hello there, a mixed run"}]
MODELS = ("kimi-k2", "kimi-k2.5", "kimi-k2.6", "kimi-k2-0905")
ROUTES = {
    "chat": ("/v1/chat/completions", lambda m, s: {"model": m, "messages": HI, "stream": s}),
    "anthropic": (
        "/v1/messages",
        lambda m, s: {"model": m, "max_tokens": 64, "messages": HI, "stream": s},
    ),
    "responses": ("/v1/responses", lambda m, s: {"model": m, "input": "hello", "stream": s}),
}


def job(n: int) -> tuple[str, str, bool, str | None]:
    """(route, model, stream, what happens): 40 jobs over every route, model and outcome."""
    route = list(ROUTES)[n % 3]
    model = MODELS[n % 4]
    stream = n % 2 == 1
    if n % 8 == 2:
        return route, model, stream, "status=503"  # refused upstream: not charged
    if n % 8 == 5:
        return route, model, True, "abandon"  # client leaves mid-stream: not charged
    return route, model, stream, None


def send(client: httpx.Client, base: str, n: int) -> str:
    route, model, stream, what = job(n)
    path, body = ROUTES[route]
    headers = {"authorization": f"Bearer {TOKEN}", "anthropic-version": "2023-06-01"}
    if what == "abandon":
        headers["x-kimrel-fault"] = "chunk_delay=0.3"
        with client.stream("POST", base + path, json=body(model, True), headers=headers) as r:
            assert r.status_code == 200
            next(r.iter_bytes())  # the first bytes, then hang up
        return what
    if what:
        headers["x-kimrel-fault"] = what
    r = client.post(base + path, json=body(model, stream), headers=headers, timeout=10)
    r.read()
    return f"{r.status_code}"


def credits(client: httpx.Client, simulator: str) -> dict:
    r = client.get(simulator + "/user/credits", headers={"authorization": "Bearer sk-sim-demo"})
    return r.json()


def test_a_mixed_concurrent_run_charges_exactly_what_the_simulator_used(make_simulator, tmp_path):
    simulator = make_simulator(keys={"sk-sim-demo": 5000})  # a tier with room for 40 at once
    path = tmp_path / "usage.sqlite3"
    relay = start_relay_in_thread(
        RelayConfig(
            api_key="sk-sim-demo", base_url=simulator, token=TOKEN, max_retries=0, ledger=path
        )
    )
    client = httpx.Client(trust_env=False, limits=httpx.Limits(max_connections=16))
    try:
        before = credits(client, simulator)
        with ThreadPoolExecutor(8) as pool:
            outcomes = list(pool.map(lambda n: send(client, relay.url, n), range(40)))
        # abandoned streams are recorded once the relay sees the hang-up
        assert relay.ctx.ledger is not None
        settle(relay.ctx)
        after = credits(client, simulator)
    finally:
        client.close()
        relay.stop()
    assert outcomes.count("abandon") == 5
    assert sum(o.startswith("5") for o in outcomes) == 5  # 503 (Anthropic's shape: 529)

    conn = open_readonly(path)
    assert conn is not None
    rows = list(iter_rows(conn))
    conn.close()
    assert len(rows) == 40
    used = after["credits_used"] - before["credits_used"]
    assert sum(r.credits_charged for r in rows) == used > 0
    assert before["credits_remaining"] - after["credits_remaining"] == used
    assert [r.status for r in rows].count(499) == 5
    assert sum(r.status >= 500 for r in rows) == 5
    assert [r for r in rows if r.status >= 500 and r.credits_charged] == []
    # an abandoned stream is charged only when the upstream answer had already run to its end
    # (the relay saw the hang-up late); usually it had not: most cost nothing
    assert sum(r.credits_charged == 0 for r in rows if r.status == 499) >= 3
    assert [r for r in rows if r.status == 200 and not r.credits_charged] == []
    assert {r.protocol for r in rows} == {"chat", "anthropic", "responses"}
    # every usable balance reported is at or above the true balance at the end (an abandoned
    # stream's figure assumed the charge it never paid: reconcile does not use it)
    usable = [r for r in rows if usable_balance(r)]
    assert len(usable) >= 35
    assert [r for r in usable if r.credits_after < after["credits_remaining"]] == []
    report = reconcile(rows)
    assert len(report) == 1 and report[0].charged <= used
