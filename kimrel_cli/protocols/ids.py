"""Ids: the reversible tool-call id encoding, and message ids (randomness passed in).

Kimi's tool-call ids look like `functions.Bash:0`; Anthropic ids must match
`^[a-zA-Z0-9_-]+$`. Outbound ids are `toolu_kr_` + base64url(upstream id) without padding,
decoded on the way back, so the relay stays stateless and the model sees its own ids.
"""

from __future__ import annotations

import base64
import re

TOOL_PREFIX = "toolu_kr_"
_SAFE = re.compile(r"[^A-Za-z0-9_-]")


def encode_tool_id(upstream_id: str) -> str:
    raw = base64.urlsafe_b64encode(upstream_id.encode("utf-8")).decode("ascii").rstrip("=")
    return TOOL_PREFIX + raw


def decode_tool_id(client_id: str) -> str:
    """The upstream id for an id we minted; any other id passes through unchanged."""
    if not client_id.startswith(TOOL_PREFIX):
        return client_id
    raw = client_id[len(TOOL_PREFIX) :]
    try:
        return base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return client_id


def new_message_id(random_hex: str) -> str:
    return "msg_" + _SAFE.sub("", random_hex)


def sanitize_message_id(chat_id: str | None, fallback: str) -> str:
    """`msg_` + the chat completion id without characters Anthropic ids do not allow."""
    if not chat_id:
        return fallback
    cleaned = _SAFE.sub("", chat_id.removeprefix("chatcmpl-"))
    return "msg_" + cleaned if cleaned else fallback
