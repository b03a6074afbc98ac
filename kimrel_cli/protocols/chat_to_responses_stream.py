"""Streaming translation: Chat Completions chunks in, Responses events out (docs/protocols.md R4, R5.5), pure.

A state machine fed one chunk at a time. It keeps what Codex and the openai SDK's stream
helper need: response.created first; each item `output_item.added` before its deltas (message
items also `content_part.added`) and `output_item.done` after; output_index in add order;
sequence_number 0, 1, 2…; exactly one terminal event (completed, incomplete or failed) whose
response holds every item in full. Keep-alives are repeated `response.in_progress` events,
because Codex does not count SSE comments as activity.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kimrel_cli.errors import (
    KimrelError,
    UpstreamUnavailable,
)
from kimrel_cli.protocols.chat_hub import (
    ResponsesContext,
    client_call_id,
    custom_input,
    fallback_call_id,
    message_item,
    reasoning_item,
    response_object,
    responses_usage,
    status_for,
    tool_item,
)
from kimrel_cli.protocols.errors import error_from_wire, responses_failure

Event = tuple[str, dict[str, Any]]


@dataclass
class _Text:
    kind: str  # "reasoning" | "message"
    item_id: str
    output_index: int
    text: str = ""


@dataclass
class _Slot:
    upstream_index: int
    upstream_id: str = ""
    name: str = ""
    args: str = ""
    item_id: str = ""
    output_index: int | None = None


@dataclass
class ChatToResponsesStream:
    """Chat chunks in, Responses events out. No I/O, no clock."""

    ctx: ResponsesContext
    response_id: str
    created_at: int
    item_ids: Callable[[str], str]
    _seq: int = 0
    _next_output: int = 0
    _open: _Text | None = None
    _slots: dict[int, _Slot] = field(default_factory=dict)
    _output: dict[int, dict[str, Any]] = field(default_factory=dict)
    _usage: dict[str, Any] | None = None
    _finish_reason: str | None = None
    final_response: dict[str, Any] | None = None
    done: bool = False

    def _event(self, kind: str, **fields: Any) -> Event:
        data = {"type": kind, "sequence_number": self._seq, **fields}
        self._seq += 1
        return kind, data

    def _snapshot(self, status: str, **extra: Any) -> dict[str, Any]:
        output = [self._output[i] for i in sorted(self._output)]
        return response_object(
            self.ctx,
            response_id=self.response_id,
            created_at=self.created_at,
            status=status,
            output=output,
            **extra,
        )

    def start(self) -> list[Event]:
        return [
            self._event("response.created", response=self._snapshot("in_progress")),
            self._event("response.in_progress", response=self._snapshot("in_progress")),
        ]

    def keepalive(self) -> list[Event]:
        return (
            []
            if self.done
            else [self._event("response.in_progress", response=self._snapshot("in_progress"))]
        )

    # text-like items
    def _open_text(self, kind: str) -> list[Event]:
        events = self._close_text()
        index = self._next_output
        self._next_output += 1
        prefix = "rs" if kind == "reasoning" else "msg"
        self._open = _Text(kind, self.item_ids(prefix), index)
        item_id = self._open.item_id
        if kind == "reasoning":
            item = {"id": item_id, "type": "reasoning", "summary": [], "status": "in_progress"}
            events.append(self._event("response.output_item.added", output_index=index, item=item))
            if self.ctx.summary_mode == "summary":
                part: dict[str, Any] = {"type": "summary_text", "text": ""}
                events.append(
                    self._event(
                        "response.reasoning_summary_part.added",
                        item_id=item_id,
                        output_index=index,
                        summary_index=0,
                        part=part,
                    )
                )
            else:
                part = {"type": "reasoning_text", "text": ""}
                events.append(
                    self._event(
                        "response.content_part.added",
                        item_id=item_id,
                        output_index=index,
                        content_index=0,
                        part=part,
                    )
                )
        else:
            item = {
                "id": item_id,
                "type": "message",
                "role": "assistant",
                "status": "in_progress",
                "content": [],
            }
            events.append(self._event("response.output_item.added", output_index=index, item=item))
            part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
            events.append(
                self._event(
                    "response.content_part.added",
                    item_id=item_id,
                    output_index=index,
                    content_index=0,
                    part=part,
                )
            )
        return events

    def _close_text(self, status: str = "completed") -> list[Event]:
        opened = self._open
        if opened is None:
            return []
        self._open = None
        ids = {"item_id": opened.item_id, "output_index": opened.output_index}
        events: list[Event] = []
        if opened.kind == "reasoning":
            item = reasoning_item(opened.item_id, opened.text, self.ctx, status=status)
            if self.ctx.summary_mode == "summary":
                part: dict[str, Any] = {"type": "summary_text", "text": opened.text}
                events.append(
                    self._event(
                        "response.reasoning_summary_text.done",
                        **ids,
                        summary_index=0,
                        text=opened.text,
                    )
                )
                events.append(
                    self._event(
                        "response.reasoning_summary_part.done", **ids, summary_index=0, part=part
                    )
                )
            else:
                part = {"type": "reasoning_text", "text": opened.text}
                events.append(
                    self._event(
                        "response.reasoning_text.done", **ids, content_index=0, text=opened.text
                    )
                )
                events.append(
                    self._event("response.content_part.done", **ids, content_index=0, part=part)
                )
        else:
            item = message_item(opened.item_id, opened.text, status=status)
            events.append(
                self._event(
                    "response.output_text.done",
                    **ids,
                    content_index=0,
                    text=opened.text,
                    logprobs=[],
                )
            )
            events.append(
                self._event(
                    "response.content_part.done", **ids, content_index=0, part=item["content"][0]
                )
            )
        self._output[opened.output_index] = item
        events.append(
            self._event("response.output_item.done", output_index=opened.output_index, item=item)
        )
        return events

    # tool calls
    def _add_slot(self, slot: _Slot) -> tuple[list[Event], int]:
        """Add the call's output item: the events, and its output index."""
        index = slot.output_index = self._next_output
        self._next_output += 1
        slot.item_id = self.item_ids("fc")
        slot.upstream_id = slot.upstream_id or fallback_call_id(slot.name, slot.upstream_index)
        call_id = client_call_id(self.response_id, slot.upstream_id)
        item = tool_item(slot.item_id, call_id, slot.name, "", self.ctx, status="in_progress")
        if "arguments" in item:
            item["arguments"] = ""
        events = [self._event("response.output_item.added", output_index=index, item=item)]
        if slot.args and self._streams_arguments(slot):
            events.append(self._args_delta(slot, slot.args))
        return events, index

    def _streams_arguments(self, slot: _Slot) -> bool:
        return slot.name not in self.ctx.custom_tools and slot.name != "local_shell"

    def _args_delta(self, slot: _Slot, piece: str) -> Event:
        return self._event(
            "response.function_call_arguments.delta",
            item_id=slot.item_id,
            output_index=slot.output_index,
            delta=piece,
        )

    def _tool_fragment(self, fragment: dict[str, Any]) -> list[Event]:
        index = int(fragment.get("index", 0))
        slot = self._slots.setdefault(index, _Slot(index))
        function = fragment.get("function") or {}
        if fragment.get("id") and not slot.upstream_id:
            slot.upstream_id = str(fragment["id"])
        if function.get("name") and not slot.name:
            slot.name = str(function["name"])
        piece = str(function.get("arguments") or "")
        if slot.output_index is None:
            slot.args += piece
            return self._add_slot(slot)[0] if slot.name else []
        slot.args += piece
        if piece and self._streams_arguments(slot):
            return [self._args_delta(slot, piece)]
        return []

    def _close_slot(self, slot: _Slot, status: str) -> list[Event]:
        events: list[Event] = []
        if slot.output_index is None:
            slot.name = slot.name or "unknown_tool"
            added, index = self._add_slot(slot)
            events += added
        else:
            index = slot.output_index
        call_id = client_call_id(self.response_id, slot.upstream_id)
        item = tool_item(
            slot.item_id, call_id, slot.name, slot.args or "{}", self.ctx, status=status
        )
        ids = {"item_id": slot.item_id, "output_index": index}
        if item["type"] == "custom_tool_call":
            raw = custom_input(slot.args)
            events.append(self._event("response.custom_tool_call_input.delta", **ids, delta=raw))
            events.append(self._event("response.custom_tool_call_input.done", **ids, input=raw))
        elif item["type"] == "function_call":
            events.append(
                self._event(
                    "response.function_call_arguments.done",
                    **ids,
                    arguments=item["arguments"],
                    name=item["name"],
                )
            )
        self._output[index] = item
        events.append(self._event("response.output_item.done", output_index=index, item=item))
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
                if self._open is None or self._open.kind != "reasoning":
                    events += self._open_text("reasoning")
                assert self._open is not None
                self._open.text += reasoning
                ids = {"item_id": self._open.item_id, "output_index": self._open.output_index}
                if self.ctx.summary_mode == "summary":
                    events.append(
                        self._event(
                            "response.reasoning_summary_text.delta",
                            **ids,
                            summary_index=0,
                            delta=reasoning,
                        )
                    )
                else:
                    events.append(
                        self._event(
                            "response.reasoning_text.delta", **ids, content_index=0, delta=reasoning
                        )
                    )
            content = delta.get("content")
            if content:
                if self._open is None or self._open.kind != "message":
                    events += self._open_text("message")
                assert self._open is not None
                self._open.text += content
                events.append(
                    self._event(
                        "response.output_text.delta",
                        item_id=self._open.item_id,
                        output_index=self._open.output_index,
                        content_index=0,
                        delta=content,
                        logprobs=[],
                    )
                )
            fragments = delta.get("tool_calls") or []
            if fragments:
                events += self._close_text()
            for fragment in fragments:
                events += self._tool_fragment(fragment)
            if choice.get("finish_reason"):
                self._finish_reason = choice["finish_reason"]
        return events

    def finish(self) -> list[Event]:
        """Close every item and send the terminal event; no finish_reason seen → response.failed."""
        if self.done:
            return []
        if self._finish_reason is None:
            return self.fail(
                UpstreamUnavailable("upstream stream ended before the answer was complete")
            )
        has_tools = bool(self._slots)
        status, incomplete = status_for(None if has_tools else self._finish_reason)
        item_status = "incomplete" if status == "incomplete" else "completed"
        events = self._close_text(item_status)
        for slot in sorted(
            self._slots.values(),
            key=lambda s: (s.output_index is None, s.output_index, s.upstream_index),
        ):
            events += self._close_slot(slot, item_status)
        response = self._snapshot(
            status, usage=responses_usage(self._usage), incomplete_details=incomplete
        )
        self.final_response = response
        self.done = True
        kind = "response.completed" if status == "completed" else "response.incomplete"
        events.append(self._event(kind, response=response))
        return events

    def fail(self, error: KimrelError) -> list[Event]:
        """response.failed with {code, message}; nothing after it."""
        if self.done:
            return []
        code, message = responses_failure(error)
        response = self._snapshot(
            "failed", error={"code": code, "message": message}, usage=responses_usage(self._usage)
        )
        self.final_response = response
        self.done = True
        return [self._event("response.failed", response=response)]
