"""Where output goes: stdout for data (`--json`, `key print`), stderr for messages and progress.

Consoles are created lazily so that importing the CLI does not import rich's heavy modules.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from rich.console import Console, RenderableType

    from kimrel_cli.errors import KimrelError


@lru_cache(maxsize=1)
def out() -> Console:
    """The console for data, on stdout."""
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


@lru_cache(maxsize=1)
def err() -> Console:
    """The console for messages, warnings and progress, on stderr."""
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def print_json(data: Any) -> None:
    """Machine-readable output on stdout: plain JSON, no colour, one trailing newline."""
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def print_raw(text: str) -> None:
    """Exact text on stdout, nothing added (for `key print` and piped answers)."""
    sys.stdout.write(text)
    sys.stdout.flush()


def info(message: str) -> None:
    err().print(message)


def warn(message: str) -> None:
    err().print(f"[yellow]warning:[/yellow] {message}")


def success(message: str) -> None:
    err().print(f"[green]✓[/green] {message}")


def waiting(message: str, *, quiet: bool = False) -> AbstractContextManager[Any]:
    """A spinner on stderr during a network wait; nothing when stderr is not a terminal (pipes,
    CI, log files) or when `quiet` (--json output)."""
    import contextlib

    console = err()
    if quiet or not console.is_terminal:
        return contextlib.nullcontext()
    return console.status(message, spinner="dots")


def render_error(exc: KimrelError) -> None:
    """`error: <message>` and the hint, on stderr, with rich markup escaped."""
    from rich.markup import escape

    err().print(f"[bold red]error:[/bold red] {escape(exc.message)}")
    if exc.hint:
        err().print(f"[dim]hint:[/dim] {escape(exc.hint)}")


@dataclass(frozen=True)
class Column:
    """One column of a fitted table.

    `keep` orders what goes when the terminal is narrow: the lowest `keep` is dropped first;
    an `id` column (what the user must type: model ids, account names) is never dropped or cut.
    A `wrap` column may break its cells between words (for messages such as errors).
    """

    header: str
    keep: int = 0
    justify: Literal["left", "right"] = "left"
    id: bool = False
    wrap: bool = False


def fitted_table(
    console: Console, columns: list[Column], rows: list[list[str]], *, title: str | None = None
) -> RenderableType:
    """A table that fits the console's width without cutting ids: drops low-`keep` columns first.

    Cells may hold rich markup. When columns are dropped, a dim caption names them.
    """
    from rich import box
    from rich.console import Group
    from rich.measure import Measurement
    from rich.table import Table
    from rich.text import Text

    shown = list(range(len(columns)))
    plain = [[Text.from_markup(cell).plain for cell in row] for row in rows]

    def fit(i: int) -> int:
        """Room for the longest cell and the header's longest word: nothing is ever cut."""
        words = columns[i].header.split() or [""]
        if columns[i].wrap:
            words += [word for row in plain for word in row[i].split()]
        cells = [] if columns[i].wrap else [len(row[i]) for row in plain]
        return max([*cells, *(len(word) for word in words)])

    def build(indexes: list[int]) -> Table:
        table = Table(
            box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, title=title, title_justify="left"
        )
        for i in indexes:
            column = columns[i]
            table.add_column(
                column.header,
                justify=column.justify,
                width=fit(i) if len(indexes) > 1 else None,
                no_wrap=column.id,
                overflow="fold",
            )
        for row in rows:
            table.add_row(*(row[i] for i in indexes))
        return table

    table = build(shown)
    droppable = sorted((c.keep, i) for i, c in enumerate(columns) if not c.id)
    dropped: list[str] = []
    options = console.options.update_width(10_000)  # the natural width, not the clamped one
    while droppable and Measurement.get(console, options, table).maximum > console.width:
        _, index = droppable.pop(0)
        shown.remove(index)
        dropped.append(columns[index].header)
        table = build(shown)
    if not dropped:
        return table
    note = Text(
        f"(not shown at this width: {', '.join(dropped)}; widen the terminal or use --json)",
        style="dim",
    )
    return Group(table, note)
