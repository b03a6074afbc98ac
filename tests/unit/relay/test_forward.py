"""Streaming plumbing: pings on upstream silence, cleanup when the client goes away."""

from __future__ import annotations

import asyncio

from kimrel_cli.protocols.sse import SSEEvent
from kimrel_cli.relay.pipeline import RelayStream, with_pings


async def slow_events(delays):
    for i, delay in enumerate(delays):
        await asyncio.sleep(delay)
        yield SSEEvent(None, str(i))


def test_silence_longer_than_the_interval_yields_pings_and_loses_no_event():
    async def go():
        return [e async for e in with_pings(slow_events([0.0, 0.25, 0.0]), 0.1)]

    got = asyncio.run(go())
    assert [e.data for e in got if e is not None] == ["0", "1", "2"]
    assert got.count(None) >= 2
    assert got[0] is not None


def test_a_fast_stream_gets_no_pings():
    async def go():
        return [e async for e in with_pings(slow_events([0.0] * 5), 5.0)]

    assert None not in asyncio.run(go())


def test_client_disconnect_stops_the_body_and_runs_on_close():
    closed = []
    finalized = []

    async def body():
        try:
            for i in range(100):
                yield f"data: {i}\n\n".encode()
                await asyncio.sleep(0.05)
        finally:
            finalized.append(True)

    async def on_close():
        closed.append(True)

    sent = []

    async def send(message):
        sent.append(message)

    async def receive():
        await asyncio.sleep(0.2)
        return {"type": "http.disconnect"}

    async def go():
        await asyncio.wait_for(RelayStream(body(), on_close=on_close)({}, receive, send), 2)

    asyncio.run(go())
    assert closed == [True]
    assert finalized == [True]
    bodies = [m for m in sent if m["type"] == "http.response.body"]
    assert 1 < len(bodies) < 20
    assert sent[0]["status"] == 200
    headers = dict(sent[0]["headers"])
    assert headers[b"cache-control"] == b"no-cache"
    assert headers[b"x-accel-buffering"] == b"no"


def test_finished_stream_runs_on_close_once():
    closed = []

    async def body():
        yield b"data: 1\n\n"

    async def on_close():
        closed.append(True)

    async def send(message):
        pass

    async def receive():
        await asyncio.sleep(10)
        return {"type": "http.disconnect"}

    asyncio.run(RelayStream(body(), on_close=on_close)({}, receive, send))
    assert closed == [True]
