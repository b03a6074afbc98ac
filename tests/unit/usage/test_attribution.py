"""Attribution from the headers the real clients were seen to send through the relay
(recorded with tests/support/recorder.py; docs/usage.md lists them)."""

from __future__ import annotations

import pytest

from kimrel_cli.usage.attribution import (
    Attribution,
    attribution_from_headers,
    project_from_header,
    project_header_value,
)

CLAUDE = {
    "user-agent": "claude-cli/2.1.197 (external, sdk-cli)",
    "x-app": "cli",
    "x-claude-code-session-id": "1055e1cd-6a11-48e9-8ac4-7eebda187ca2",
}
CODEX_ROOT = {
    "user-agent": "codex_exec/0.169.0 (Debian 12.0.0; x86_64) xterm (codex_exec; 0.169.0)",
    "originator": "codex_exec",
    "session-id": "01a21ed7-011a-7ac2-b0c9-c02010578a16",
    "thread-id": "01a21ed7-011a-7ac2-b0c9-c02010578a16",
    "x-codex-window-id": "01a21ed7-011a-7ac2-b0c9-c02010578a16:0",
}


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (
            CLAUDE,
            Attribution("claude-code", CLAUDE["user-agent"], CLAUDE["x-claude-code-session-id"]),
        ),
        (
            {**CLAUDE, "x-claude-code-agent-id": "ac75ec5aab5de2c28"},
            Attribution(
                "claude-code",
                CLAUDE["user-agent"],
                CLAUDE["x-claude-code-session-id"],
                "ac75ec5aab5de2c28",
            ),
        ),
        (
            {
                **CLAUDE,
                "x-claude-code-agent-id": "a2",
                "x-claude-code-parent-agent-id": "a1",
            },
            Attribution(
                "claude-code", CLAUDE["user-agent"], CLAUDE["x-claude-code-session-id"], "a2", "a1"
            ),
        ),
        (
            CODEX_ROOT,
            Attribution("codex", CODEX_ROOT["user-agent"], CODEX_ROOT["session-id"]),
        ),
        (
            {
                **CODEX_ROOT,
                "thread-id": "child-thread",
                "x-codex-parent-thread-id": CODEX_ROOT["session-id"],
                "x-openai-subagent": "collab_spawn",
            },
            Attribution(
                "codex", CODEX_ROOT["user-agent"], CODEX_ROOT["session-id"], "child-thread"
            ),
        ),
        (
            {
                **CODEX_ROOT,
                "thread-id": "grandchild",
                "x-codex-parent-thread-id": "child-thread",
            },
            Attribution(
                "codex",
                CODEX_ROOT["user-agent"],
                CODEX_ROOT["session-id"],
                "grandchild",
                "child-thread",
            ),
        ),
        (  # Codex before 0.1xx: session_id / conversation_id
            {"user-agent": "codex_cli_rs/0.46.0", "conversation_id": "c-1"},
            Attribution("codex", "codex_cli_rs/0.46.0", "c-1"),
        ),
        (
            {"User-Agent": "OpenAI/Python 2.8.1", "X-Kimrel-Project": "caf%C3%A9%20app"},
            Attribution("openai-sdk", "OpenAI/Python 2.8.1", project="café app"),
        ),
        (
            {"user-agent": "Anthropic/Python 0.75.0"},
            Attribution("anthropic-sdk", "Anthropic/Python 0.75.0"),
        ),
        ({}, Attribution()),
    ],
    ids=[
        "claude-code",
        "claude-code-subagent",
        "claude-code-nested-subagent",
        "codex-root-thread",
        "codex-subagent",
        "codex-nested-subagent",
        "codex-older",
        "openai-sdk-with-project",
        "anthropic-sdk",
        "nothing",
    ],
)
def test_attribution_from_what_each_client_sends(headers, expected):
    assert attribution_from_headers(headers) == expected


@pytest.mark.parametrize("name", ["kimrel", "café app", "a%b", "日本語", "x:y", "tab\there"])
def test_a_project_name_survives_the_header_round_trip(name):
    value = project_header_value(name)
    assert value.isascii() and value.isprintable() and " " not in value
    assert project_from_header(value) == name.strip()
