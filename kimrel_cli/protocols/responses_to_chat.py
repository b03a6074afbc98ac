"""Request translation: OpenAI Responses → Chat Completions (docs/protocols.md R5.1–R5.3), pure.

Returns the chat request, a ResponsesContext holding what the way back needs (namespace and
custom-tool maps, the reasoning output form, the fields echoed in the response object), and
notes on dropped fields. Remote image URLs are prefetched by the relay and passed in
`ResponsesTarget.images`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kimrel_cli.catalogue import ModelInfo
from kimrel_cli.errors import BadRequest
from kimrel_cli.protocols.chat_hub import (
    NO_REASONING,
    NO_VISION,
    ResponsesContext,
    cap_tokens,
    decode_reasoning,
    output_cap,
    upstream_call_id,
)

INTERRUPTED = "(no output: call was interrupted)"
ECHO_FIELDS = (
    "instructions",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "temperature",
    "top_p",
    "max_output_tokens",
    "metadata",
    "reasoning",
    "text",
    "store",
    "truncation",
    "previous_response_id",
)
_DROPPED = (
    "store",
    "include",
    "prompt_cache_key",
    "user",
    "safety_identifier",
    "service_tier",
    "truncation",
    "client_metadata",
    "stream_options",
    "top_logprobs",
    "prompt_cache_retention",
    "max_tool_calls",
    "context_management",
)


@dataclass(frozen=True)
class ResponsesTarget:
    model: str
    info: ModelInfo | None = None
    max_output_tokens: int | None = None  # None: the catalogue's for `info` (none if unknown)
    images: Mapping[str, str] = field(default_factory=dict)
    history: tuple[dict[str, Any], ...] = ()


def _strip_call_ids(messages: list[dict[str, Any]]) -> None:
    for message in messages:
        for call in message.get("tool_calls") or []:
            call["id"] = upstream_call_id(call["id"])
        if message.get("role") == "tool":
            message["tool_call_id"] = upstream_call_id(message["tool_call_id"])


def _parts(content: Any) -> list[Mapping[str, Any]]:
    if isinstance(content, str):
        return [{"type": "input_text", "text": content}]
    if not isinstance(content, list):  # validated before; a stray value is no parts
        return []
    return [p for p in content if isinstance(p, Mapping)]


def _text(content: Any) -> str:
    pieces = []
    for part in _parts(content):
        if part.get("type") in (
            "input_text",
            "output_text",
            "text",
            "summary_text",
            "reasoning_text",
        ):
            pieces.append(str(part.get("text", "")))
        elif part.get("type") == "refusal":
            pieces.append(str(part.get("refusal", "")))
    return "\n\n".join(p for p in pieces if p)


def image_urls_to_fetch(body: Mapping[str, Any]) -> list[str]:
    """Remote http(s) image URLs in input messages and tool outputs, once each."""
    urls: list[str] = []
    items = body.get("input")
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, Mapping):
            continue
        parts = item.get("content") if "content" in item else item.get("output")
        for part in _parts(parts) if not isinstance(parts, str) else []:
            url = part.get("image_url")
            if (
                part.get("type") == "input_image"
                and isinstance(url, str)
                and url.startswith(("http://", "https://"))
                and url not in urls
            ):
                urls.append(url)
    return urls


def _thinking_state(body: Mapping[str, Any], info: ModelInfo | None) -> bool:
    if info is None or info.thinking == "none":
        return False
    if info.thinking == "always":
        return True
    effort = (
        (body.get("reasoning") or {}).get("effort")
        if isinstance(body.get("reasoning"), Mapping)
        else None
    )
    return effort not in ("none", "minimal")


def _tools(
    body: Mapping[str, Any], extra: list[Any], notes: list[str]
) -> tuple[list[dict[str, Any]], dict[str, tuple[str, str]], set[str]]:
    tools: list[dict[str, Any]] = []
    namespaces: dict[str, tuple[str, str]] = {}
    custom: set[str] = set()

    def function(name: str, description: str | None, parameters: Any) -> dict[str, Any]:
        fn: dict[str, Any] = {
            "name": name,
            "parameters": parameters or {"type": "object", "properties": {}},
        }
        if description:
            fn["description"] = description
        return {"type": "function", "function": fn}

    def add(tool: Mapping[str, Any], namespace: str | None = None) -> None:
        kind = tool.get("type", "function")
        name = str(tool.get("name", ""))
        if kind == "function":
            flat = f"{namespace}__{name}" if namespace else name
            if namespace:
                namespaces[flat] = (namespace, name)
            tools.append(function(flat, tool.get("description"), tool.get("parameters")))
        elif kind == "namespace":
            for inner in tool.get("tools") or []:
                if isinstance(inner, Mapping):
                    add(inner, namespace=name)
        elif kind == "custom":
            custom.add(name)
            description = str(tool.get("description") or "")
            fmt = tool.get("format") or {}
            if isinstance(fmt, Mapping) and fmt.get("type") == "grammar":
                description += f"\n\nThe `input` must follow this {fmt.get('syntax', '')} grammar:\n{fmt.get('definition', '')}"
            schema = {
                "type": "object",
                "properties": {"input": {"type": "string", "description": "the raw input"}},
                "required": ["input"],
            }
            tools.append(function(name, description.strip(), schema))
        elif kind == "local_shell":
            schema = {
                "type": "object",
                "properties": {
                    "command": {"type": "array", "items": {"type": "string"}},
                    "workdir": {"type": "string"},
                    "timeout_ms": {"type": "integer"},
                },
                "required": ["command"],
            }
            tools.append(
                function("local_shell", "Run a shell command on the user's machine.", schema)
            )
        else:
            notes.append(f"dropped hosted tool {kind!r}")

    for tool in [*(body.get("tools") or []), *extra]:
        if isinstance(tool, Mapping):
            add(tool)
    return tools, namespaces, custom


class _Messages:
    """Walks input items into chat messages with one open assistant message (docs/protocols.md R5.2)."""

    def __init__(
        self, target: ResponsesTarget, namespaces: Mapping[str, tuple[str, str]], notes: list[str]
    ) -> None:
        self.target = target
        self.notes = notes
        self.reverse_ns = {v: k for k, v in namespaces.items()}
        self.out: list[dict[str, Any]] = []
        self.assistant: dict[str, Any] | None = None
        self.reasoning: list[str] = []
        self.pending_images: list[dict[str, Any]] = []

    def close(self) -> None:
        if self.assistant is not None:
            if self.reasoning and "reasoning_content" not in self.assistant:
                self.assistant["reasoning_content"] = "".join(self.reasoning)
            self.out.append(self.assistant)
            self.assistant = None
            self.reasoning = []

    def flush_images(self) -> None:
        if self.pending_images:
            self.out.append({"role": "user", "content": self.pending_images})
            self.pending_images = []

    def open_assistant(self) -> dict[str, Any]:
        self.flush_images()
        if self.assistant is None:
            self.assistant = {"role": "assistant"}
        return self.assistant

    def image(self, part: Mapping[str, Any]) -> dict[str, Any]:
        info = self.target.info
        if part.get("file_id"):
            raise BadRequest(
                "input_image with file_id is not supported; send the image as a data URL",
                wire_code="unsupported_content",
            )
        url = part.get("image_url")
        if isinstance(url, Mapping):
            url = url.get("url")
        url = str(url or "")
        if info is not None and not info.images:
            return {"type": "text", "text": NO_VISION}
        if url.startswith(("http://", "https://")):
            fetched = self.target.images.get(url)
            if fetched is None:
                raise BadRequest(f"image URL was not fetched: {url[:80]}")
            url = fetched
        elif not url.startswith("data:"):
            raise BadRequest(
                "input_image needs an image_url (data URL or http(s) URL)",
                wire_code="unsupported_content",
            )
        return {"type": "image_url", "image_url": {"url": url}}

    def user_content(self, content: Any) -> Any:
        parts: list[dict[str, Any]] = []
        for part in _parts(content):
            kind = part.get("type")
            if kind in ("input_text", "output_text", "text"):
                parts.append({"type": "text", "text": str(part.get("text", ""))})
            elif kind == "input_image":
                parts.append(self.image(part))
            elif kind in ("input_file", "input_audio"):
                raise BadRequest(
                    f"{kind} is not supported by the upstream", wire_code="unsupported_content"
                )
        if all(p["type"] == "text" for p in parts):
            return "\n\n".join(p["text"] for p in parts if p["text"])
        return parts

    def message(self, item: Mapping[str, Any], leading: list[str]) -> None:
        role = item.get("role")
        if role in ("system", "developer"):
            text = _text(item.get("content"))
            if not self.out and self.assistant is None:
                leading.append(text)
            else:
                self.close()
                self.flush_images()
                self.out.append({"role": "system", "content": text})
        elif role == "assistant":
            text = _text(item.get("content"))
            if text:
                assistant = self.open_assistant()
                if assistant.get("tool_calls"):
                    self.close()
                    assistant = self.open_assistant()
                assistant["content"] = (assistant.get("content") or "") + text
        else:
            self.close()
            self.flush_images()
            content = self.user_content(item.get("content"))
            if content:
                self.out.append({"role": "user", "content": content})

    def call(self, item: Mapping[str, Any]) -> None:
        kind = item.get("type")
        name = str(item.get("name", ""))
        if kind == "custom_tool_call":
            arguments = json.dumps({"input": item.get("input", "")}, ensure_ascii=False)
        elif kind == "local_shell_call":
            action = item.get("action") or {}
            name = "local_shell"
            arguments = json.dumps(
                {"command": action.get("command", []), "workdir": action.get("working_directory")},
                ensure_ascii=False,
            )
        else:
            arguments = str(item.get("arguments") or "{}")
        if item.get("namespace"):
            name = self.reverse_ns.get(
                (str(item["namespace"]), name), f"{item['namespace']}__{name}"
            )
        assistant = self.open_assistant()
        assistant.setdefault("tool_calls", []).append(
            {
                "id": str(item.get("call_id") or item.get("id") or ""),
                "type": "function",
                "function": {"name": name, "arguments": arguments},
            }
        )

    def output(self, item: Mapping[str, Any]) -> None:
        self.close()
        output = item.get("output")
        if isinstance(output, str):
            text = output
        else:
            texts = []
            for part in _parts(output):
                if part.get("type") == "input_image":
                    self.pending_images.append(self.image(part))
                    texts.append("[image attached below]")
                else:
                    texts.append(str(part.get("text", "")))
            text = "\n".join(t for t in texts if t)
        self.out.append(
            {
                "role": "tool",
                "tool_call_id": str(item.get("call_id", "")),
                "content": text or "(empty)",
            }
        )


def _repair(messages: list[dict[str, Any]], thinking: bool) -> list[dict[str, Any]]:
    """Every assistant tool-call message directly followed by one tool message per call id."""
    outputs: dict[str, dict[str, Any]] = {}
    for message in messages:
        if message["role"] == "tool":
            outputs.setdefault(message["tool_call_id"], message)
    repaired: list[dict[str, Any]] = []
    for message in messages:
        if message["role"] == "tool":
            continue
        repaired.append(message)
        calls = message.get("tool_calls") or []
        if message["role"] == "assistant" and calls:
            if thinking and not message.get("reasoning_content"):
                message["reasoning_content"] = NO_REASONING
            for call in calls:
                answered = outputs.pop(call["id"], None)
                repaired.append(
                    answered or {"role": "tool", "tool_call_id": call["id"], "content": INTERRUPTED}
                )
    return repaired


def responses_to_chat(
    body: Mapping[str, Any], target: ResponsesTarget
) -> tuple[dict[str, Any], ResponsesContext, list[str]]:
    """The chat request for a Responses request, the context for the way back, and notes."""
    for unsupported in ("background", "conversation"):
        if body.get(unsupported):
            raise BadRequest(
                f"{unsupported} is not supported by the kimrel relay",
                wire_code="unsupported_parameter",
            )
    notes: list[str] = []
    info = target.info
    items = body.get("input")
    if isinstance(items, str):
        items = [{"role": "user", "content": items}]
    if not isinstance(items, list):
        raise BadRequest("input: required, a string or a list of items")
    extra_tools = [
        t
        for item in items
        if isinstance(item, Mapping) and item.get("type") == "additional_tools"
        for t in item.get("tools") or []
    ]
    tools, namespaces, custom = _tools(body, extra_tools, notes)
    thinking = _thinking_state(body, info)

    choice = body.get("tool_choice")
    chat_choice: Any = None
    if tools and choice is not None:
        if choice in ("auto", "none", "required"):
            chat_choice = choice
        elif isinstance(choice, Mapping) and choice.get("type") in ("function", "custom"):
            name = str(choice.get("name", ""))
            chat_choice = {"type": "function", "function": {"name": name}}
        elif isinstance(choice, Mapping) and choice.get("type") == "allowed_tools":
            allowed = {
                str(t.get("name")) for t in choice.get("tools") or [] if isinstance(t, Mapping)
            }
            tools = [
                t
                for t in tools
                if t["function"]["name"] in allowed
                or namespaces.get(t["function"]["name"], ("", ""))[1] in allowed
            ]
            chat_choice = "required" if choice.get("mode") == "required" else "auto"
        else:
            chat_choice = "auto"
        forced = chat_choice == "required" or isinstance(chat_choice, dict)
        if forced and thinking:
            if info is not None and info.thinking == "switchable":
                thinking = False
                notes.append("forced tool_choice: thinking disabled for this request")
            else:
                chat_choice = "auto"
                notes.append("forced tool_choice degraded to auto (model always thinks)")

    walker = _Messages(target, namespaces, notes)
    leading: list[str] = [str(body["instructions"])] if body.get("instructions") else []
    walker.out.extend(dict(m) for m in target.history)
    for item in items:
        if not isinstance(item, Mapping):
            raise BadRequest("input items must be objects")
        kind = item.get("type") or "message"
        if kind == "message" or (kind is None and "role" in item):
            walker.message(item, leading)
        elif kind == "reasoning":
            text = decode_reasoning(item.get("encrypted_content"))
            if text is None:
                text = _text(item.get("content")) or _text(item.get("summary"))
            if text:
                walker.close()
                walker.reasoning.append(text)
                walker.open_assistant()
        elif kind in ("function_call", "custom_tool_call", "local_shell_call"):
            walker.call(item)
        elif kind in ("function_call_output", "custom_tool_call_output", "local_shell_call_output"):
            walker.output(item)
        elif kind == "agent_message":
            walker.close()
            walker.out.append(
                {"role": "user", "content": _text(item.get("content")) or str(item.get("text", ""))}
            )
        elif kind == "item_reference":
            raise BadRequest(
                "item_reference needs stored items; send the full input instead",
                wire_code="invalid_request",
            )
        elif kind == "additional_tools":
            continue
        else:
            notes.append(f"dropped input item {kind!r}")
    walker.close()
    walker.flush_images()
    messages = _repair(walker.out, thinking)
    _strip_call_ids(messages)
    system = "\n\n".join(t for t in leading if t)

    out: dict[str, Any] = {"model": target.model, "messages": messages}
    text_format = (
        (body.get("text") or {}).get("format") if isinstance(body.get("text"), Mapping) else None
    )
    if isinstance(text_format, Mapping) and text_format.get("type") in (
        "json_schema",
        "json_object",
    ):
        if text_format.get("type") == "json_schema":
            out["response_format"] = {
                "type": "json_schema",
                "json_schema": {
                    k: text_format[k]
                    for k in ("name", "schema", "strict", "description")
                    if k in text_format
                },
            }
            schema_note = "Answer with JSON matching this schema: " + json.dumps(
                text_format.get("schema", {}), ensure_ascii=False
            )
            system = f"{system}\n\n{schema_note}" if system else schema_note
        else:
            out["response_format"] = {"type": "json_object"}
    if system:
        messages.insert(0, {"role": "system", "content": system})

    requested = body.get("max_output_tokens")
    cap = output_cap(target.max_output_tokens, info)
    max_tokens = cap_tokens(requested, cap)
    if max_tokens is not None:
        out["max_tokens"] = max_tokens
    if tools:
        out["tools"] = tools
        if chat_choice is not None:
            out["tool_choice"] = chat_choice
        if isinstance(body.get("parallel_tool_calls"), bool):
            out["parallel_tool_calls"] = body["parallel_tool_calls"]
    if info is not None and info.thinking == "switchable":
        out["thinking"] = {"type": "enabled" if thinking else "disabled"}
    fixed_sampling = info is not None and info.thinking != "none"
    for key in ("temperature", "top_p"):
        if body.get(key) is not None:
            if fixed_sampling:
                notes.append(f"dropped {key} (fixed for {target.model})")
            else:
                out[key] = body[key]
    if body.get("stream"):
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}
    for key in _DROPPED:
        if key in body:
            notes.append(f"dropped {key}")

    summary = (
        (body.get("reasoning") or {}).get("summary")
        if isinstance(body.get("reasoning"), Mapping)
        else None
    )
    echo = {k: body.get(k) for k in ECHO_FIELDS}
    echo["model"] = body.get("model")
    context = ResponsesContext(
        namespace_map=namespaces,
        custom_tools=frozenset(custom),
        summary_mode="summary" if summary in ("auto", "concise", "detailed") else "raw",
        request_echo=echo,
    )
    return out, context, notes
