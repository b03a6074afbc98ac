"""Who sent a request: the client (by user agent) and the session, agent and project it belongs to.

Pure functions over request headers. Claude Code sends `x-claude-code-session-id`,
`x-claude-code-agent-id` and `x-claude-code-parent-agent-id`; Codex sends its session id in
`session_id` (and `originator: codex_cli_rs`); `kimrel launch` adds `x-kimrel-project` (the
directory name it ran in), which the relay never passes upstream.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

PROJECT_HEADER = "x-kimrel-project"

CLIENTS = ("claude-code", "codex", "openai-sdk", "anthropic-sdk", "kimrel-chat", "other")


@dataclass(frozen=True)
class Attribution:
    client: str = "other"  # one of CLIENTS
    user_agent: str | None = None
    session_id: str | None = None
    agent_id: str | None = None
    parent_agent_id: str | None = None
    project: str | None = None


def client_of(user_agent: str | None, headers: Mapping[str, str] | None = None) -> str:
    """The client family a request came from, by its user agent (and a telling header)."""
    ua = (user_agent or "").lower()
    lower = {k.lower(): v for k, v in (headers or {}).items()}
    if "claude-cli" in ua or "claude-code" in ua or "x-claude-code-session-id" in lower:
        return "claude-code"
    if "codex" in ua or lower.get("originator", "").startswith("codex"):
        return "codex"
    if "kimrel" in ua:
        return "kimrel-chat"
    if ua.startswith("anthropic/"):
        return "anthropic-sdk"
    if ua.startswith(("openai/", "asyncopenai/")):
        return "openai-sdk"
    return "other"


def _clean(value: str | None, limit: int = 200) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value[:limit] or None


def attribution_from_headers(headers: Mapping[str, str]) -> Attribution:
    """The Attribution of one request from its headers (names compared case-insensitively)."""
    lower = {k.lower(): v for k, v in headers.items()}
    ua = _clean(lower.get("user-agent"), 300)
    return Attribution(
        client=client_of(ua, lower),
        user_agent=ua,
        session_id=_clean(
            lower.get("x-claude-code-session-id")
            or lower.get("session_id")
            or lower.get("session-id")
            or lower.get("conversation_id")
        ),
        agent_id=_clean(lower.get("x-claude-code-agent-id")),
        parent_agent_id=_clean(lower.get("x-claude-code-parent-agent-id")),
        project=_clean(lower.get(PROJECT_HEADER)),
    )
