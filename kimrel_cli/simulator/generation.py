"""Deterministic, cheap answers derived from the prompt (the same input always gives the same output).

- text: "Simulated reply to: " + the last user message's text (first 200 characters);
- reasoning first on thinking models: "Considering: " + the same text;
- a tool call when tools are offered and the request forces one, or the last user message names
  an offered tool; arguments are valid against the tool's JSON schema;
- after a tool result as the last message: "The tool returned: " + the result;
- max_tokens cuts the answer (finish "length"); a stop sequence cuts before it (finish "stop").
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

PROMPT_CHARS = 200


def count_tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4)) if text else 0


def value_for(schema: Any, prompt: str, depth: int = 0) -> Any:
    """A value valid against a (simple) JSON schema."""
    if not isinstance(schema, dict) or depth > 6:
        return "simulated"
    if schema.get("enum"):
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    for key in ("anyOf", "oneOf"):
        if schema.get(key):
            return value_for(schema[key][0], prompt, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind == "object" or (kind is None and "properties" in schema):
        props = schema.get("properties") or {}
        required = schema.get("required") or list(props)
        return {name: value_for(props.get(name, {}), prompt, depth + 1) for name in required}
    if kind == "array":
        minimum = int(schema.get("minItems") or 0)
        return [value_for(schema.get("items", {}), prompt, depth + 1) for _ in range(minimum)]
    if kind == "integer":
        return max(1, int(schema.get("minimum", 1)))
    if kind == "number":
        return max(1, schema.get("minimum", 1))
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return "echo simulated"


@dataclass
class Plan:
    reasoning: str | None
    text: str | None
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    finish: str = "stop"  # stop | length | tool_calls
    stop_sequence: str | None = None
    prompt_tokens: int = 1

    @property
    def completion_tokens(self) -> int:
        total = count_tokens(self.reasoning or "") + count_tokens(self.text or "")
        total += sum(count_tokens(str(args)) + count_tokens(name) for name, args in self.calls)
        return max(1, total)


def plan_answer(
    *,
    last_user_text: str,
    tool_result: str | None,
    tools: list[tuple[str, dict[str, Any]]],
    forced: str | None,
    thinking: bool,
    max_tokens: int | None,
    stops: list[str],
    prompt_tokens: int,
) -> Plan:
    """What the simulated model says. `forced` is a tool name, "*" (any tool), or None."""
    prompt = last_user_text[:PROMPT_CHARS]
    reasoning = ("Considering: " + prompt) if thinking else None
    calls: list[tuple[str, dict[str, Any]]] = []
    if tool_result is not None:
        text: str | None = "The tool returned: " + tool_result[:PROMPT_CHARS]
    else:
        text = "Simulated reply to: " + prompt
        names = [name for name, _ in tools]
        chosen = None
        if forced == "*" and names:
            chosen = names[0]
        elif forced in names:
            chosen = forced
        else:
            chosen = next((name for name in names if name and name in last_user_text), None)
        if chosen is not None:
            schema = dict(tools)[chosen]
            args = value_for(schema or {"type": "object"}, prompt)
            calls.append((chosen, args if isinstance(args, dict) else {"value": args}))
            text = None
    plan = Plan(reasoning=reasoning, text=text, calls=calls, prompt_tokens=prompt_tokens)
    if calls:
        plan.finish = "tool_calls"
        return plan
    if text is not None:
        for stop in stops:
            if stop and stop in text:
                plan.text = text[: text.index(stop)]
                plan.stop_sequence = stop
                break
    if max_tokens is not None and plan.completion_tokens > max_tokens:
        budget = max_tokens * 4
        if plan.reasoning and len(plan.reasoning) >= budget:
            plan.reasoning, plan.text = plan.reasoning[:budget], None
        else:
            used = len(plan.reasoning or "")
            plan.text = (plan.text or "")[: max(0, budget - used)]
        plan.finish = "length"
        plan.stop_sequence = None
    return plan


def split_text(text: str, size: int = 8) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or []
