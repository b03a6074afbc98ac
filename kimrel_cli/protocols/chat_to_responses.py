"""Response translation: a whole Chat Completion → a Responses `response` object (docs/protocols.md R5.4, R5.6), pure.

Also the builders the streaming translator shares: output items, usage, the response envelope,
and call ids. Kimi's tool-call ids restart at `:0` in every answer, so the same id would repeat
across a conversation; clients get `call_kr<8 chars of the response id>_<upstream id>`, and the
prefix is stripped on the way back so the model still sees its own ids.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from kimrel_cli.protocols.responses_to_chat import (
    ResponsesContext,
    client_call_id,
    encode_reasoning,
)


def responses_usage(usage: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not usage:
        return None
    details = usage.get("prompt_tokens_details") or {}
    out_details = usage.get("completion_tokens_details") or {}
    prompt = int(usage.get("prompt_tokens") or 0)
    completion = int(usage.get("completion_tokens") or 0)
    return {
        "input_tokens": prompt,
        "input_tokens_details": {
            "cached_tokens": int(details.get("cached_tokens") or usage.get("cached_tokens") or 0),
            "cache_write_tokens": int(details.get("cache_write_tokens") or 0),
        },
        "output_tokens": completion,
        "output_tokens_details": {
            "reasoning_tokens": int(out_details.get("reasoning_tokens") or 0)
        },
        "total_tokens": int(usage.get("total_tokens") or prompt + completion),
    }


def reasoning_item(
    item_id: str, text: str, ctx: ResponsesContext, *, status: str = "completed"
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": item_id,
        "type": "reasoning",
        "summary": [],
        "encrypted_content": encode_reasoning(text),
        "status": status,
    }
    if ctx.summary_mode == "summary":
        item["summary"] = [{"type": "summary_text", "text": text}]
    else:
        item["content"] = [{"type": "reasoning_text", "text": text}]
    return item


def message_item(item_id: str, text: str, *, status: str = "completed") -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "message",
        "role": "assistant",
        "status": status,
        "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}],
    }


def tool_item(
    item_id: str,
    call_id: str,
    name: str,
    arguments: str,
    ctx: ResponsesContext,
    *,
    status: str = "completed",
) -> dict[str, Any]:
    """The output item for one upstream tool call: function_call, namespaced, custom or shell."""
    if name in ctx.namespace_map:
        namespace, inner = ctx.namespace_map[name]
        return {
            "id": item_id,
            "type": "function_call",
            "call_id": call_id,
            "name": inner,
            "namespace": namespace,
            "arguments": arguments,
            "status": status,
        }
    if name in ctx.custom_tools:
        return {
            "id": item_id,
            "type": "custom_tool_call",
            "call_id": call_id,
            "name": name,
            "input": custom_input(arguments),
            "status": status,
        }
    if name == "local_shell":
        try:
            args = json.loads(arguments or "{}")
        except ValueError:
            args = {}
        action = {
            "type": "exec",
            "command": args.get("command") or [],
            "working_directory": args.get("workdir"),
            "timeout_ms": args.get("timeout_ms"),
            "env": {},
        }
        return {
            "id": item_id,
            "type": "local_shell_call",
            "call_id": call_id,
            "status": status,
            "action": action,
        }
    return {
        "id": item_id,
        "type": "function_call",
        "call_id": call_id,
        "name": name,
        "arguments": arguments or "{}",
        "status": status,
    }


def custom_input(arguments: str) -> str:
    """The raw input of a custom tool from the function-style arguments the model produced."""
    try:
        value = json.loads(arguments)
    except ValueError:
        return arguments
    if isinstance(value, dict) and isinstance(value.get("input"), str):
        return value["input"]
    return arguments


def status_for(finish_reason: str | None) -> tuple[str, dict[str, Any] | None]:
    if finish_reason == "length":
        return "incomplete", {"reason": "max_output_tokens"}
    if finish_reason == "content_filter":
        return "incomplete", {"reason": "content_filter"}
    return "completed", None


def response_object(
    ctx: ResponsesContext,
    *,
    response_id: str,
    created_at: int,
    status: str,
    output: list[dict[str, Any]],
    usage: dict[str, Any] | None = None,
    error: dict[str, Any] | None = None,
    incomplete_details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    echo = ctx.request_echo
    return {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "error": error,
        "incomplete_details": incomplete_details,
        "model": echo.get("model") or "",
        "output": output,
        "usage": usage,
        "instructions": echo.get("instructions"),
        "tools": echo.get("tools") or [],
        "tool_choice": echo.get("tool_choice") or "auto",
        "parallel_tool_calls": echo.get("parallel_tool_calls")
        if echo.get("parallel_tool_calls") is not None
        else True,
        "temperature": echo.get("temperature"),
        "top_p": echo.get("top_p"),
        "max_output_tokens": echo.get("max_output_tokens"),
        "previous_response_id": echo.get("previous_response_id"),
        "reasoning": echo.get("reasoning"),
        "text": echo.get("text") or {"format": {"type": "text"}},
        "truncation": echo.get("truncation") or "disabled",
        "store": bool(echo.get("store")),
        "metadata": echo.get("metadata") or {},
    }


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
        upstream = str(call.get("id") or f"functions.{name}:{n}")
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
