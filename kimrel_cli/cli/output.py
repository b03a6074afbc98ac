"""Where output goes: stdout for data (`--json`, `key print`), stderr for messages and progress.

Consoles are created lazily so that importing the CLI does not import rich's heavy modules.
"""

from __future__ import annotations

import json
import sys
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

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


def render_error(exc: KimrelError) -> None:
    """`error: <message>` and the hint, on stderr, with rich markup escaped."""
    from rich.markup import escape

    err().print(f"[bold red]error:[/bold red] {escape(exc.message)}")
    if exc.hint:
        err().print(f"[dim]hint:[/dim] {escape(exc.hint)}")
