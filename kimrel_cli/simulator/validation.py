"""The hosted API's documented checks, each mapped to its documented error code.

`SimError` carries the status and both wire spellings; app.py renders it in the route's shape.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from typing import Any

from kimrel_cli.catalogue import MODELS, ModelInfo

MAX_ORIGINAL = 6 * 1024 * 1024
MAX_ENCODED = 8 * 1024 * 1024
_DATA_URL = re.compile(r"^data:([\w.+/-]*)(;[^,]*)?,(.*)$", re.S)


class SimError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        openai_type: str = "invalid_request_error",
        anthropic_type: str = "invalid_request_error",
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.openai_type = openai_type
        self.anthropic_type = anthropic_type


def invalid(message: str, code: str = "invalid_request") -> SimError:
    return SimError(400, code, message)


def sniff(data: bytes) -> str | None:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    return None


def check_base64_image(payload: str) -> None:
    if len(payload) > MAX_ENCODED:
        raise invalid(
            "encoded image payload exceeds the 8 MB forwarding limit", "encoded_image_too_large"
        )
    try:
        raw = base64.b64decode(payload, validate=False)
    except (binascii.Error, ValueError):
        raise invalid("image data is not valid base64") from None
    if len(raw) > MAX_ORIGINAL:
        raise invalid("image exceeds the 6 MB original size limit")
    if sniff(raw) is None:
        raise invalid("unsupported image type: PNG, JPEG, WEBP and GIF are accepted")


def check_image_url(url: str, info: ModelInfo, *, remote_ok: bool) -> None:
    if not info.images:
        raise invalid(f"model {info.id} does not accept images")
    if url.startswith("data:"):
        match = _DATA_URL.match(url)
        if not match:
            raise invalid("malformed data URL")
        if match.group(1).startswith("video/"):
            raise invalid("video inputs are not supported")
        if ";base64" not in (match.group(2) or ""):
            raise invalid("image data URLs must be base64")
        check_base64_image(match.group(3))
        return
    if url.startswith(("http://", "https://")):
        if re.search(r"\.(mp4|mov|webm|avi|mkv)(\?|$)", url, re.I):
            raise invalid("video inputs are not supported")
        if not remote_ok:
            raise invalid(
                f"remote image URLs are only fetched for kimi-k2.6, not {info.id}; send a data URL"
            )
        return
    raise invalid("image URLs must be data: or http(s) URLs")


def model_for(body: dict[str, Any]) -> ModelInfo:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise invalid("model: required")
    info = MODELS.get(model)
    if info is None:
        raise SimError(
            404,
            "model_not_found",
            f"The model `{model}` does not exist",
            anthropic_type="not_found_error",
        )
    return info


def check_common(
    body: dict[str, Any],
    info: ModelInfo,
    *,
    temperature_max: float,
    stops_key: str,
    max_tokens: int | None,
) -> None:
    temperature = body.get("temperature")
    if temperature is not None and (
        not isinstance(temperature, (int, float))
        or isinstance(temperature, bool)
        or not 0 <= temperature <= temperature_max
    ):
        raise invalid(f"temperature must be between 0 and {temperature_max:g}")
    stops = body.get(stops_key)
    if stops is not None and not isinstance(stops, (str, list)):
        raise invalid(f"{stops_key}: a string or a list of strings")
    if isinstance(stops, list) and len(stops) > 4:
        raise invalid(f"{stops_key}: at most 4 stop sequences")
    if max_tokens is not None:
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
            raise invalid("max_tokens must be a positive integer")
        if max_tokens > info.max_output_tokens:
            raise invalid(
                f"max_tokens {max_tokens} exceeds the output limit of {info.max_output_tokens} for {info.id}"
            )


def estimate_input(texts: list[str]) -> int:
    """Input tokens estimated as characters / 4 (at least 1)."""
    return max(1, math.ceil(sum(len(t) for t in texts) / 4))


def text_of(content: Any) -> str:
    """The text of a message's content: a string, or the text/tool_result parts of a list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict) and part.get("type") in ("text", "input_text"):
                parts.append(str(part.get("text", "")))
            elif isinstance(part, dict) and part.get("type") == "tool_result":
                parts.append(text_of(part.get("content")))
        return " ".join(p for p in parts if p)
    return ""


def thinking_on(info: ModelInfo, thinking: Any) -> bool:
    """kimi-k2-thinking always thinks; k2.5/k2.6 unless `thinking: {"type": "disabled"}`."""
    if info.thinking == "always":
        return True
    disabled = isinstance(thinking, dict) and thinking.get("type") == "disabled"
    return info.thinking == "switchable" and not disabled


def check_context(tokens: int, info: ModelInfo) -> None:
    if tokens > info.context_window:
        raise invalid(
            f"input of about {tokens} tokens exceeds the {info.context_window}-token context window of {info.id}",
            "context_length_exceeded",
        )


def check_chat_shape(body: dict[str, Any]) -> None:
    """The chat fields the simulator reads have the hosted API's types (else a 400, not a 500)."""
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            raise invalid("tools: must be a list")
        for i, tool in enumerate(tools):
            if not isinstance(tool, dict):
                raise invalid(f"tools[{i}]: must be an object")
            function = tool.get("function")
            if function is not None and not isinstance(function, dict):
                raise invalid(f"tools[{i}].function: must be an object")
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and not isinstance(choice.get("function") or {}, dict):
        raise invalid("tool_choice.function: must be an object")
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise invalid("stream_options: must be an object")
    stops = body.get("stop")
    if stops is not None and not isinstance(stops, (str, list)):
        raise invalid("stop: must be a string or a list of strings")
