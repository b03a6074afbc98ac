"""Save and load conversations: Markdown transcripts and raw JSON messages, pure."""

from __future__ import annotations

import json
import re
from typing import Any

_HEADING = re.compile(r"^## (system|user|assistant)\s*$", re.M)


def message_text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    parts = []
    for part in content or []:
        if part.get("type") == "text":
            parts.append(part.get("text", ""))
        elif part.get("type") == "image_url":
            parts.append("[image]")
    return "\n".join(parts)


def to_markdown(messages: list[dict[str, Any]], *, model: str) -> str:
    lines = [f"# kimrel chat ({model})", ""]
    for message in messages:
        lines += [f"## {message['role']}", ""]
        if message.get("reasoning_content"):
            quoted = "\n".join(
                "> " + line for line in str(message["reasoning_content"]).splitlines()
            )
            lines += [quoted, ""]
        lines += [message_text(message), ""]
    return "\n".join(lines)


def to_json(messages: list[dict[str, Any]], *, model: str) -> str:
    return json.dumps({"model": model, "messages": messages}, indent=2, ensure_ascii=False) + "\n"


def from_json(text: str) -> tuple[str | None, list[dict[str, Any]]]:
    data = json.loads(text)
    if isinstance(data, list):
        return None, data
    if not isinstance(data, dict) or not isinstance(data.get("messages"), list):
        raise ValueError('expected {"messages": [...]} or a list of messages')
    return data.get("model"), data["messages"]


def from_markdown(text: str) -> list[dict[str, Any]]:
    """Messages from a transcript written by to_markdown (reasoning quotes are dropped)."""
    pieces = _HEADING.split(text)
    messages = []
    for role, body in zip(pieces[1::2], pieces[2::2], strict=False):
        kept = [line for line in body.strip("\n").splitlines() if not line.startswith("> ")]
        messages.append({"role": role, "content": "\n".join(kept).strip()})
    return messages
