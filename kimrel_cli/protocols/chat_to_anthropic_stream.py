"""Streaming translation: Chat Completions chunks in, Anthropic stream events out (docs/protocols.md 6.7), pure.

A small state machine fed one upstream chunk at a time. Invariants it keeps (docs/protocols.md 2.3):
message_start first; content blocks indexed 0, 1, 2… in emission order, one open at a time,
each stopped once; tool_use starts with `input: {}` and arguments arrive only as
input_json_delta pieces; no empty text blocks; a final message_delta with a stop reason and a
usage object, then exactly one message_stop — or one `error` event and nothing after it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from kimrel_cli.errors import KimrelError, UpstreamUnavailable
from kimrel_cli.protocols.chat_hub import (
    SIGNATURE,
    anthropic_usage,
    fallback_call_id,
    stop_reason_for,
)
from kimrel_cli.protocols.errors import anthropic_error_event, error_from_wire
from kimrel_cli.protocols.ids import encode_tool_id

Event = tuple[str, dict[str, Any]]


def _complete_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


@dataclass
class _Call:
    index: int
    id: str = ""
    name: str = ""
    args: str = ""
    block: int | None = None
    closed: bool = False


@dataclass
class _Open:
    kind: str  # "thinking" | "text" | "tool"
    index: int
    call: int | None = None


@dataclass
class ChatToAnthropicStream:
    """Chat chunks in, Anthropic events out. No I/O, no clock: the relay sends pings."""

    model: str
    message_id: str
    input_tokens: int
    _next_index: int = 0
    _open: _Open | None = None
    _calls: dict[int, _Call] = field(default_factory=dict)
    _pending: list[int] = field(default_factory=list)
    _tool_emitted: bool = False
    _finish_reason: str | None = None
    _usage: dict[str, Any] | None = None
    _output_chars: int = 0
    _started: bool = False
    done: bool = False

    def start(self) -> list[Event]:
        self._started = True
        message: dict[str, Any] = {
            "id": self.message_id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": self.input_tokens, "output_tokens": 1},
        }
        return [("message_start", {"type": "message_start", "message": message}), *self.ping()]

    def ping(self) -> list[Event]:
        return [] if self.done else [("ping", {"type": "ping"})]

    # blocks
    def _close_open(self) -> list[Event]:
        events: list[Event] = []
        if self._open is None:
            return events
        index = self._open.index
        if self._open.kind == "thinking":
            events.append(self._delta(index, {"type": "signature_delta", "signature": SIGNATURE}))
        if self._open.kind == "tool" and self._open.call is not None:
            self._calls[self._open.call].closed = True
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
        self._open = None
        return events

    def _start(
        self, kind: str, block: dict[str, Any], call: int | None = None
    ) -> tuple[list[Event], int]:
        """Close the open block and start a new one: the events, and the new block's index."""
        events = self._close_open()
        index = self._next_index
        self._next_index += 1
        self._open = _Open(kind, index, call)
        events.append(
            (
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": block},
            )
        )
        return events, index

    def _continue(self, kind: str, block: dict[str, Any]) -> tuple[list[Event], int]:
        """The open block if it is of `kind`, else a new one: the events, and its index."""
        if self._open is not None and self._open.kind == kind:
            return [], self._open.index
        return self._start(kind, block)

    @staticmethod
    def _delta(index: int, delta: dict[str, Any]) -> Event:
        return "content_block_delta", {
            "type": "content_block_delta",
            "index": index,
            "delta": delta,
        }

    def _start_call(self, call: _Call) -> list[Event]:
        """Start the tool_use block of `call`, with the arguments gathered so far."""
        self._tool_emitted = True
        upstream_id = call.id or fallback_call_id(call.name, call.index)
        events, call.block = self._start(
            "tool",
            {
                "type": "tool_use",
                "id": encode_tool_id(upstream_id, self.message_id),
                "name": call.name,
                "input": {},
            },
            call.index,
        )
        if call.args:
            events.append(
                self._delta(call.block, {"type": "input_json_delta", "partial_json": call.args})
            )
        return events

    # feeding
    def feed(self, chunk: dict[str, Any]) -> list[Event]:
        if self.done:
            return []
        if isinstance(chunk.get("error"), dict):
            return self.fail(error_from_wire(chunk["error"]))
        events: list[Event] = []
        if chunk.get("usage"):
            self._usage = chunk["usage"]
        for choice in chunk.get("choices") or []:
            if choice.get("usage"):
                self._usage = choice["usage"]
            delta = choice.get("delta") or {}
            reasoning = delta.get("reasoning_content")
            if reasoning:
                started, index = self._continue(
                    "thinking", {"type": "thinking", "thinking": "", "signature": ""}
                )
                events += started
                events.append(self._delta(index, {"type": "thinking_delta", "thinking": reasoning}))
                self._output_chars += len(reasoning)
            content = delta.get("content")
            if content:
                started, index = self._continue("text", {"type": "text", "text": ""})
                events += started
                events.append(self._delta(index, {"type": "text_delta", "text": content}))
                self._output_chars += len(content)
            for fragment in delta.get("tool_calls") or []:
                events += self._tool_fragment(fragment)
            if choice.get("finish_reason"):
                self._finish_reason = choice["finish_reason"]
        return events

    def _tool_fragment(self, fragment: dict[str, Any]) -> list[Event]:
        events: list[Event] = []
        index = int(fragment.get("index", 0))
        function = fragment.get("function") or {}
        piece = function.get("arguments") or ""
        call = self._calls.get(index)
        if call is None:
            call = self._calls[index] = _Call(index)
        if fragment.get("id") and not call.id:
            call.id = str(fragment["id"])
        if function.get("name") and not call.name:
            call.name = str(function["name"])
        self._output_chars += len(piece)
        if call.closed:
            return events  # true interleaving after close: cannot be fixed live
        if call.block is None:
            call.args += piece
            can_start = call.name and (
                self._open is None or self._open.kind != "tool" or self._open_call_complete()
            )
            if can_start and not self._pending_before(index):
                events += self._start_call(call)
            elif index not in self._pending:
                self._pending.append(index)
            return events
        if piece:
            call.args += piece
            events.append(
                self._delta(call.block, {"type": "input_json_delta", "partial_json": piece})
            )
        if self._pending and self._open_call_complete():
            events += self._flush_pending(one=True)
        return events

    def _pending_before(self, index: int) -> bool:
        return any(p != index and self._calls[p].name for p in self._pending if p < index)

    def _open_call_complete(self) -> bool:
        if self._open is None or self._open.kind != "tool" or self._open.call is None:
            return True
        return _complete_json(self._calls[self._open.call].args)

    def _flush_pending(self, *, one: bool) -> list[Event]:
        events: list[Event] = []
        for index in sorted(list(self._pending)):
            call = self._calls[index]
            if not call.name:
                continue
            self._pending.remove(index)
            events += self._start_call(call)
            if one and not _complete_json(call.args):
                break
        return events

    def finish(self) -> list[Event]:
        """Close everything and end the message; with no finish_reason seen, end with an error."""
        if self.done:
            return []
        if self._finish_reason is None:
            return self.fail(UpstreamUnavailable("upstream stream ended early"))
        events = self._close_open()
        for index in sorted(self._pending):
            call = self._calls[index]
            call.name = call.name or "unknown_tool"
            events += self._start_call(call)
            events += self._close_open()
        self._pending.clear()
        usage = anthropic_usage(
            self._usage,
            input_estimate=self.input_tokens,
            output_estimate=max(1, self._output_chars // 3),
        )
        stop = stop_reason_for(self._finish_reason, has_tools=self._tool_emitted)
        events.append(
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": stop, "stop_sequence": None},
                    "usage": usage,
                },
            )
        )
        events.append(("message_stop", {"type": "message_stop"}))
        self.done = True
        return events

    def fail(self, error: KimrelError) -> list[Event]:
        """One `error` event; the stream ends there (no message_stop)."""
        if self.done:
            return []
        self.done = True
        return [anthropic_error_event(error)]
