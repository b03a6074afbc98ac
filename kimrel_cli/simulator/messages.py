"""The Messages route's pure parts: request → Plan, Plan → message body or Anthropic events.

Events follow Anthropic's sequence exactly: message_start, ping, per block content_block_start /
deltas / content_block_stop (thinking blocks end with a signature_delta; tool_use input arrives as
input_json_delta fragments), message_delta with stop_reason and usage.output_tokens, message_stop.
"""

from __future__ import annotations

import json
from typing import Any

from kimrel_cli.catalogue import ModelInfo
from kimrel_cli.simulator.chat import fragments
from kimrel_cli.simulator.generation import Plan, plan_answer, split_text
from kimrel_cli.simulator.validation import (
    check_base64_image,
    check_common,
    check_context,
    check_image_url,
    estimate_input,
    invalid,
    model_for,
    text_of,
    thinking_on,
)

SIGNATURE = "sim-signature"


def _check_blocks(content: Any, info: ModelInfo) -> None:
    for block in content if isinstance(content, list) else []:
        if not isinstance(block, dict):
            continue
        if block.get("type") in ("video", "video_url"):
            raise invalid("video inputs are not supported")
        if block.get("type") != "image":
            continue
        source = block.get("source") or {}
        if not info.images:
            raise invalid(f"model {info.id} does not accept images")
        if source.get("type") == "base64":
            if str(source.get("media_type", "")).startswith("video/"):
                raise invalid("video inputs are not supported")
            check_base64_image(str(source.get("data", "")))
        elif source.get("type") == "url":
            check_image_url(str(source.get("url", "")), info, remote_ok=info.id == "kimi-k2.6")
        else:
            raise invalid("image source must be base64 or url")


def _user_text(content: Any) -> str:
    if isinstance(content, list):
        return text_of([b for b in content if isinstance(b, dict) and b.get("type") == "text"])
    return text_of(content)


def plan_messages(body: dict[str, Any]) -> tuple[ModelInfo, Plan]:
    """Validate a messages request and decide the answer; raises SimError with the documented code."""
    info = model_for(body)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise invalid("messages: required, a non-empty list")
    if body.get("max_tokens") is None:
        raise invalid("max_tokens: required")
    check_common(
        body, info, temperature_max=1.0, stops_key="stop_sequences", max_tokens=body["max_tokens"]
    )
    thinking = thinking_on(info, body.get("thinking"))
    texts = [text_of(body.get("system") or "")]
    last_user = ""
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            raise invalid(f"messages.{index}.role: must be user or assistant")
        content = message.get("content")
        _check_blocks(content, info)
        texts.append(text_of(content) if isinstance(content, str) else json.dumps(content))
        if message["role"] == "user" and _user_text(content):
            last_user = _user_text(content)
    tools_in = [t for t in body.get("tools") or [] if isinstance(t, dict)]
    tools = [(str(t.get("name", "")), t.get("input_schema")) for t in tools_in]
    prompt_tokens = estimate_input([*texts, json.dumps(tools_in) if tools_in else ""])
    check_context(prompt_tokens, info)
    choice = body.get("tool_choice") if isinstance(body.get("tool_choice"), dict) else {}
    forced = {"any": "*", "tool": choice.get("name")}.get(str(choice.get("type")))
    if choice.get("type") == "none":
        tools = []
    last = messages[-1]
    content = last.get("content")
    results = (
        [b for b in content if isinstance(b, dict) and b.get("type") == "tool_result"]
        if isinstance(content, list)
        else []
    )
    tool_result = None
    if results and last.get("role") == "user":
        tool_result = " ".join(text_of(r.get("content")) for r in results)
    plan = plan_answer(
        last_user_text=last_user,
        tool_result=tool_result,
        tools=tools,
        forced=forced,
        thinking=thinking,
        max_tokens=body["max_tokens"],
        stops=[str(s) for s in body.get("stop_sequences") or []],
        prompt_tokens=prompt_tokens,
    )
    return info, plan


def anthropic_message(
    info: ModelInfo, plan: Plan, message_id: str, tool_ids: list[str]
) -> dict[str, Any]:
    """The non-streaming message body; `tool_ids` gives one id per planned tool call."""
    content: list[dict[str, Any]] = []
    if plan.reasoning:
        content.append({"type": "thinking", "thinking": plan.reasoning, "signature": SIGNATURE})
    if plan.text:
        content.append({"type": "text", "text": plan.text})
    for (name, args), tool_id in zip(plan.calls, tool_ids, strict=True):
        content.append({"type": "tool_use", "id": tool_id, "name": name, "input": args})
    if plan.finish == "tool_calls":
        stop_reason = "tool_use"
    elif plan.finish == "length":
        stop_reason = "max_tokens"
    else:
        stop_reason = "stop_sequence" if plan.stop_sequence else "end_turn"
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": info.id,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": plan.stop_sequence,
        "usage": {"input_tokens": plan.prompt_tokens, "output_tokens": plan.completion_tokens},
    }


def _block_events(index: int, block: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    def delta(d: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        return "content_block_delta", {"type": "content_block_delta", "index": index, "delta": d}

    kind = block["type"]
    if kind == "thinking":
        start: dict[str, Any] = {"type": "thinking", "thinking": "", "signature": ""}
        deltas = [
            delta({"type": "thinking_delta", "thinking": p})
            for p in split_text(block["thinking"], 12)
        ]
        deltas.append(delta({"type": "signature_delta", "signature": block["signature"]}))
    elif kind == "text":
        start = {"type": "text", "text": ""}
        deltas = [delta({"type": "text_delta", "text": p}) for p in split_text(block["text"])]
    else:
        start = {**block, "input": {}}
        deltas = [
            delta({"type": "input_json_delta", "partial_json": p})
            for p in fragments(json.dumps(block["input"]))
        ]
    head = (
        "content_block_start",
        {"type": "content_block_start", "index": index, "content_block": start},
    )
    stop = ("content_block_stop", {"type": "content_block_stop", "index": index})
    return [head, *deltas, stop]


def anthropic_events(message: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The streamed form of `message` as (event name, data) pairs."""
    start = {
        **message,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": message["usage"]["input_tokens"], "output_tokens": 1},
    }
    events: list[tuple[str, dict[str, Any]]] = [
        ("message_start", {"type": "message_start", "message": start}),
        ("ping", {"type": "ping"}),
    ]
    for index, block in enumerate(message["content"]):
        events += _block_events(index, block)
    final = {
        "type": "message_delta",
        "delta": {"stop_reason": message["stop_reason"], "stop_sequence": message["stop_sequence"]},
        "usage": {"output_tokens": message["usage"]["output_tokens"]},
    }
    events.append(("message_delta", final))
    events.append(("message_stop", {"type": "message_stop"}))
    return events
