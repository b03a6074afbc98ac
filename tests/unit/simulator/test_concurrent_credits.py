"""Concurrent streams against a small balance never take it below zero (issue 14): a stream
holds its price when it starts, is charged when it completes, costs nothing when dropped."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from tests.conftest import SimulatorFactory

KEY = "sk-sim-small"
BODY = {"model": "kimi-k2", "stream": True, "messages": [{"role": "user", "content": "hi"}]}


def _stream(base: str, fault: str | None = None) -> str:
    headers = {"authorization": f"Bearer {KEY}"}
    if fault:
        headers["x-kimrel-fault"] = fault
    with (
        httpx.Client(timeout=30, trust_env=False) as client,
        client.stream(
            "POST",
            base + "/v1/chat/completions",
            json=BODY,
            headers=headers,
        ) as r,
    ):
        if r.status_code != 200:
            return f"status {r.status_code}"
        try:
            text = "".join(r.iter_text())
        except httpx.RemoteProtocolError:
            return "broken"
    return "completed" if "[DONE]" in text else "broken"


def _credits(base: str) -> dict[str, Any]:
    r = httpx.get(
        base + "/user/credits", headers={"authorization": f"Bearer {KEY}"}, trust_env=False
    )
    return r.json()


def test_parallel_streams_never_overdraw_a_small_balance(make_simulator: SimulatorFactory) -> None:
    base = make_simulator(keys={KEY: 5}, chunk_delay=0.05)
    with ThreadPoolExecutor(16) as pool:
        outcomes = list(pool.map(lambda _: _stream(base), range(16)))
    completed = outcomes.count("completed")
    credits = _credits(base)
    assert credits["credits_remaining"] >= 0, (credits, outcomes)
    assert credits["credits_used"] == completed * 1, (credits, outcomes)
    assert credits["credits_remaining"] + credits["credits_used"] == 5
    assert 1 <= completed <= 5
    assert set(outcomes) <= {"completed", "status 403"}


def test_a_dropped_stream_releases_its_hold(make_simulator: SimulatorFactory) -> None:
    base = make_simulator(keys={KEY: 1})
    assert _stream(base, fault="drop_after=2") == "broken"  # not charged, hold released
    assert _credits(base)["credits_remaining"] == 1
    assert _stream(base) == "completed"  # the released credit pays for this one
    assert _credits(base)["credits_remaining"] == 0
