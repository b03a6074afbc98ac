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
