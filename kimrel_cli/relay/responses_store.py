"""The bounded in-memory store behind `previous_response_id`: the most recent `capacity`
responses, and at most `max_bytes` of them.

Each entry holds the conversation as Responses items (the request's input items followed by the
answer's output items), so a follow-up request is translated as if the client had sent the whole
history itself, which is what Codex does anyway. Instructions are not carried over (as on OpenAI).

A follow-up's entry shares the item objects of the entry it continues (`history` hands them out
and the route appends to them), so the store counts each distinct item once, by its size as
JSON, and keeps a count of the entries that hold it: `total_bytes` is what the store really
keeps alive. Over either bound the oldest entries go; an entry larger than `max_bytes` on its own
is not kept (a follow-up to it is told to send the whole conversation).
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from typing import Any

from kimrel_cli.errors import BadRequest

DEFAULT_CAPACITY = 200
DEFAULT_MAX_BYTES = 64 * 1024 * 1024


def item_size(item: Any) -> int:
    """An item's size as compact JSON (characters; close to the bytes its strings hold)."""
    return len(json.dumps(item, ensure_ascii=False, separators=(",", ":"), default=str))


class ResponsesStore:
    def __init__(
        self, capacity: int = DEFAULT_CAPACITY, max_bytes: int = DEFAULT_MAX_BYTES
    ) -> None:
        self.capacity = capacity
        self.max_bytes = max_bytes
        self.total_bytes = 0
        self._items: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()
        # id(item) → [size, entries holding it]; an id stays valid while an entry holds the item
        self._held: dict[int, list[int]] = {}
        self._lock = threading.Lock()

    def put(self, response_id: str, items: list[dict[str, Any]]) -> None:
        items = list(items)
        new = {id(item): item_size(item) for item in items if id(item) not in self._held}
        with self._lock:
            old = self._items.pop(response_id, None)
            if old is not None:
                self._release(old)
            for item in items:
                held = self._held.get(id(item))
                if held is None:
                    size = new[id(item)] if id(item) in new else item_size(item)
                    self._held[id(item)] = [size, 1]
                    self.total_bytes += size
                else:
                    held[1] += 1
            self._items[response_id] = items
            while self._items and (
                len(self._items) > self.capacity or self.total_bytes > self.max_bytes
            ):
                _, evicted = self._items.popitem(last=False)
                self._release(evicted)

    def _release(self, items: list[dict[str, Any]]) -> None:
        for item in items:
            held = self._held[id(item)]
            held[1] -= 1
            if held[1] == 0:
                del self._held[id(item)]
                self.total_bytes -= held[0]

    def history(self, response_id: str) -> list[dict[str, Any]]:
        with self._lock:
            items = self._items.get(response_id)
            if items is not None:
                self._items.move_to_end(response_id)
        if items is None:
            raise BadRequest(
                f"previous response {response_id!r} is not known to this relay "
                f"(it keeps the last {self.capacity} responses, at most "
                f"{self.max_bytes / (1024 * 1024):g} MB, in memory, until it restarts)",
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
