"""Unified diffs of what setup would change, as text and as a coloured rich renderable."""

from __future__ import annotations

import difflib
from typing import Any


def unified(path: str, before: str | None, after: str | None) -> str:
    a = (before or "").splitlines(keepends=True)
    b = (after or "").splitlines(keepends=True)
    lines = difflib.unified_diff(
        a,
        b,
        fromfile=f"{path} (now)" if before is not None else "/dev/null",
        tofile=f"{path} (kimrel)" if after is not None else "/dev/null",
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def coloured(diff: str) -> Any:
    from rich.text import Text

    text = Text()
    for line in diff.splitlines(keepends=True):
        style = (
            "green"
            if line.startswith("+")
            else "red"
            if line.startswith("-")
            else "cyan"
            if line.startswith("@@")
            else "dim"
        )
        text.append(line, style=style)
    return text
