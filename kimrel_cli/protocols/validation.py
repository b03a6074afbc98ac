"""Request shapes checked at the edge of each relay route, before any translation.

Pure: each `check_*` takes the parsed body and raises `BadRequest` whose message names the
field path (`messages.0.content: expected a string or a list of blocks`), so a malformed but
valid JSON body is a 400 in the caller's protocol instead of a crash deep in a translator.
Only what the relay itself reads is checked; unknown fields pass through untouched.
"""

from __future__ import annotations

from typing import Any

from kimrel_cli.errors import BadRequest

_HINT = "fix the request body; the path names the field"


def _bad(path: str, expected: str) -> BadRequest:
    return BadRequest(f"{path}: expected {expected}", hint=_HINT, code="invalid-request")


def _obj(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _bad(path, "an object")
    return value


def _list(value: Any, path: str, what: str = "a list") -> list[Any]:
    if not isinstance(value, list):
        raise _bad(path, what)
    return value


def _opt_obj(body: dict[str, Any], key: str, path: str) -> None:
    if body.get(key) is not None:
        _obj(body[key], f"{path}{key}")


def _str(value: Any, path: str) -> None:
    if not isinstance(value, str):
        raise _bad(path, "a string")


def _opt_str(body: dict[str, Any], key: str, path: str) -> None:
    if body.get(key) is not None:
        _str(body[key], f"{path}{key}")


def _number(body: dict[str, Any], key: str, *, integer: bool = False) -> None:
    value = body.get(key)
    if value is None:
        return
    kinds: tuple[type, ...] = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise _bad(key, "an integer" if integer else "a number")


def _common(body: dict[str, Any]) -> None:
    _opt_str(body, "model", "")
    for key in ("temperature", "top_p", "presence_penalty", "frequency_penalty"):
        _number(body, key)
    for key in ("max_tokens", "max_completion_tokens", "max_output_tokens", "n"):
        _number(body, key, integer=True)
    if body.get("metadata") is not None:
        _obj(body["metadata"], "metadata")


# --- chat completions ---------------------------------------------------------------------


def _chat_content(content: Any, path: str) -> None:
    if content is None or isinstance(content, str):
        return
    for i, part in enumerate(_list(content, path, "a string or a list of parts")):
        p = _obj(part, f"{path}.{i}")
        _opt_str(p, "type", f"{path}.{i}.")
        if p.get("type") == "text":
            _str(p.get("text"), f"{path}.{i}.text")
        elif p.get("type") == "image_url":
            image = p.get("image_url")
            if not isinstance(image, str):
                _str(_obj(image, f"{path}.{i}.image_url").get("url"), f"{path}.{i}.image_url.url")


def _chat_function_tools(tools: Any, path: str) -> None:
    for i, tool in enumerate(_list(tools, path)):
        t = _obj(tool, f"{path}.{i}")
        _opt_str(t, "type", f"{path}.{i}.")
        if t.get("type", "function") == "function":
            fn = _obj(t.get("function"), f"{path}.{i}.function")
            _str(fn.get("name"), f"{path}.{i}.function.name")
            _opt_obj(fn, "parameters", f"{path}.{i}.function.")


def check_chat(body: dict[str, Any]) -> None:
    """A chat completions request the relay can read (raises BadRequest)."""
    _common(body)
    for i, message in enumerate(_list(body.get("messages"), "messages")):
        path = f"messages.{i}"
        m = _obj(message, path)
        _str(m.get("role"), f"{path}.role")
        _chat_content(m.get("content"), f"{path}.content")
        if m.get("tool_calls") is not None:
            for j, call in enumerate(_list(m["tool_calls"], f"{path}.tool_calls")):
                c = _obj(call, f"{path}.tool_calls.{j}")
                fn = _obj(c.get("function"), f"{path}.tool_calls.{j}.function")
                _str(fn.get("name"), f"{path}.tool_calls.{j}.function.name")
    if body.get("tools") is not None:
        _chat_function_tools(body["tools"], "tools")
    _opt_obj(body, "stream_options", "")


# --- anthropic messages -------------------------------------------------------------------


def _anthropic_blocks(content: Any, path: str, *, nested: bool = False) -> None:
    if isinstance(content, str) or (nested and content is None):
        return
    for i, block in enumerate(_list(content, path, "a string or a list of blocks")):
        where = f"{path}.{i}"
        b = _obj(block, where)
        _str(b.get("type"), f"{where}.type")
        kind = b["type"]
        if kind == "text":
            _str(b.get("text"), f"{where}.text")
        elif kind in ("image", "document"):
            source = _obj(b.get("source"), f"{where}.source")
            _opt_str(source, "type", f"{where}.source.")
        elif kind in ("tool_use", "server_tool_use"):
            _str(b.get("name"), f"{where}.name")
            _opt_str(b, "id", f"{where}.")
            _opt_obj(b, "input", f"{where}.")
        elif kind == "tool_result":
            _str(b.get("tool_use_id"), f"{where}.tool_use_id")
            _anthropic_blocks(b.get("content"), f"{where}.content", nested=True)
        elif kind in ("thinking",):
            _opt_str(b, "thinking", f"{where}.")


def check_messages(body: dict[str, Any]) -> None:
    """An Anthropic Messages request the relay can read (raises BadRequest)."""
    _common(body)
    for i, message in enumerate(_list(body.get("messages"), "messages")):
        path = f"messages.{i}"
        m = _obj(message, path)
        _str(m.get("role"), f"{path}.role")
        _anthropic_blocks(m.get("content"), f"{path}.content")
    if body.get("system") is not None:
        _anthropic_blocks(body["system"], "system")
    if body.get("tools") is not None:
        for i, tool in enumerate(_list(body["tools"], "tools")):
            t = _obj(tool, f"tools.{i}")
            _str(t.get("name"), f"tools.{i}.name")
            _opt_obj(t, "input_schema", f"tools.{i}.")
    _opt_obj(body, "tool_choice", "")
    _opt_obj(body, "thinking", "")
    if body.get("stop_sequences") is not None:
        for i, s in enumerate(_list(body["stop_sequences"], "stop_sequences")):
            _str(s, f"stop_sequences.{i}")


# --- openai responses ---------------------------------------------------------------------


def _responses_content(content: Any, path: str) -> None:
    if content is None or isinstance(content, str):
        return
    for i, part in enumerate(_list(content, path, "a string or a list of parts")):
        p = _obj(part, f"{path}.{i}")
        _opt_str(p, "type", f"{path}.{i}.")
        if p.get("type") in ("input_text", "output_text", "text"):
            _str(p.get("text"), f"{path}.{i}.text")
        elif p.get("type") == "input_image":
            _opt_str(p, "image_url", f"{path}.{i}.")


def check_responses(body: dict[str, Any]) -> None:
    """An OpenAI Responses request the relay can read (raises BadRequest)."""
    _common(body)
    _opt_str(body, "instructions", "")
    _opt_str(body, "previous_response_id", "")
    items = body.get("input")
    if items is not None and not isinstance(items, str):
        for i, item in enumerate(_list(items, "input", "a string or a list of items")):
            path = f"input.{i}"
            it = _obj(item, path)
            _opt_str(it, "type", f"{path}.")
            kind = it.get("type") or "message"  # a null type is a message, as no type is
            if kind == "message":
                _opt_str(it, "role", f"{path}.")
                _responses_content(it.get("content"), f"{path}.content")
            elif kind in ("function_call", "custom_tool_call"):
                _str(it.get("name"), f"{path}.name")
                _opt_str(it, "call_id", f"{path}.")
            elif kind in ("function_call_output", "custom_tool_call_output"):
                _opt_str(it, "call_id", f"{path}.")
                _responses_content(it.get("output"), f"{path}.output")
    if body.get("tools") is not None:
        for i, tool in enumerate(_list(body["tools"], "tools")):
            t = _obj(tool, f"tools.{i}")
            _opt_str(t, "type", f"tools.{i}.")
            if t.get("type") in ("function", "custom"):
                _str(t.get("name"), f"tools.{i}.name")
                _opt_obj(t, "parameters", f"tools.{i}.")
    _opt_obj(body, "reasoning", "")
    _opt_obj(body, "text", "")
    _opt_obj(body, "stream_options", "")
