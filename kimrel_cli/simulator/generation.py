"""Deterministic, cheap answers derived from the prompt (the same input always gives the same output).

- text: "Simulated reply to: " + the last user message's text (first 200 characters);
- reasoning first on thinking models: "Considering: " + the same text;
- a tool call when tools are offered and the request forces one, or the last user message names
  an offered tool (unless it says not to call any, as Claude Code's compaction prompt does:
  "Do NOT call any tools. - Do NOT use Read, Bash, …"); arguments are valid against the tool's
  JSON schema;
- a tool whose arguments are one string (Codex's `apply_patch`, bridged from a freeform tool)
  gets the `*** Begin Patch … *** End Patch` block quoted in the prompt, when there is one, so
  a prompt can ask for a real edit;
- after a tool result as the last message: "The tool returned: " + the result;
- max_tokens cuts the answer (finish "length"); a stop sequence cuts before it (finish "stop").
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

PROMPT_CHARS = 200
NO_TOOLS = ("do not call any tools", "do not use any tools")


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


PATCH_BEGIN = "*** Begin Patch"
PATCH_END = "*** End Patch"


def quoted_patch(text: str) -> str | None:
    """The first `*** Begin Patch … *** End Patch` block in `text` (markers included)."""
    start = text.find(PATCH_BEGIN)
    end = text.find(PATCH_END, start + 1) if start >= 0 else -1
    return text[start : end + len(PATCH_END)] + "\n" if end >= 0 else None


def with_quoted_patch(args: Any, schema: Any, text: str) -> Any:
    """Put a patch quoted in the prompt into a tool whose one argument is a string."""
    patch = quoted_patch(text)
    props = schema.get("properties") if isinstance(schema, dict) else None
    if patch is None or not isinstance(args, dict) or not isinstance(props, dict):
        return args
    strings = [k for k, v in props.items() if isinstance(v, dict) and v.get("type") == "string"]
    if len(props) == 1 and len(strings) == 1 and strings[0] in args:
        return {**args, strings[0]: patch}
    return args


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
        elif not any(phrase in last_user_text.lower() for phrase in NO_TOOLS):
            chosen = next((name for name in names if name and name in last_user_text), None)
        if chosen is not None:
            schema = dict(tools)[chosen]
            args = value_for(schema or {"type": "object"}, prompt)
            args = with_quoted_patch(args, schema, last_user_text)
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
