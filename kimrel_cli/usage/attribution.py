"""Who sent a request: the client (by user agent) and the session, agent and project it belongs to.

Pure functions over request headers, written against what the clients were seen to send through
the relay (docs/usage.md, "Attribution headers"):

- Claude Code 2.1.197: `user-agent: claude-cli/2.1.197 (external, sdk-cli)` and
  `x-claude-code-session-id` on every request; a sub-agent's requests add
  `x-claude-code-agent-id`, and a sub-agent started by another sub-agent
  `x-claude-code-parent-agent-id`.
- Codex 0.169: `user-agent: codex_exec/0.169.0 …` (`codex_cli_rs/…` for the TUI),
  `originator: codex_exec` (or `codex_cli_rs`), `session-id` and `thread-id` (equal on the
  root thread); a sub-agent's requests carry its own `thread-id`, the same `session-id`,
  `x-codex-parent-thread-id` and `x-openai-subagent`. Older Codex sent `session_id` and
  `conversation_id`, still read.
- `kimrel launch` adds `x-kimrel-project: <directory name, percent-encoded>`; the relay never
  passes it upstream (relay/context.py's FORWARDED_HEADERS is an allow-list).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote, unquote

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


def project_header_value(name: str) -> str:
    """A project (directory) name as the `x-kimrel-project` header carries it: percent-encoded,
    so any name fits in an HTTP header (which the clients send as ASCII only)."""
    return quote(name, safe="!#$&'()*+,-.:;=@[]^_`{|}~")


def project_from_header(value: str | None) -> str | None:
    """The project name back from an `x-kimrel-project` header value."""
    if value is None:
        return None
    return _clean(unquote(value, errors="replace"))


def attribution_from_headers(headers: Mapping[str, str]) -> Attribution:
    """The Attribution of one request from its headers (names compared case-insensitively)."""
    lower = {k.lower(): v for k, v in headers.items()}
    ua = _clean(lower.get("user-agent"), 300)
    session = _clean(
        lower.get("x-claude-code-session-id")
        or lower.get("session-id")
        or lower.get("session_id")
        or lower.get("conversation_id")
    )
    agent = _clean(lower.get("x-claude-code-agent-id"))
    parent = _clean(lower.get("x-claude-code-parent-agent-id"))
    if agent is None:  # Codex: a thread other than the session's root thread is a sub-agent
        thread = _clean(lower.get("thread-id"))
        agent = thread if thread != session else None
        parent = _clean(lower.get("x-codex-parent-thread-id"))
        if parent == session:  # started by the root thread, as Claude Code leaves it unset
            parent = None
    return Attribution(
        client=client_of(ua, lower),
        user_agent=ua,
        session_id=session,
        agent_id=agent,
        parent_agent_id=parent,
        project=project_from_header(lower.get(PROJECT_HEADER)),
    )
