"""Rate-limit pacing through a real relay against the simulator, with the official SDKs.

The simulator runs with `rate_window_scale` so its per-minute window lasts 1.5 s (or 6 s for
the bounded-wait tests); its key holds 100 credits: the lowest tier, 20 requests a minute. The
SDKs never retry (max_retries=0) and neither does the relay, so any 429 the simulator gives
would reach the client.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import anthropic
import openai
import pytest

from kimrel_cli.config import Settings
from kimrel_cli.relay.context import RelayConfig
from kimrel_cli.relay.run import start_relay_in_thread
from kimrel_cli.usage.ledger import iter_rows, open_readonly
from tests.support import loopback, sdk
from tests.support.recorder import Recorder
from tests.support.relay_idle import settle

TOKEN = "kr-local-pacing-token"
KEY = "sk-small"
MODEL = "kimi-k2"  # 1 credit a request
LIMIT = 20  # requests a minute for a balance of 1-100
CHAT = "/v1/chat/completions"


class TimedRecorder(Recorder):
    """Recorder that also keeps when each request arrived (time.monotonic())."""

    def __init__(self, app: Any) -> None:
        super().__init__(app)
        self.times: dict[int, float] = {}

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.times[len(self.seen)] = time.monotonic()  # super() appends before its first await
        await super().__call__(scope, receive, send)

    def chats(self) -> list[tuple[float, int | None]]:
        return sorted(
            (self.times[i], e["status"])
            for i, e in enumerate(self.seen)
            if e["path"].endswith(CHAT) and e["method"] == "POST"
        )


@pytest.fixture
def stack(tmp_path):
    from kimrel_cli.servers import bind_socket, start_in_thread
    from kimrel_cli.simulator.app import SimulatorSettings, create_app

    started: list[Any] = []

    def start(*, scale: float, max_wait: int, ping_interval: float = 10.0):
        recorder = TimedRecorder(
            create_app(SimulatorSettings(keys={KEY: 100}, rate_window_scale=scale))
        )
        server = start_in_thread(recorder, bind_socket())
        started.append(server)
        relay = start_relay_in_thread(
            RelayConfig(
                api_key=KEY,
                base_url=server.url + "/api",
                token=TOKEN,
                max_retries=0,
                ping_interval=ping_interval,
                settings=Settings(pace_max_wait=max_wait, default_model=MODEL),
                ledger=tmp_path / "usage.sqlite3",
            )
        )
        started.append(relay)
        return relay, recorder

    yield start
    for item in reversed(started):
        item.stop()


def oai(relay) -> openai.OpenAI:
    return sdk.openai_client(base_url=relay.url + "/v1", api_key=TOKEN, max_retries=0)


def ant(relay) -> anthropic.Anthropic:
    return sdk.anthropic_client(base_url=relay.url, auth_token=TOKEN, max_retries=0)


def burst(n: int, one) -> list[Any]:
    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(one, range(n)))


def assert_paced(recorder: TimedRecorder, n: int) -> None:
    """The simulator saw all n requests, no 429, and those past the limit only after a window."""
    chats = recorder.chats()
    assert [status for _, status in chats] == [200] * n
    first = chats[0][0]
    assert chats[LIMIT][0] - first >= 1.5  # released once the scaled minute had passed
    for t, _ in chats:  # never more than the limit in any 1.5 s window
        assert sum(1 for u, _ in chats if t <= u < t + 1.5) <= LIMIT


def test_an_openai_burst_over_the_limit_is_held_not_refused(stack):
    relay, recorder = stack(scale=0.025, max_wait=10)  # a minute is 1.5 s
    client = oai(relay)
    n = 32

    def one(i: int) -> str:
        answer = client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": f"hello {i}"}], max_tokens=16
        )
        return answer.choices[0].message.content or ""

    answers = burst(n, one)
    assert all(answers)
    assert_paced(recorder, n)
    assert relay.ctx.pacer.held_total >= n - LIMIT
    assert relay.ctx.pacer.refused_total == 0
    assert relay.ctx.stats.errors == 0


def test_an_openai_streaming_burst_is_held_with_the_stream_open(stack):
    relay, recorder = stack(scale=0.025, max_wait=10)
    client = oai(relay)
    n = 28

    def one(i: int) -> str:
        chunks = client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": f"stream {i}"}],
            max_tokens=16,
            stream=True,
        )
        return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)

    assert all(burst(n, one))
    assert_paced(recorder, n)
    # held streams open in their own task: each is still one charged ledger row
    settle(relay.ctx, timeout=5.0)
    conn = open_readonly(relay.ctx.config.ledger)
    assert conn is not None
    try:
        rows = list(iter_rows(conn))
    finally:
        conn.close()
    assert len(rows) == n
    assert all(r.stream and r.status == 200 and r.credits_charged == 1 for r in rows)


def test_an_anthropic_burst_streaming_and_not_is_held_not_refused(stack):
    relay, recorder = stack(scale=0.025, max_wait=10)
    client = ant(relay)
    n = 32

    def one(i: int) -> str:
        messages = [{"role": "user", "content": f"hi {i}"}]
        if i % 2:
            with client.messages.stream(model=MODEL, max_tokens=16, messages=messages) as s:
                return s.get_final_text()
        answer = client.messages.create(model=MODEL, max_tokens=16, messages=messages)
        return answer.content[0].text

    assert all(burst(n, one))
    assert_paced(recorder, n)
    assert relay.ctx.pacer.snapshot()["waiting"] is False


def test_a_responses_streaming_burst_is_held_not_refused(stack):
    """Codex's protocol: streaming Responses through the openai SDK."""
    relay, recorder = stack(scale=0.025, max_wait=10)
    client = oai(relay)
    n = 26

    def one(i: int) -> str:
        events = client.responses.create(
            model=MODEL, input=f"codex {i}", max_output_tokens=16, stream=True
        )
        done = [e for e in events if e.type in ("response.completed", "response.failed")]
        assert [e.type for e in done] == ["response.completed"]
        return done[0].response.output_text

    assert all(burst(n, one))
    assert_paced(recorder, n)


def fill_window(relay) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    body = {"model": MODEL, "messages": [{"role": "user", "content": "fill"}], "max_tokens": 8}
    for _ in range(LIMIT):
        assert loopback.post(relay.url + "/v1" + "/chat/completions", json=body, headers=headers)


def test_a_held_stream_opens_at_once_and_gets_pings_until_released(stack):
    relay, recorder = stack(scale=0.025, max_wait=10, ping_interval=0.2)
    fill_window(relay)
    body = {
        "model": MODEL,
        "max_tokens": 16,
        "stream": True,
        "messages": [{"role": "user", "content": "held"}],
    }
    headers = {"Authorization": f"Bearer {TOKEN}"}
    sent = time.monotonic()
    events: list[tuple[float, str]] = []
    with loopback.stream("POST", relay.url + "/v1/messages", json=body, headers=headers) as r:
        assert r.status_code == 200
        opened = time.monotonic() - sent
        for line in r.iter_lines():
            if line.startswith("event: "):
                events.append((time.monotonic() - sent, line[7:]))
    assert opened < 1.0  # the stream opened while the request was held
    names = [name for _, name in events]
    assert names[0] == "message_start" and names[-1] == "message_stop"
    first_content = names.index("content_block_start")
    assert names[:first_content].count("ping") >= 4  # one every 0.2 s while held (≥ 1 s)
    assert events[first_content][0] >= max(0.8, opened + 0.5)  # held after the stream opened
    assert [s for _, s in recorder.chats()] == [200] * (LIMIT + 1)


def test_past_the_bound_each_protocol_gets_a_429_with_retry_after_at_once(stack):
    relay, recorder = stack(scale=0.1, max_wait=3)  # a minute is 6 s: its reset is past 3 s
    openai_sdk, anthropic_sdk = oai(relay), ant(relay)
    fill_window(relay)
    messages = [{"role": "user", "content": "one more"}]

    started = time.monotonic()
    with pytest.raises(openai.RateLimitError) as oai_error:
        openai_sdk.chat.completions.create(model=MODEL, messages=messages, max_tokens=8)
    assert time.monotonic() - started < 1.5  # not held for the 3 s bound: refused at once
    response = oai_error.value.response
    assert int(response.headers["retry-after"]) >= 2
    assert response.json()["error"]["code"] == "rate_limit_exceeded"
    assert "relay.pace_max_wait" in response.json()["error"]["message"]

    for stream in (False, True):
        started = time.monotonic()
        with pytest.raises(anthropic.RateLimitError) as ant_error:
            anthropic_sdk.messages.create(
                model=MODEL, max_tokens=8, messages=messages, stream=stream
            )
        assert time.monotonic() - started < 1.5
        response = ant_error.value.response
        assert int(response.headers["retry-after"]) >= 2
        assert response.json()["error"]["type"] == "rate_limit_error"

    # Codex's streaming Responses request: its `response.failed` with the code Codex retries
    body = {"model": MODEL, "input": "one more", "stream": True}
    headers = {"Authorization": f"Bearer {TOKEN}"}
    answer = loopback.post(relay.url + "/v1/responses", json=body, headers=headers)
    failed = [
        json.loads(line[6:])
        for line in answer.text.splitlines()
        if line.startswith("data: ") and "response.failed" in line
    ]
    assert failed[0]["response"]["error"]["code"] == "rate_limit_exceeded"
    assert int(answer.headers["retry-after"]) >= 2

    assert [s for _, s in recorder.chats()] == [200] * LIMIT  # none of them went upstream
    assert relay.ctx.pacer.refused_total == 4


def test_a_client_that_leaves_while_held_leaves_the_queue(stack):
    relay, recorder = stack(scale=0.1, max_wait=10)  # a minute is 6 s, within the bound
    fill_window(relay)
    body = {"model": MODEL, "max_tokens": 8, "stream": True, "messages": [{"role": "user"}]}
    body["messages"][0]["content"] = "leaving"
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with loopback.stream("POST", relay.url + "/v1/messages", json=body, headers=headers) as r:
        assert r.status_code == 200
        lines = r.iter_lines()  # kept referenced: a discarded iterator closes the connection
        assert next(lines) == "event: message_start"
        deadline = time.monotonic() + 2  # the stream opens before the request joins the queue
        while relay.ctx.pacer.snapshot()["queued"] != 1:
            assert time.monotonic() < deadline, "the held request never joined the queue"
            time.sleep(0.02)
    deadline = time.monotonic() + 3
    while relay.ctx.pacer.snapshot()["queued"]:
        assert time.monotonic() < deadline, "the request stayed queued after its client left"
        time.sleep(0.02)
    assert relay.ctx.pacer.state.in_flight == 0
    time.sleep(0.2)
    assert len(recorder.chats()) == LIMIT  # it never went upstream
