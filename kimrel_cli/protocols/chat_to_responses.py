"""Response translation: a whole Chat Completion → a Responses `response` object (docs/protocols.md R5.4, R5.6), pure.

The output items, usage, the response envelope and call ids it shares with the streaming
translator are built in chat_hub.py.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from kimrel_cli.protocols.chat_hub import (
    ResponsesContext,
    client_call_id,
    fallback_call_id,
    message_item,
    reasoning_item,
    response_object,
    responses_usage,
    status_for,
    tool_item,
)


def chat_to_responses(
    resp: Mapping[str, Any],
    ctx: ResponsesContext,
    *,
    response_id: str,
    created_at: int,
    item_ids: Callable[[str], str],
) -> dict[str, Any]:
    """The Responses object for a non-streaming chat completion: reasoning, message, tool calls."""
    choice = (resp.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    output: list[dict[str, Any]] = []
    if message.get("reasoning_content"):
        output.append(reasoning_item(item_ids("rs"), str(message["reasoning_content"]), ctx))
    text = message.get("content") or message.get("refusal")
    if text:
        output.append(message_item(item_ids("msg"), str(text)))
    calls = message.get("tool_calls") or []
    for n, call in enumerate(calls):
        function = call.get("function") or {}
        name = str(function.get("name", ""))
        upstream = str(call.get("id") or fallback_call_id(name, n))
        item = tool_item(
            item_ids("fc"),
            client_call_id(response_id, upstream),
            name,
            str(function.get("arguments") or ""),
            ctx,
        )
        output.append(item)
    status, incomplete = status_for(None if calls else choice.get("finish_reason"))
    return response_object(
        ctx,
        response_id=response_id,
        created_at=created_at,
        status=status,
        output=output,
        usage=responses_usage(resp.get("usage") or choice.get("usage")),
        incomplete_details=incomplete,
    )
