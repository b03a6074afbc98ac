"""The bounded in-memory store behind `previous_response_id` (the most recent `capacity`).

Each entry holds the conversation as Responses items (the request's input items followed by the
answer's output items), so a follow-up request is translated as if the client had sent the whole
history itself, which is what Codex does anyway. Instructions are not carried over (as on OpenAI).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from kimrel_cli.errors import BadRequest

DEFAULT_CAPACITY = 200


class ResponsesStore:
    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = capacity
        self._items: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, response_id: str, items: list[dict[str, Any]]) -> None:
        with self._lock:
            self._items[response_id] = items
            self._items.move_to_end(response_id)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)

    def history(self, response_id: str) -> list[dict[str, Any]]:
        with self._lock:
            items = self._items.get(response_id)
            if items is not None:
                self._items.move_to_end(response_id)
        if items is None:
            raise BadRequest(
                f"previous response {response_id!r} is not known to this relay "
                f"(it keeps the last {self.capacity} responses in memory, until it restarts)",
                wire_code="previous_response_not_found",
                hint="Send the whole conversation as input instead.",
            )
        return list(items)

    def __len__(self) -> int:
        return len(self._items)


def input_items(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The request's input as a list of items (a string becomes one user message)."""
    value = body.get("input")
    if isinstance(value, str):
        return [
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": value}]}
        ]
    return [dict(item) for item in value or [] if isinstance(item, dict)]
