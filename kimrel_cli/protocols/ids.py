"""Ids: the reversible tool-call id encoding (the message id it depends on is passed in).

Kimi's tool-call ids look like `functions.Bash:0` and restart at `:0` in every answer, so the
same id would recur across the turns of a session, and Claude Code drops a tool_use whose id
it has already seen (the result then reaches the model as "(no content)"). Outbound ids are
`toolu_kr` + a per-message nonce (8 characters of the relay's random message id) + `_` +
base64url(upstream id) without padding: unique per call across a session, and decoded on the
way back so the model sees its own ids and the relay stays stateless.
Ids minted before the nonce existed (`toolu_kr_` + base64url) still decode.
"""

from __future__ import annotations

import base64
import re

TOOL_PREFIX = "toolu_kr"
NONCE_LENGTH = 8
_ALNUM = re.compile(r"[^A-Za-z0-9]")
_MINTED = re.compile(r"^toolu_kr(?:[A-Za-z0-9]{8})?_([A-Za-z0-9_-]+)$")


def tool_id_nonce(message_id: str) -> str:
    """The per-message part of minted tool ids: the last 8 letters/digits of the message id."""
    return _ALNUM.sub("", message_id)[-NONCE_LENGTH:].rjust(NONCE_LENGTH, "0")


def encode_tool_id(upstream_id: str, message_id: str) -> str:
    """The client-facing id for one upstream tool call in the message `message_id`."""
    raw = base64.urlsafe_b64encode(upstream_id.encode("utf-8")).decode("ascii").rstrip("=")
    return f"{TOOL_PREFIX}{tool_id_nonce(message_id)}_{raw}"


def decode_tool_id(client_id: str) -> str:
    """The upstream id for an id we minted; any other id passes through unchanged."""
    match = _MINTED.match(client_id)
    if match is None:
        return client_id
    raw = match.group(1)
    try:
        return base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return client_id
