"""The interactive loop: prompt_toolkit input (history, completion, bracketed paste, multi-line),
slash commands, streamed answers; Ctrl-C stops an answer and keeps the session, Ctrl-D leaves.

prompt_toolkit earns its place over readline: bracketed paste (a pasted block arrives as one
message), a completion menu for slash commands and model names, and Esc-Enter for new lines.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from kimrel_cli import paths
from kimrel_cli.catalogue import MODELS
from kimrel_cli.chat.commands import Command, CommandError, completions, help_text, parse_command
from kimrel_cli.chat.render import StreamView, footer
from kimrel_cli.chat.session import Session, image_part
from kimrel_cli.chat.transcript import from_json, from_markdown, to_json, to_markdown
from kimrel_cli.errors import KimrelError
from kimrel_cli.wording import count, number


def history_file() -> Path:
    """The prompt history (every line typed, pasted secrets included): created 0600, and an
    existing one that others could read is narrowed to 0600."""
    path = paths.ensure_dir(paths.state_dir()) / "chat_history"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    return path


class Repl:
    def __init__(self, session: Session, console: Any) -> None:
        self.session = session
        self.console = console

    # ---- input ---------------------------------------------------------------------------
    def _prompt_session(self) -> Any:
        from prompt_toolkit import PromptSession
        from prompt_toolkit.completion import Completer, Completion
        from prompt_toolkit.history import FileHistory
        from prompt_toolkit.key_binding import KeyBindings

        class SlashCompleter(Completer):
            def get_completions(self, document: Any, complete_event: Any) -> Any:
                text = document.text_before_cursor
                if text.startswith("/model "):
                    word = text[len("/model ") :]
                    for model in MODELS:
                        if model.startswith(word):
                            yield Completion(model, start_position=-len(word))
                elif text.startswith("/") and " " not in text:
                    for name in completions(text):
                        yield Completion(name, start_position=-len(text))

        bindings = KeyBindings()

        @bindings.add("escape", "enter")
        def _newline(event: Any) -> None:
            event.current_buffer.insert_text("\n")

        history = history_file()
        return PromptSession(
            history=FileHistory(str(history)),
            completer=SlashCompleter(),
            key_bindings=bindings,
            complete_while_typing=True,
        )

    def read(self, prompt: Any) -> str:
        text = prompt.prompt("› ")
        if text.strip() == '"""':
            lines = []
            while True:
                line = prompt.prompt("… ")
                if line.strip() == '"""':
                    break
                lines.append(line)
            text = "\n".join(lines)
        return text

    # ---- the loop ------------------------------------------------------------------------
    def run(self) -> None:
        prompt = self._prompt_session()
        self.console.print(
            f"[bold]kimrel chat[/bold] · {self.session.model} · /help for commands, Ctrl-D to leave"
        )
        while True:
            try:
                line = self.read(prompt)
            except KeyboardInterrupt:
                continue
            except EOFError:
                self.console.print("bye")
                return
            if not line.strip():
                continue
            try:
                command = parse_command(line)
            except CommandError as exc:
                self.console.print(f"[yellow]{exc}[/yellow]")
                continue
            if command is None:
                self.session.add_user(line)
                self.answer()
            elif self.command(command) == "exit":
                return

    def answer(self) -> None:
        try:
            waiting = f"waiting for {self.session.model}…"
            with StreamView(self.console, show_reasoning=True, waiting=waiting) as view:
                result = self.session.stream_turn(view.on_reasoning, view.on_text)
        except KeyboardInterrupt:
            self.console.print("[dim]stopped[/dim]")
            return
        except KimrelError as exc:
            self.console.print(
                f"[red]{exc.message}[/red]" + (f"\n[dim]{exc.hint}[/dim]" if exc.hint else "")
            )
            self.console.print(
                "[dim]your message is kept: /retry sends it again, /undo drops it[/dim]"
            )
            return
        self.console.print(footer(result, self.session.model))

    # ---- slash commands ------------------------------------------------------------------
    def command(self, command: Command) -> str | None:
        name, args, session = command.name, command.args, self.session
        if name == "/exit":
            return "exit"
        if name == "/help":
            self.console.print(help_text(), markup=False)
        elif name == "/model":
            if not args:
                for model, info in MODELS.items():
                    mark = "*" if model == session.model else " "
                    self.console.print(
                        f"{mark} {model:<18} {count(info.credits, 'credit')} · {info.description}"
                    )
            elif args[0] not in MODELS:
                self.console.print(f"[yellow]unknown model {args[0]}[/yellow]; /model lists them")
            else:
                session.model = args[0]
                self.console.print(f"model: {session.model}")
        elif name == "/system":
            self.system(command.rest)
        elif name == "/thinking":
            if args and args[0] in ("on", "off"):
                session.thinking = args[0] == "on"
            self.console.print(f"thinking: {'on' if session.thinking else 'off'}")
        elif name == "/image":
            self.image(args)
        elif name == "/retry":
            if session.messages and session.messages[-1]["role"] == "assistant":
                session.messages.pop()
            if session.pending_question():
                self.answer()
            else:
                self.console.print("[yellow]nothing to retry[/yellow]")
        elif name == "/undo":
            self.console.print(
                "dropped the last exchange"
                if session.undo()
                else "[yellow]nothing to undo[/yellow]"
            )
        elif name == "/clear":
            session.messages.clear()
            self.console.print("cleared")
        elif name == "/save":
            self.save(args[0] if args else None)
        elif name == "/load":
            self.load(args[0] if args else None)
        elif name == "/credits":
            try:
                with self.console.status("asking the API for your balance…", spinner="dots"):
                    data = session.client.credits().data
                left = data.get("credits_remaining")
                self.console.print(f"{count(left, 'credit')} left" if left is not None else "?")
            except KimrelError as exc:
                self.console.print(f"[red]{exc.message}[/red]")
        elif name == "/usage":
            self.console.print(
                f"{count(session.turns, 'answer')} · {number(session.tokens_in)} tokens in / "
                f"{number(session.tokens_out)} out · {count(session.credits_spent, 'credit')} spent"
                + (
                    f" · {number(session.last_credits)} left"
                    if session.last_credits is not None
                    else ""
                )
            )
        return None

    def image(self, args: list[str]) -> None:
        if not args:
            self.console.print("[yellow]usage: /image PATH|URL [question][/yellow]")
            return
        info = MODELS.get(self.session.model)
        if info is not None and not info.images:
            self.console.print(
                f"[yellow]{self.session.model} does not take images; /model kimi-k2.6 does[/yellow]"
            )
            return
        try:
            part = image_part(args[0])
        except KimrelError as exc:
            self.console.print(f"[red]{exc.message}[/red]")
            return
        question = " ".join(args[1:]) or "Describe this image."
        self.session.add_user([part, {"type": "text", "text": question}])
        self.answer()

    def system(self, rest: str) -> None:
        """`/system` shows the prompt; `/system TEXT` sets it; `/system --clear` removes it."""
        from rich.markup import escape

        if rest in ("--clear", '""', "''"):
            self.session.system = None
            self.console.print("system prompt cleared")
        elif rest:
            self.session.system = rest
            self.console.print(f"system prompt set: {escape(rest)}")
        elif self.session.system:
            self.console.print(f"system prompt: {escape(self.session.system)}")
        else:
            self.console.print("no system prompt (/system TEXT sets one)")

    def save(self, name: str | None) -> None:
        """Write the transcript; a failure is one error line and the session goes on."""
        from rich.markup import escape

        try:
            path = Path(name or "kimrel-chat.md").expanduser()
        except RuntimeError as exc:  # ~nosuchuser
            self.console.print(f"[red]cannot save to {escape(str(name))}: {escape(str(exc))}[/red]")
            return
        text = (
            to_json(self.session.messages, model=self.session.model)
            if path.suffix == ".json"
            else to_markdown(self.session.messages, model=self.session.model)
        )
        try:
            path.write_text(text, encoding="utf-8")
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            self.console.print(f"[red]cannot save to {escape(str(path))}: {escape(reason)}[/red]")
            return
        messages = count(len(self.session.messages), "message")
        self.console.print(f"saved {messages} to {escape(str(path))}")

    def load(self, name: str | None) -> None:
        from rich.markup import escape

        if not name:
            self.console.print("[yellow]usage: /load FILE[/yellow]")
            return
        path = Path(name).expanduser()
        try:
            text = path.read_text(encoding="utf-8")
            if path.suffix == ".json":
                model, messages = from_json(text)
                if model in MODELS:
                    self.session.model = model
            else:
                messages = from_markdown(text)
        except (OSError, ValueError, json.JSONDecodeError) as exc:
            self.console.print(f"[red]cannot load {escape(str(path))}: {escape(str(exc))}[/red]")
            return
        self.session.messages = messages
        self.console.print(f"loaded {count(len(messages), 'message')} from {escape(str(path))}")
