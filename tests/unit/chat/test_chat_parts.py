"""The chat REPL's pure parts: slash commands, transcripts, the footer, the session's request."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from kimrel_cli.chat.commands import CommandError, completions, parse_command
from kimrel_cli.chat.render import footer
from kimrel_cli.chat.session import Session, TurnResult
from kimrel_cli.chat.transcript import from_json, from_markdown, to_json, to_markdown


@pytest.mark.parametrize(
    ("line", "name", "args"),
    [
        ("/model kimi-k2", "/model", ["kimi-k2"]),
        ("/image 'my pic.png' what is it", "/image", ["my pic.png", "what", "is", "it"]),
        ("/q", "/exit", []),
        ("/HELP", "/help", []),
    ],
)
def test_slash_commands_parse(line, name, args):
    command = parse_command(line)
    assert command is not None and (command.name, command.args) == (name, args)


def test_plain_text_and_double_slash_are_messages():
    assert parse_command("hello /model") is None
    assert parse_command("//not a command") is None


def test_unknown_command_suggests_a_close_one():
    with pytest.raises(CommandError, match="did you mean /save"):
        parse_command("/sa")


def test_completion_of_command_names():
    assert completions("/c") == ["/clear", "/credits"]


MESSAGES = [
    {"role": "user", "content": "What is 2+2?"},
    {"role": "assistant", "content": "**4**", "reasoning_content": "add them"},
    {"role": "user", "content": "and 3+3?"},
]


def test_markdown_transcript_round_trips_the_conversation():
    text = to_markdown(MESSAGES, model="kimi-k2")
    assert "## assistant" in text and "> add them" in text
    assert from_markdown(text) == [{"role": m["role"], "content": m["content"]} for m in MESSAGES]


def test_json_transcript_keeps_everything():
    assert from_json(to_json(MESSAGES, model="kimi-k2.6")) == ("kimi-k2.6", MESSAGES)
    with pytest.raises(ValueError):
        from_json('{"nope": 1}')


def test_footer_shows_model_tokens_latency_and_credits():
    result = TurnResult(
        text="x",
        reasoning="",
        prompt_tokens=12,
        completion_tokens=30,
        credits_left=997,
        credits_charged=3,
        latency=0.84,
    )
    console = Console(file=io.StringIO(), width=100, legacy_windows=False)
    console.print(footer(result, "kimi-k2.6"))
    assert (
        console.file.getvalue().strip()
        == "kimi-k2.6 · 12 in / 30 out · 0.8 s · 3 credits · 997 credits left"
    )


def test_request_switches_thinking_only_where_the_model_can():
    session = Session(client=None, model="kimi-k2.6", system="be brief", thinking=False)  # type: ignore[arg-type]
    session.add_user("hi")
    body = session.request()
    assert body["thinking"] == {"type": "disabled"} and body["messages"][0] == {
        "role": "system",
        "content": "be brief",
    }
    session.model = "kimi-k2"
    assert "thinking" not in session.request()


def test_undo_drops_the_last_exchange():
    session = Session(client=None, model="kimi-k2", messages=[dict(m) for m in MESSAGES])  # type: ignore[arg-type]
    assert session.undo() and [m["content"] for m in session.messages] == ["What is 2+2?", "**4**"]
