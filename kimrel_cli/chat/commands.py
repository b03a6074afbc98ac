"""Slash commands of the chat REPL: parsing and help, pure."""

from __future__ import annotations

import shlex
from dataclasses import dataclass

COMMANDS: dict[str, str] = {
    "/help": "this list",
    "/model": "/model [NAME]: list the models, or switch",
    "/system": "/system [TEXT|--clear]: show, set or clear the system prompt",
    "/thinking": "/thinking on|off: show the model's reasoning (k2.5/k2.6 can switch it)",
    "/image": "/image PATH|URL [question]: ask about an image (kimi-k2.5, kimi-k2.6)",
    "/retry": "ask the last question again",
    "/undo": "drop the last exchange",
    "/clear": "start over (keeps model and system prompt)",
    "/save": "/save [FILE]: Markdown transcript (.json: the raw messages)",
    "/load": "/load FILE: continue a saved conversation (.json or .md)",
    "/credits": "the credit balance",
    "/usage": "tokens and credits used in this session",
    "/exit": "leave (Ctrl-D works too)",
}


@dataclass(frozen=True)
class Command:
    name: str
    args: list[str]
    rest: str  # everything after the command name, unsplit


class CommandError(ValueError):
    pass


def parse_command(line: str) -> Command | None:
    """A slash command, or None for an ordinary message. Unknown commands raise CommandError."""
    text = line.strip()
    if not text.startswith("/") or text.startswith("//"):
        return None
    name, _, rest = text.partition(" ")
    name = name.lower()
    if name in ("/quit", "/q"):
        name = "/exit"
    if name not in COMMANDS:
        close = [c for c in COMMANDS if c.startswith(name)]
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise CommandError(f"unknown command {name}{hint}; /help lists them")
    try:
        args = shlex.split(rest)
    except ValueError:
        args = rest.split()
    return Command(name, args, rest.strip())


def help_text() -> str:
    return "\n".join(f"{name:<10} {text}" for name, text in COMMANDS.items())


def completions(prefix: str) -> list[str]:
    return [name for name in COMMANDS if name.startswith(prefix)]
