"""The Responses store keeps `capacity` responses and says so when one has gone."""

from __future__ import annotations

import pytest

from kimrel_cli.errors import BadRequest
from kimrel_cli.relay.responses_store import ResponsesStore


def test_a_forgotten_response_names_the_stores_real_capacity():
    store = ResponsesStore(capacity=3)
    for n in range(4):
        store.put(f"resp_{n}", [{"type": "message", "n": n}])
    assert len(store) == 3
    assert store.history("resp_3") == [{"type": "message", "n": 3}]
    with pytest.raises(BadRequest) as info:
        store.history("resp_0")
    assert "the last 3 responses" in info.value.message


def _big_conversation(n: int, size: int) -> list[dict]:
    text = f"{n:04d}" + "x" * size  # a fresh string per response, as a parsed request body makes
    return [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}]


def test_twenty_large_responses_stay_under_the_byte_bound():
    import gc
    import tracemalloc

    mb = 1024 * 1024
    store = ResponsesStore(max_bytes=8 * mb)
    gc.collect()
    tracemalloc.start()
    try:
        for n in range(20):
            store.put(f"resp_{n}", _big_conversation(n, 2 * mb))  # 40 MB offered in all
        gc.collect()
        kept, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert store.total_bytes <= 8 * mb
    assert kept < 10 * mb
    assert len(store) == 3  # the newest three 2 MB responses
    assert store.history("resp_19")[0]["content"][0]["text"].startswith("0019")
    with pytest.raises(BadRequest) as info:
        store.history("resp_0")
    assert "at most 8 MB" in info.value.message


def test_items_shared_by_follow_ups_are_counted_once():
    store = ResponsesStore(capacity=3, max_bytes=10 * 1024 * 1024)
    first = _big_conversation(0, 1024 * 1024)
    store.put("resp_a", first)
    once = store.total_bytes
    follow_up = [*store.history("resp_a"), {"type": "message", "role": "user", "content": "more"}]
    store.put("resp_b", follow_up)
    assert once < store.total_bytes < once + 200  # the 1 MB item is held twice, counted once
    store.put("resp_c", store.history("resp_b"))
    assert once < store.total_bytes < once + 200
    for n in range(3):  # the count bound evicts a, b and c: the big item is no longer counted
        store.put(f"resp_small_{n}", [{"type": "message", "content": "x"}])
    assert len(store) == 3 and store.total_bytes < 200


def test_a_response_over_the_whole_bound_is_not_kept():
    store = ResponsesStore(max_bytes=1024)
    store.put("resp_small", [{"type": "message", "content": "hi"}])
    store.put("resp_huge", [{"type": "message", "content": "x" * 5000}])
    assert len(store) == 0 and store.total_bytes == 0
