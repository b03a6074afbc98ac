"""The chat hub: what the translators share, so that each imports only this module (docs/protocols.md 6, R5), pure.

Every translator goes through Chat Completions: Anthropic Messages ↔ chat and Responses ↔ chat.
The pieces both directions of a pair need live here, never in one translator for the other to
import (tests/architecture_rules.py enforces it):
- request side: the output-token cap, the reasoning placeholder, the no-vision placeholder;
- chat → Anthropic: the thinking signature, tool-argument parsing, usage, stop reasons;
- chat ↔ Responses: the context the way back needs, call ids, the reasoning blob, the output
  items and the response envelope.

Kimi's tool-call ids look like `functions.Bash:0` and restart at `:0` in every answer, so the
same id would repeat across a conversation; Responses clients get
`call_kr<8 chars of the response id>_<upstream id>`, and the prefix is stripped on the way back
so the model still sees its own ids (Anthropic ids are minted in ids.py).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kimrel_cli.catalogue import ModelInfo

NO_REASONING = "(no reasoning recorded)"
NO_VISION = "[image omitted: model has no vision]"


# ---- request side -------------------------------------------------------------------------------


def cap_tokens(requested: Any, cap: int | None) -> int | None:
    """The output limit to send: the request's, capped at the model's; the cap when absent."""
    if isinstance(requested, int) and not isinstance(requested, bool) and requested > 0:
        return min(requested, cap) if cap else requested
    return cap


def output_cap(cap: int | None, info: ModelInfo | None) -> int | None:
    """The output cap a target stands for: the one the relay set, else the catalogue's for the
    model (with settings' limits applied by whoever built `info`); None for an unknown model."""
    if cap is not None:
        return cap
    return info.max_output_tokens if info is not None else None


def fallback_call_id(name: str, index: int) -> str:
    """The upstream id of a tool call that came without one: Kimi's own form."""
    return f"functions.{name}:{index}"


# ---- chat → Anthropic ---------------------------------------------------------------------------

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


# ---- chat ↔ Responses ---------------------------------------------------------------------------

REASONING_PREFIX = "kimrel:v1:"

_CALL_PREFIX = re.compile(r"^call_kr[A-Za-z0-9]{8}_(.+)$", re.S)


@dataclass(frozen=True)
class ResponsesContext:
    namespace_map: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    custom_tools: frozenset[str] = frozenset()
    summary_mode: str = "summary"  # or "raw"
    request_echo: Mapping[str, Any] = field(default_factory=dict)


def client_call_id(response_id: str, upstream_id: str) -> str:
    """The call id clients see: unique per response, since Kimi's ids restart at `:0`."""
    suffix = re.sub(r"[^A-Za-z0-9]", "", response_id)[-8:].rjust(8, "0")
    return f"call_kr{suffix}_{upstream_id}"


def upstream_call_id(call_id: str) -> str:
    """The model's own id back from a client call id (other ids pass through)."""
    match = _CALL_PREFIX.match(call_id)
    return match.group(1) if match else call_id


def encode_reasoning(text: str) -> str:
    payload = json.dumps({"t": text}, ensure_ascii=False).encode("utf-8")
    return REASONING_PREFIX + base64.urlsafe_b64encode(payload).decode("ascii").rstrip("=")


def decode_reasoning(blob: Any) -> str | None:
    if not isinstance(blob, str) or not blob.startswith(REASONING_PREFIX):
        return None
    raw = blob[len(REASONING_PREFIX) :]
    try:
        data = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (ValueError, TypeError):
        return None
    text = data.get("t") if isinstance(data, dict) else None
    return text if isinstance(text, str) else None


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
    raw = value.get("input") if isinstance(value, dict) else None
    return raw if isinstance(raw, str) else arguments


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
