"""Server-sent events: an incremental decoder (bytes in, complete events out) and an encoder.

Network reads split anywhere, even inside a multi-byte character, so the decoder buffers bytes
and only hands out events terminated by a blank line. Both `\\n` and `\\r\\n` are accepted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SSEEvent:
    """One decoded event: its `event:` name (None when absent) and its joined `data:` lines."""

    event: str | None
    data: str

    def json(self) -> Any:
        return json.loads(self.data)


class SSEDecoder:
    """Feed raw bytes; get back the events completed by them. Keeps partial input between feeds."""

    def __init__(self) -> None:
        self._buffer = b""
        self._event: str | None = None
        self._data: list[str] = []

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        self._buffer += chunk
        events: list[SSEEvent] = []
        while True:
            index = self._buffer.find(b"\n")
            if index < 0:
                break
            raw_line, self._buffer = self._buffer[:index], self._buffer[index + 1 :]
            if raw_line.endswith(b"\r"):
                raw_line = raw_line[:-1]
            event = self._line(raw_line.decode("utf-8", errors="replace"))
            if event is not None:
                events.append(event)
        return events

    def flush(self) -> list[SSEEvent]:
        """Events left when the stream ends without a final blank line."""
        events: list[SSEEvent] = []
        if self._buffer:
            tail, self._buffer = self._buffer, b""
            event = self._line(tail.rstrip(b"\r").decode("utf-8", errors="replace"))
            if event is not None:
                events.append(event)
        if self._data:
            events.append(SSEEvent(self._event, "\n".join(self._data)))
        self._event, self._data = None, []
        return events

    def _line(self, line: str) -> SSEEvent | None:
        if line == "":
            if not self._data:
                self._event = None
                return None
            event = SSEEvent(self._event, "\n".join(self._data))
            self._event, self._data = None, []
            return event
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        return None


def _dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def encode_event(event: str | None, data: Any) -> bytes:
    """One SSE event: `event: NAME` (when given), one `data:` line of compact JSON, blank line."""
    payload = data if isinstance(data, str) else _dumps(data)
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {payload}\n\n".encode()


def encode_events(events: list[tuple[str, Any]]) -> bytes:
    """Several named events (as the streaming translators return them) as one byte string."""
    return b"".join(encode_event(name, data) for name, data in events)


def encode_data(data: Any) -> bytes:
    """A data-only event, as Chat Completions streams use (`data: {...}` or `data: [DONE]`)."""
    return encode_event(None, data)


DONE = b"data: [DONE]\n\n"
