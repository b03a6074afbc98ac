"""Response translation: a whole Chat Completion → an Anthropic message (docs/protocols.md 6.4), pure."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from kimrel_cli.protocols.ids import encode_tool_id

SIGNATURE = "kimrel:v1"

FINISH_TO_STOP = {
    "stop": "end_turn",
    "length": "max_tokens",
    "content_filter": "refusal",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
}


def parse_arguments(arguments: Any) -> dict[str, Any]:
    """Tool arguments as an object: "" → {}, invalid JSON → a light repair, else {}."""
    if isinstance(arguments, Mapping):
        return dict(arguments)
    text = str(arguments or "").strip()
    if not text:
        return {}
    for candidate in (text, re.sub(r",\s*([}\]])", r"\1", text), text + "}", text + '"}'):
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        return value if isinstance(value, dict) else {"value": value}
    return {}


def anthropic_usage(
    usage: Mapping[str, Any] | None, *, input_estimate: int, output_estimate: int
) -> dict[str, int]:
    """Anthropic usage from chat usage: input excludes cache reads; estimates where absent."""
    if not usage:
        return {
            "input_tokens": input_estimate,
            "output_tokens": max(1, output_estimate),
            "cache_read_input_tokens": 0,
            "cache_creation_input_tokens": 0,
        }
    details = usage.get("prompt_tokens_details") or {}
    cached = int(details.get("cached_tokens") or usage.get("cached_tokens") or 0)
    written = int(details.get("cache_write_tokens") or 0)
    prompt = int(usage.get("prompt_tokens") or 0)
    return {
        "input_tokens": max(0, prompt - cached - written),
        "output_tokens": int(usage.get("completion_tokens") or 0),
        "cache_read_input_tokens": cached,
        "cache_creation_input_tokens": written,
    }


def stop_reason_for(finish_reason: str | None, *, has_tools: bool) -> str:
    if has_tools:
        return "tool_use"
    return FINISH_TO_STOP.get(finish_reason or "stop", "end_turn")


def chat_to_anthropic(
    resp: Mapping[str, Any],
    *,
    requested_model: str,
    message_id: str,
    input_tokens_estimate: int,
    stop_sequences: list[str] | None = None,
) -> dict[str, Any]:
    """The Anthropic message for a non-streaming chat completion."""
    choices = resp.get("choices") or [{}]
    choice = choices[0]
    message = choice.get("message") or {}
    content: list[dict[str, Any]] = []
    reasoning = message.get("reasoning_content")
    if reasoning:
        content.append({"type": "thinking", "thinking": str(reasoning), "signature": SIGNATURE})
    text = message.get("content")
    if isinstance(text, list):
        text = "".join(str(p.get("text", "")) for p in text if isinstance(p, Mapping))
    if text:
        content.append({"type": "text", "text": str(text)})
    refusal = message.get("refusal")
    if refusal:
        content.append({"type": "text", "text": str(refusal)})
    calls = message.get("tool_calls") or []
    for n, call in enumerate(calls):
        function = call.get("function") or {}
        name = str(function.get("name", ""))
        upstream_id = call.get("id") or f"functions.{name}:{n}"
        content.append(
            {
                "type": "tool_use",
                "id": encode_tool_id(str(upstream_id), message_id),
                "name": name,
                "input": parse_arguments(function.get("arguments")),
            }
        )
    finish = choice.get("finish_reason")
    stop_reason = (
        "refusal" if refusal and not calls else stop_reason_for(finish, has_tools=bool(calls))
    )
    stop_sequence = (
        choice.get("stop_reason") if isinstance(choice.get("stop_reason"), str) else None
    )
    if stop_sequence is not None and stop_sequences and stop_sequence in stop_sequences:
        stop_reason = "stop_sequence"
    else:
        stop_sequence = None
    output_estimate = sum(len(str(b.get("text", b.get("thinking", "")))) for b in content) // 3
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": requested_model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": stop_sequence,
        "usage": anthropic_usage(
            resp.get("usage") or choice.get("usage"),
            input_estimate=input_tokens_estimate,
            output_estimate=output_estimate,
        ),
    }
