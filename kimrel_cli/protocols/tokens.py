"""Token estimates for count_tokens and message_start, erring high.

Method: every piece of text the model will read (system prompt, message text, thinking, tool
inputs and results, tool definitions serialised as JSON) is counted at one token per 3 UTF-8
bytes, rounded up, which overcounts English (~4 bytes per token) and roughly matches code and
CJK text; each image counts 1,600 tokens (a large screenshot's cost); each message adds 4 and
each tool definition 8 for framing. Claude Code uses count_tokens to decide when to compact, so
an overestimate is the safe side; the local estimate is never used for billing.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

IMAGE_TOKENS = 1600
MESSAGE_OVERHEAD = 4
TOOL_OVERHEAD = 8


def estimate_text_tokens(text: str) -> int:
    if not text:
        return 0
    return math.ceil(len(text.encode("utf-8")) / 3)


def _json_tokens(value: Any) -> int:
    return estimate_text_tokens(json.dumps(value, ensure_ascii=False, separators=(",", ":")))


def _anthropic_content_tokens(content: Any) -> int:
    if isinstance(content, str):
        return estimate_text_tokens(content)
    if not isinstance(content, list):
        return _json_tokens(content) if content else 0
    total = 0
    for block in content:
        if not isinstance(block, Mapping):
            continue
        kind = block.get("type")
        if kind == "text":
            total += estimate_text_tokens(str(block.get("text", "")))
        elif kind == "image":
            total += IMAGE_TOKENS
        elif kind == "thinking":
            total += estimate_text_tokens(str(block.get("thinking", "")))
        elif kind == "tool_use":
            total += estimate_text_tokens(str(block.get("name", ""))) + _json_tokens(
                block.get("input", {})
            )
        elif kind == "tool_result":
            total += _anthropic_content_tokens(block.get("content", ""))
        elif kind == "document":
            total += _json_tokens(block.get("source", {}))
        else:
            total += _json_tokens(block)
    return total


def estimate_anthropic_request_tokens(body: Mapping[str, Any]) -> int:
    """Input tokens of an Anthropic Messages (or count_tokens) request: system, messages, tools."""
    total = _anthropic_content_tokens(body.get("system") or "")
    for message in body.get("messages") or []:
        if isinstance(message, Mapping):
            total += MESSAGE_OVERHEAD + _anthropic_content_tokens(message.get("content"))
    for tool in body.get("tools") or []:
        total += TOOL_OVERHEAD + _json_tokens(tool)
    return max(1, total)
