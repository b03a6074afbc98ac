"""The Chat Completions route's pure parts: request → Plan, Plan → JSON body or stream chunks.

Kimi's own quirks are reproduced: tool call ids `functions.NAME:IDX`, a role-only first chunk,
usage only in the last chunk (a `choices: []` chunk with include_usage, else inside the finish
chunk's choice, Moonshot style), and the reasoning_content 400 when thinking is on.
"""

from __future__ import annotations

import json
import time
from typing import Any

from kimrel_cli.catalogue import ModelInfo
from kimrel_cli.simulator.generation import Plan, plan_answer, split_text
from kimrel_cli.simulator.validation import (
    check_chat_shape,
    check_common,
    check_context,
    check_image_url,
    estimate_input,
    invalid,
    model_for,
    text_of,
    thinking_on,
)

ROLES = ("system", "developer", "user", "assistant", "tool")


def _check_parts(content: Any, info: ModelInfo) -> None:
    if not isinstance(content, list):
        return
    for part in content:
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind == "image_url":
            url = part.get("image_url")
            url = url.get("url") if isinstance(url, dict) else url
            check_image_url(str(url or ""), info, remote_ok=info.id == "kimi-k2.6")
        elif kind in ("video_url", "video", "input_video"):
            raise invalid("video inputs are not supported")


def plan_chat(body: dict[str, Any]) -> tuple[ModelInfo, Plan, int]:
    """Validate a chat request and decide the answer; raises SimError with the documented code."""
    info = model_for(body)
    check_chat_shape(body)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise invalid("messages: required, a non-empty list")
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    check_common(body, info, temperature_max=2.0, stops_key="stop", max_tokens=max_tokens)
    n = body.get("n", 1)
    if n is None:
        n = 1
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 5:
        raise invalid("n must be an integer between 1 and 5")
    thinking = thinking_on(info, body.get("thinking"))
    texts: list[str] = []
    last_user = ""
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise invalid(f"messages[{index}]: role must be system, user, assistant or tool")
        content = message.get("content")
        if (
            message["role"] == "assistant"
            and message.get("tool_calls")
            and thinking
            and "reasoning_content" not in message
        ):
            raise invalid(
                "thinking is enabled but reasoning_content is missing in assistant tool call "
                f"message at index {index}"
            )
        _check_parts(content, info)
        texts.append(text_of(content))
        if message.get("tool_calls"):
            texts.append(json.dumps(message["tool_calls"]))
        if message["role"] == "user":
            last_user = text_of(content)
    tools_in = [t for t in body.get("tools") or [] if isinstance(t, dict)]
    tools = [
        (
            str((t.get("function") or {}).get("name", "")),
            (t.get("function") or {}).get("parameters"),
        )
        for t in tools_in
    ]
    prompt_tokens = estimate_input([*texts, json.dumps(tools_in) if tools_in else ""])
    check_context(prompt_tokens, info)
    choice = body.get("tool_choice")
    forced = None
    if choice == "required":
        forced = "*"
    elif isinstance(choice, dict):
        forced = (choice.get("function") or {}).get("name")
    if choice == "none":
        tools = []
    last = messages[-1]
    tool_result = text_of(last.get("content")) if last.get("role") == "tool" else None
    stops = body.get("stop")
    stops = [stops] if isinstance(stops, str) else [str(s) for s in stops or []]
    plan = plan_answer(
        last_user_text=last_user,
        tool_result=tool_result,
        tools=tools,
        forced=forced,
        thinking=thinking,
        max_tokens=max_tokens,
        stops=stops,
        prompt_tokens=prompt_tokens,
    )
    return info, plan, n


def usage(plan: Plan) -> dict[str, int]:
    return {
        "prompt_tokens": plan.prompt_tokens,
        "completion_tokens": plan.completion_tokens,
        "total_tokens": plan.prompt_tokens + plan.completion_tokens,
    }


def _calls(plan: Plan) -> list[dict[str, Any]]:
    return [
        {
            "id": f"functions.{name}:{i}",
            "type": "function",
            "function": {"name": name, "arguments": json.dumps(args)},
        }
        for i, (name, args) in enumerate(plan.calls)
    ]


def chat_json(info: ModelInfo, plan: Plan, n: int, response_id: str) -> dict[str, Any]:
    """The non-streaming chat.completion body (n identical choices)."""
    choices = []
    for index in range(n):
        message: dict[str, Any] = {"role": "assistant", "content": plan.text}
        if plan.reasoning:
            message["reasoning_content"] = plan.reasoning
        if plan.calls:
            message["tool_calls"] = _calls(plan)
        choices.append({"index": index, "message": message, "finish_reason": plan.finish})
    return {
        "id": response_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": info.id,
        "system_fingerprint": "fp_kimrel_sim",
        "choices": choices,
        "usage": usage(plan),
    }


def fragments(text: str) -> list[str]:
    """A JSON argument string cut into at least two fragments (clients must join them)."""
    if len(text) < 2:
        return [text, ""]
    cut = len(text) // 2
    return [text[:cut], text[cut:]]


def chat_chunks(
    info: ModelInfo, plan: Plan, n: int, include_usage: bool, response_id: str
) -> list[dict[str, Any]]:
    """Every chunk of a streamed answer, in order (without the final `[DONE]`)."""
    base: dict[str, Any] = {
        "id": response_id,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": info.id,
        "system_fingerprint": "fp_kimrel_sim",
    }

    def chunk(index: int, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**base, "choices": [{"index": index, "delta": delta, "finish_reason": finish}]}

    chunks: list[dict[str, Any]] = []
    for index in range(n):
        chunks.append(chunk(index, {"role": "assistant", "content": ""}))
        for piece in split_text(plan.reasoning or "", 12):
            chunks.append(chunk(index, {"reasoning_content": piece}))
        for piece in split_text(plan.text or ""):
            chunks.append(chunk(index, {"content": piece}))
        for i, call in enumerate(_calls(plan)):
            head = {**call, "index": i, "function": {"name": call["function"]["name"]}}
            head["function"]["arguments"] = ""
            chunks.append(chunk(index, {"tool_calls": [head]}))
            for piece in fragments(call["function"]["arguments"]):
                delta = {"tool_calls": [{"index": i, "function": {"arguments": piece}}]}
                chunks.append(chunk(index, delta))
        chunks.append(chunk(index, {}, plan.finish))
    if include_usage:
        chunks.append({**base, "choices": [], "usage": usage(plan)})
    else:
        chunks[-1]["choices"][0]["usage"] = usage(plan)
    return chunks
