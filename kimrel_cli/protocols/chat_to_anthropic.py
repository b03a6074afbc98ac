"""Response translation: a whole Chat Completion → an Anthropic message (docs/protocols.md 6.4), pure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kimrel_cli.protocols.chat_hub import (
    SIGNATURE,
    anthropic_usage,
    fallback_call_id,
    parse_arguments,
    stop_reason_for,
)
from kimrel_cli.protocols.ids import encode_tool_id


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
        upstream_id = call.get("id") or fallback_call_id(name, n)
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
