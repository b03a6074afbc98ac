"""Request translation: Anthropic Messages → Chat Completions (docs/protocols.md 6.1–6.3), pure.

Remote image URLs are not fetched here: the relay prefetches them (`image_urls_to_fetch`) and
passes the data URLs in `ChatTarget.images`. Fields the upstream does not know are dropped and
named in the returned notes, never rejected.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kimrel_cli.catalogue import ModelInfo
from kimrel_cli.errors import BadRequest
from kimrel_cli.protocols.chat_hub import NO_REASONING, NO_VISION, cap_tokens, output_cap
from kimrel_cli.protocols.ids import decode_tool_id
from kimrel_cli.protocols.images import checked_data_url_from_base64

BILLING_PREFIX = "x-anthropic-billing-header:"
_TOOL_DROP = (
    "cache_control",
    "defer_loading",
    "input_examples",
    "eager_input_streaming",
    "allowed_callers",
    "strict",
    "type",
)
_TOP_DROP = (
    "cache_control",
    "context_management",
    "container",
    "mcp_servers",
    "service_tier",
    "inference_geo",
    "top_k",
    "betas",
)


@dataclass(frozen=True)
class ChatTarget:
    """What the relay knows about the upstream request it is building."""

    model: str
    info: ModelInfo | None = None
    max_output_tokens: int | None = None  # None: the catalogue's for `info` (none if unknown)
    mid_conversation_system: str = "keep"  # or "fold"
    thinking_default: bool = False  # a request without `thinking` (Anthropic: no thinking)
    temperature_mode: str = "scale"  # or "pass"
    images: Mapping[str, str] = field(default_factory=dict)


def _blocks(content: Any) -> list[Mapping[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    return [b for b in content or [] if isinstance(b, Mapping)]


def _text_of(content: Any) -> str:
    return "\n\n".join(
        str(b.get("text", ""))
        for b in _blocks(content)
        if b.get("type") == "text" and b.get("text")
    )


def image_urls_to_fetch(body: Mapping[str, Any]) -> list[str]:
    """Remote http(s) image URLs in the request (also inside tool results), in order, once each."""
    urls: list[str] = []

    def visit(blocks: list[Mapping[str, Any]]) -> None:
        for block in blocks:
            if block.get("type") == "image":
                source = block.get("source") or {}
                url = source.get("url")
                if source.get("type") == "url" and isinstance(url, str) and url not in urls:
                    urls.append(url)
            elif block.get("type") == "tool_result":
                visit(_blocks(block.get("content")))

    for message in body.get("messages") or []:
        if isinstance(message, Mapping):
            visit(_blocks(message.get("content")))
    return urls


EFFORT_WITHOUT_THINKING = frozenset({"low"})


def thinking_choice(body: Mapping[str, Any], info: ModelInfo | None, target: ChatTarget) -> bool:
    """Whether Kimi thinks for this request: the client's thinking and effort choices (Anthropic
    semantics), mapped onto the on/off switch Kimi offers.

    - `thinking` absent (Claude Code with `MAX_THINKING_TOKENS=0`) or `disabled`: off;
    - `enabled` (any `budget_tokens`): on; `adaptive`: on, except at `output_config.effort`
      "low" (Claude Code's `/effort low`), where Kimi's nearest choice is no thinking;
    - kimi-k2-thinking always thinks and kimi-k2/k2-0905 never do, whatever was asked.
    """
    if info is None or info.thinking == "none":
        return False
    if info.thinking == "always":
        return True
    thinking = body.get("thinking")
    kind = thinking.get("type") if isinstance(thinking, Mapping) else None
    if kind == "enabled":
        return True
    if kind == "adaptive":
        config = body.get("output_config")
        effort = config.get("effort") if isinstance(config, Mapping) else None
        return effort not in EFFORT_WITHOUT_THINKING
    if kind == "disabled":
        return False
    return target.thinking_default


class _Builder:
    """Walks the Anthropic messages and emits chat messages (docs/protocols.md 6.3), keeping notes."""

    def __init__(self, target: ChatTarget, thinking: bool, notes: list[str]) -> None:
        self.target = target
        self.thinking = thinking
        self.notes = notes
        self.out: list[dict[str, Any]] = []
        self.folded_system: list[str] = []

    def image_part(self, block: Mapping[str, Any]) -> dict[str, Any]:
        info = self.target.info
        if info is not None and not info.images:
            return {"type": "text", "text": NO_VISION}
        source = block.get("source") or {}
        kind = source.get("type")
        url: str | None
        if kind == "base64":
            url = checked_data_url_from_base64(str(source.get("data", "")))
        elif kind == "url":
            url = self.target.images.get(str(source.get("url")))
            if url is None:
                raise BadRequest(f"image URL was not fetched: {str(source.get('url'))[:80]}")
        else:
            raise BadRequest(f"unsupported image source type {kind!r}")
        return {"type": "image_url", "image_url": {"url": url}}

    def user_parts(self, block: Mapping[str, Any]) -> list[dict[str, Any]]:
        kind = block.get("type")
        if kind == "text":
            text = str(block.get("text", ""))
            return [{"type": "text", "text": text}] if text else []
        if kind == "image":
            return [self.image_part(block)]
        if kind == "document":
            source = block.get("source") or {}
            if source.get("type") == "text":
                return [{"type": "text", "text": str(source.get("data", ""))}]
            if source.get("type") == "content":
                return [{"type": "text", "text": _text_of(source.get("content"))}]
            raise BadRequest(
                "PDF documents are not supported by the upstream; send the text instead"
            )
        if kind == "search_result":
            return [{"type": "text", "text": _text_of(block.get("content"))}]
        self.notes.append(f"dropped user block {kind!r}")
        return []

    def system(self, content: Any) -> None:
        text = (
            _text_of(content)
            if not isinstance(content, list)
            else "\n\n".join(
                _text_of(b.get("content"))
                if b.get("type") == "mid_conv_system"
                else str(b.get("text", ""))
                for b in _blocks(content)
            )
        )
        if not text:
            return
        if self.target.mid_conversation_system == "fold":
            self.folded_system.append(text)
        else:
            self.out.append({"role": "system", "content": text})

    def assistant(self, content: Any) -> None:
        texts: list[str] = []
        thinking: list[str] = []
        calls: list[dict[str, Any]] = []
        for block in _blocks(content):
            kind = block.get("type")
            if kind == "text" and block.get("text"):
                texts.append(str(block["text"]))
            elif kind == "thinking":
                thinking.append(str(block.get("thinking", "")))
            elif kind == "tool_use":
                calls.append(
                    {
                        "id": decode_tool_id(str(block.get("id", ""))),
                        "type": "function",
                        "function": {
                            "name": str(block.get("name", "")),
                            "arguments": json.dumps(block.get("input") or {}, ensure_ascii=False),
                        },
                    }
                )
            else:
                self.notes.append(f"dropped assistant block {kind!r}")
        message: dict[str, Any] = {"role": "assistant"}
        if texts:
            message["content"] = "".join(texts)
        if calls:
            message["tool_calls"] = calls
        reasoning = "".join(thinking)
        if reasoning:
            message["reasoning_content"] = reasoning
        elif calls and self.thinking:
            message["reasoning_content"] = NO_REASONING
        if len(message) > 1:
            self.out.append(message)

    def pending_calls(self) -> list[str]:
        if self.out and self.out[-1].get("role") == "assistant":
            return [c["id"] for c in self.out[-1].get("tool_calls") or []]
        return []

    def user(self, content: Any) -> None:
        blocks = _blocks(content)
        calls = self.pending_calls()
        results: dict[str, dict[str, Any]] = {}
        orphans: list[dict[str, Any]] = []
        lifted: list[dict[str, Any]] = []
        parts: list[dict[str, Any]] = []
        for block in blocks:
            if block.get("type") != "tool_result":
                parts.extend(self.user_parts(block))
                continue
            call_id = decode_tool_id(str(block.get("tool_use_id", "")))
            text, images = self.tool_result_content(block)
            if block.get("is_error"):
                text = "[tool error] " + text
            if images:
                text = (text + "\n" if text else "") + "[image attached below]"
                lifted.extend(images)
            if call_id in calls:
                results[call_id] = {
                    "role": "tool",
                    "tool_call_id": call_id,
                    "content": text or "(empty)",
                }
            else:
                orphans.append({"type": "text", "text": f"[result of tool call {call_id}]: {text}"})
        for call_id in calls:
            self.out.append(
                results.get(call_id)
                or {"role": "tool", "tool_call_id": call_id, "content": "[no result]"}
            )
        tail = lifted + orphans + parts
        if tail:
            if all(p.get("type") == "text" for p in tail):
                self.out.append({"role": "user", "content": "\n\n".join(p["text"] for p in tail)})
            else:
                self.out.append({"role": "user", "content": tail})

    def tool_result_content(self, block: Mapping[str, Any]) -> tuple[str, list[dict[str, Any]]]:
        content = block.get("content")
        if isinstance(content, str):
            return content, []
        texts: list[str] = []
        images: list[dict[str, Any]] = []
        for inner in _blocks(content):
            if inner.get("type") == "image":
                images.append(self.image_part(inner))
            elif inner.get("type") == "text":
                texts.append(str(inner.get("text", "")))
            else:
                texts.extend(p["text"] for p in self.user_parts(inner) if p.get("type") == "text")
        return "\n".join(t for t in texts if t), [i for i in images if i.get("type") == "image_url"]


def _merge(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Merge neighbours with the same role (never tool, never system), drop empties."""
    merged: list[dict[str, Any]] = []
    for message in messages:
        prev = merged[-1] if merged else None
        role = message["role"]
        if (
            prev is not None
            and prev["role"] == role
            and role in ("user", "assistant")
            and not prev.get("tool_calls")
        ):
            if role == "user":
                prev["content"] = _join_user(prev["content"], message["content"])
            else:
                for key in ("content", "reasoning_content"):
                    if message.get(key):
                        prev[key] = (prev.get(key) or "") + message[key]
                if message.get("tool_calls"):
                    prev["tool_calls"] = message["tool_calls"]
            continue
        merged.append(message)
    while merged and merged[0]["role"] in ("assistant", "tool"):
        merged.pop(0)
    return merged


def _join_user(a: Any, b: Any) -> Any:
    if isinstance(a, str) and isinstance(b, str):
        return a + "\n\n" + b
    return _as_parts(a) + _as_parts(b)


def _as_parts(content: Any) -> list[Any]:
    return [{"type": "text", "text": content}] if isinstance(content, str) else list(content)


def _clean_schema(schema: Any) -> Any:
    """Add a `type` to properties that lack one (Moonshot rejects them), recursively."""
    if not isinstance(schema, Mapping):
        return schema
    out = dict(schema)
    if "properties" in out and isinstance(out["properties"], Mapping):
        props = {}
        for name, prop in out["properties"].items():
            prop = _clean_schema(prop)
            if (
                isinstance(prop, Mapping)
                and "type" not in prop
                and not any(k in prop for k in ("anyOf", "oneOf", "allOf", "$ref"))
            ):
                enum = prop.get("enum")
                inferred = "string"
                if enum and all(isinstance(v, bool) for v in enum):
                    inferred = "boolean"
                elif enum and all(
                    isinstance(v, (int, float)) and not isinstance(v, bool) for v in enum
                ):
                    inferred = "number"
                prop = {**prop, "type": inferred}
            props[name] = prop
        out["properties"] = props
    if isinstance(out.get("items"), Mapping):
        out["items"] = _clean_schema(out["items"])
    return out


def _tools(body: Mapping[str, Any], notes: list[str]) -> list[dict[str, Any]]:
    tools = []
    listed = body.get("tools")
    if listed is not None and not isinstance(listed, list):
        raise BadRequest("tools: must be a list of tool definitions")
    for n, tool in enumerate(listed or []):
        if not isinstance(tool, Mapping):
            raise BadRequest(f"tools.{n}: must be an object with name and input_schema")
        name = tool.get("name")
        if not isinstance(name, str) or not name:
            raise BadRequest(f"tools.{n}.name: Field required (a non-empty string)")
        kind = tool.get("type")
        if kind not in (None, "custom") or "input_schema" not in tool:
            notes.append(f"dropped server tool {tool.get('name')!r} ({kind})")
            continue
        dropped = [k for k in _TOOL_DROP if k in tool and k != "type"]
        if dropped:
            notes.append(f"tool {tool.get('name')!r}: dropped {', '.join(dropped)}")
        function: dict[str, Any] = {
            "name": name,
            "parameters": _clean_schema(
                tool.get("input_schema") or {"type": "object", "properties": {}}
            ),
        }
        if tool.get("description"):
            function["description"] = tool["description"]
        tools.append({"type": "function", "function": function})
    return tools


def _temperature(value: Any, info: ModelInfo | None, mode: str) -> float | None:
    if value is None or not isinstance(value, (int, float)):
        return None
    if info is not None and info.thinking != "none":
        return None  # k2.5/k2.6 take fixed values; k2-thinking's default is the recommended one
    clamped = min(max(float(value), 0.0), 1.0)
    return round(clamped * 0.6, 4) if mode == "scale" else clamped


def anthropic_to_chat(
    body: Mapping[str, Any], target: ChatTarget
) -> tuple[dict[str, Any], list[str]]:
    """The Chat Completions request for an Anthropic Messages request, and notes on what was dropped."""
    if not isinstance(body.get("messages"), list):
        raise BadRequest("messages: required, and must be a list")
    notes: list[str] = []
    info = target.info
    thinking = thinking_choice(body, info, target)
    tools = _tools(body, notes)
    choice = body.get("tool_choice") if isinstance(body.get("tool_choice"), Mapping) else None
    forced = bool(tools) and choice is not None and choice.get("type") in ("any", "tool")
    if forced and thinking and info is not None and info.thinking == "switchable":
        thinking = False
        notes.append("forced tool_choice: thinking disabled for this request")

    builder = _Builder(target, thinking, notes)
    system = body.get("system")
    head: list[str] = []
    for block in _blocks(system) if system else []:
        text = str(block.get("text", ""))
        if text.startswith(BILLING_PREFIX):
            notes.append("dropped Claude Code billing header block")
            continue
        if text:
            head.append(text)

    for message in body["messages"]:
        if not isinstance(message, Mapping):
            raise BadRequest("each message must be an object with role and content")
        role = message.get("role")
        if role == "assistant":
            builder.assistant(message.get("content"))
        elif role == "user":
            builder.user(message.get("content"))
        elif role == "system":
            builder.system(message.get("content"))
        else:
            raise BadRequest(f"unknown message role {role!r}")

    messages = _merge(builder.out)
    system_text = "\n\n".join(head + builder.folded_system)
    if system_text:
        messages.insert(0, {"role": "system", "content": system_text})
    if messages and messages[-1]["role"] == "assistant" and not messages[-1].get("tool_calls"):
        messages[-1]["partial"] = True

    out: dict[str, Any] = {"model": target.model, "messages": messages}
    requested = body.get("max_tokens")
    cap = output_cap(target.max_output_tokens, info)
    max_tokens = cap_tokens(requested, cap)
    if max_tokens is not None:
        out["max_tokens"] = max_tokens
    if tools:
        out["tools"] = tools
        if choice is not None:
            kind = choice.get("type")
            if kind == "none":
                out["tool_choice"] = "none"
            elif kind == "auto":
                out["tool_choice"] = "auto"
            elif kind in ("any", "tool"):
                if thinking:  # always-thinking model: a forced choice would be refused
                    out["tool_choice"] = "auto"
                    notes.append("forced tool_choice degraded to auto (model always thinks)")
                elif kind == "any":
                    out["tool_choice"] = "required"
                else:
                    out["tool_choice"] = {
                        "type": "function",
                        "function": {"name": choice.get("name")},
                    }
            if choice.get("disable_parallel_tool_use"):
                out["parallel_tool_calls"] = False
    elif choice is not None:
        notes.append("dropped tool_choice without tools")

    if info is not None and info.thinking == "switchable":
        out["thinking"] = {"type": "enabled" if thinking else "disabled"}
    elif (
        info is not None
        and info.thinking == "always"
        and isinstance(body.get("thinking"), Mapping)
        and body["thinking"].get("type") == "disabled"
    ):
        notes.append("kimi-k2-thinking cannot disable thinking")
    effort = body.get("output_config")
    if isinstance(effort, Mapping) and effort.get("effort"):
        notes.append(f"effort {effort['effort']!r}: thinking {'on' if thinking else 'off'}")

    temperature = _temperature(body.get("temperature"), info, target.temperature_mode)
    if temperature is not None:
        out["temperature"] = temperature
    if body.get("top_p") is not None and not (info is not None and info.thinking == "switchable"):
        out["top_p"] = body["top_p"]
    stops = body.get("stop_sequences")
    if isinstance(stops, list) and stops:
        out["stop"] = [str(s) for s in stops[:4]]
    metadata = body.get("metadata")
    if isinstance(metadata, Mapping) and metadata.get("user_id"):
        digest = hashlib.sha256(str(metadata["user_id"]).encode("utf-8")).hexdigest()[:32]
        out["user"] = "cc-" + digest
    if body.get("stream"):
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}
    if isinstance(body.get("output_config"), Mapping) and body["output_config"].get("format"):
        out["response_format"] = {"type": "json_object"}
        schema = json.dumps(body["output_config"]["format"], ensure_ascii=False)
        note = "Answer with JSON matching this schema: " + schema
        if messages and messages[0]["role"] == "system":
            messages[0]["content"] += "\n\n" + note
        else:
            messages.insert(0, {"role": "system", "content": note})
    for key in _TOP_DROP:
        if key in body:
            notes.append(f"dropped {key}")
    return out, notes
