"""Issue 11.8: the dashboard's credit figure went backwards under concurrent requests (931 then
932): a stream opened early finished after later requests and its older figure won."""

from __future__ import annotations

import concurrent.futures
import time

import httpx

from kimrel_cli.relay.app import create_app
from kimrel_cli.relay.context import RelayConfig, build_context
from kimrel_cli.servers import bind_socket, start_in_thread

BODY = {"model": "kimi-k2", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}


def test_credits_shown_never_go_up_while_concurrent_requests_spend_them(simulator):
    ctx = build_context(RelayConfig(api_key="sk-sim-demo", base_url=simulator))
    server = start_in_thread(create_app(ctx), bind_socket())

    def slow_stream(i: int) -> int:
        headers = {"x-kimrel-fault": f"chunk_delay=0.{i % 3 + 1}"}
        body = {**BODY, "stream": True}
        with httpx.stream("POST", server.url + "/v1/messages", json=body, headers=headers) as r:
            r.read()
        return r.status_code

    def quick(i: int) -> int:
        time.sleep(0.05 * i)
        return httpx.post(server.url + "/v1/messages", json=BODY, timeout=30).status_code

    try:
        with concurrent.futures.ThreadPoolExecutor(12) as pool:
            futures = [pool.submit(slow_stream, i) for i in range(4)]
            futures += [pool.submit(quick, i) for i in range(8)]
            assert [f.result() for f in futures] == [200] * 12
    finally:
        server.stop()
    shown = [r.credits_left for r in ctx.log.recent]
    assert len(shown) == 12 and None not in shown
    assert shown == sorted(shown, reverse=True), shown  # in log order: never up
    assert shown[-1] < 1000


def test_a_top_up_shows_but_an_older_figure_in_flight_does_not():
    from kimrel_cli.hosted.ratelimit import RateInfo

    ctx = build_context(RelayConfig(api_key="sk-x", base_url="http://127.0.0.1:9/api"))
    before = time.monotonic()
    ctx.note_rate(RateInfo(credits_remaining=931), before)
    ctx.note_rate(RateInfo(credits_remaining=932), before)  # sent before 931 arrived: older
    assert ctx.stats.credits_remaining == 931
    ctx.note_rate(RateInfo(credits_remaining=5000), time.monotonic())  # sent afterwards: top-up
    assert ctx.stats.credits_remaining == 5000
