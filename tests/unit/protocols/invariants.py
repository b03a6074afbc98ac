"""Stream checkers, one per protocol: what clients rely on (docs/protocols.md 2.3 and R4)."""

from __future__ import annotations

import json
from typing import Any


def check_anthropic_stream(events: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """Assert the Anthropic invariants; return the assembled message (content, stop_reason, usage)."""
    names = [name for name, _ in events if name != "ping"]
    assert names and names[0] == "message_start", "message_start must come first"
    assert names.count("message_start") == 1
    for name, data in events:
        assert data["type"] == name, "event name must equal data.type"
    if names[-1] == "error":
        assert names.count("error") == 1 and "message_stop" not in names
        return {"error": events[-1][1]["error"]}
    assert names[-1] == "message_stop" and names.count("message_stop") == 1
    assert names[-2] == "message_delta"
    blocks: list[dict[str, Any]] = []
    buffers: list[str] = []
    open_index: int | None = None
    stopped: set[int] = set()
    final: dict[str, Any] = {}
    for name, data in events:
        if name == "content_block_start":
            assert open_index is None, "only one block open at a time"
            assert data["index"] == len(blocks), "indexes 0, 1, 2… in order"
            block = dict(data["content_block"])
            if block["type"] == "tool_use":
                assert block["input"] == {}, "tool_use starts with input {}"
            blocks.append(block)
            buffers.append("")
            open_index = data["index"]
        elif name == "content_block_delta":
            assert data["index"] == open_index, "delta for the open block only"
            delta = data["delta"]
            block = blocks[open_index]
            if delta["type"] == "text_delta":
                assert block["type"] == "text"
                block["text"] += delta["text"]
            elif delta["type"] == "thinking_delta":
                block["thinking"] += delta["thinking"]
            elif delta["type"] == "signature_delta":
                block["signature"] += delta["signature"]
            elif delta["type"] == "input_json_delta":
                assert block["type"] == "tool_use"
                buffers[open_index] += delta["partial_json"]
        elif name == "content_block_stop":
            assert data["index"] == open_index and data["index"] not in stopped
            stopped.add(data["index"])
            open_index = None
        elif name == "message_delta":
            assert open_index is None, "blocks closed before message_delta"
            assert data["delta"]["stop_reason"] is not None
            assert isinstance(data["usage"], dict) and "output_tokens" in data["usage"]
            final = data
    for block, buffer in zip(blocks, buffers, strict=False):
        if block["type"] == "tool_use":
            block["input"] = json.loads(buffer) if buffer else {}
        if block["type"] == "text":
            assert block["text"], "no empty text blocks"
        if block["type"] == "thinking":
            assert block["signature"], "thinking blocks carry a signature"
    return {
        "content": blocks,
        "stop_reason": final["delta"]["stop_reason"],
        "usage": final["usage"],
    }


TERMINAL = ("response.completed", "response.incomplete", "response.failed")


def check_responses_stream(events: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """Assert the Responses stream invariants (docs/protocols.md R4); return the terminal event's response."""
    assert events and events[0][0] == "response.created"
    for n, (name, data) in enumerate(events):
        assert data["type"] == name and data["sequence_number"] == n, "sequence numbers 0, 1, 2…"
        assert "error" not in data, "no top-level error key (the SDK raises on it)"
    names = [name for name, _ in events]
    assert sum(names.count(t) for t in TERMINAL) == 1 and names[-1] in TERMINAL
    added: dict[int, dict[str, Any]] = {}
    done: set[int] = set()
    parts: set[int] = set()
    for name, data in events:
        index = data.get("output_index")
        if name == "response.output_item.added":
            assert index == len(added), "output_index in add order"
            added[index] = data["item"]
        elif name == "response.content_part.added":
            assert index in added and index not in done
            parts.add(index)
        elif name == "response.output_item.done":
            assert index in added and index not in done, "done once, after added"
            assert data["item"]["id"] == added[index]["id"]
            done.add(index)
        elif index is not None and name not in TERMINAL:
            assert index in added and index not in done, f"{name} outside its item's lifetime"
            if name == "response.output_text.delta":
                assert index in parts, "content_part.added before text deltas"
    final = events[-1][1]["response"]
    if names[-1] != "response.failed":
        assert done == set(added), "every item closed"
        assert [item["id"] for item in final["output"]] == [added[i]["id"] for i in sorted(added)]
    return final
