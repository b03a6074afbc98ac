"""Rendering a streamed answer: dimmed reasoning set apart, then Markdown; and the footer line.

Renderables only; the REPL decides where they go. rich.markdown is imported here and nowhere
near `kimrel --help`.
"""

from __future__ import annotations

from typing import Any

from kimrel_cli.chat.session import TurnResult


class StreamView:
    """A live view of one answer, updated as pieces arrive (rich Live, rate-limited refresh)."""

    def __init__(
        self, console: Any, *, show_reasoning: bool = True, waiting: str | None = None
    ) -> None:
        self.console = console
        self.show_reasoning = show_reasoning
        self.waiting = waiting  # shown with a spinner until the first piece arrives
        self.reasoning = ""
        self.text = ""
        self._live: Any = None

    def __rich__(self) -> Any:
        from rich.console import Group
        from rich.markdown import Markdown
        from rich.panel import Panel
        from rich.text import Text

        parts: list[Any] = []
        if self.waiting and not (self.reasoning or self.text):
            from rich.spinner import Spinner

            return Spinner("dots", text=Text(self.waiting, style="dim"))
        if self.reasoning and self.show_reasoning:
            parts.append(
                Panel(
                    Text(self.reasoning, style="dim italic"),
                    title="thinking",
                    title_align="left",
                    border_style="dim",
                )
            )
        if self.text:
            parts.append(Markdown(self.text, code_theme="monokai"))
        return Group(*parts)

    def __enter__(self) -> StreamView:
        from rich.live import Live

        self._live = Live(
            self,
            console=self.console,
            refresh_per_second=10,
            vertical_overflow="visible",
            transient=False,
        )
        self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.waiting = None  # an answer that never came leaves no spinner behind
        if self._live is not None:
            self._live.refresh()
            self._live.__exit__(None, None, None)

    def on_reasoning(self, piece: str) -> None:
        self.reasoning += piece

    def on_text(self, piece: str) -> None:
        self.text += piece


def footer(result: TurnResult, model: str) -> Any:
    """model · tokens in/out · latency · credits charged · credits left.

    A stopped answer shows what the balance says it cost: the API bills completed answers, so
    usually nothing.
    """
    from rich.text import Text

    from kimrel_cli.wording import count, number

    def tokens_of(value: int | None) -> str:
        return "?" if value is None else number(value)

    tokens = f"{tokens_of(result.prompt_tokens)} in / {tokens_of(result.completion_tokens)} out"
    left = (
        f"{count(result.credits_left, 'credit')} left"
        if result.credits_left is not None
        else "credits left unknown"
    )
    charged = (
        count(result.credits_charged, "credit")
        if result.credits_charged is not None
        else "charge unknown"
    )
    if result.interrupted:
        note = " · interrupted" + (" (not charged)" if result.credits_charged == 0 else "")
    else:
        note = " · cut at max tokens" if result.finish_reason == "length" else ""
    if result.budget_left is not None:  # the tightest spend cap (kimrel budget)
        name, budget_left, limit = result.budget_left
        note += f" · {name} budget {number(budget_left)}/{number(limit)} left"
    return Text(
        f"{model} · {tokens} · {result.latency:.1f} s · {charged} · {left}{note}", style="dim"
    )
