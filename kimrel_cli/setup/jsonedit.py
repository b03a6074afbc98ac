"""Order- and indentation-preserving edits of a JSON object file (Claude Code's settings.json), pure.

Every key keeps its place; new keys are appended; the file's indentation (tabs, 2 or 4 spaces),
line endings and final newline are kept. A file that is not valid JSON raises ConfigError naming
the line and column, and the caller leaves it untouched.
"""

from __future__ import annotations

import json
from typing import Any

from kimrel_cli.errors import ConfigError
from kimrel_cli.files import detect_newline


def parse_object(text: str, path: str) -> dict[str, Any]:
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{path} line {exc.lineno}, column {exc.colno}: {exc.msg}",
            hint="Fix the file by hand (kimrel has not changed it); Claude Code cannot read it either.",
            path=path,
            line=exc.lineno,
            column=exc.colno,
        ) from None
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: expected a JSON object at the top level", path=path)
    return value


def detect_indent(text: str) -> str | int:
    for line in text.splitlines()[1:]:
        stripped = line.lstrip(" \t")
        if stripped and len(stripped) < len(line):
            lead = line[: len(line) - len(stripped)]
            return "\t" if lead.startswith("\t") else len(lead)
    return 2


def dump_like(value: dict[str, Any], original: str) -> str:
    """Serialise `value` with the original text's indentation and line endings."""
    indent = detect_indent(original) if original.strip() else 2
    text = json.dumps(value, indent=indent, ensure_ascii=False)
    newline = detect_newline(original) if original else "\n"
    if newline != "\n":
        text = text.replace("\n", newline)
    if not original or original.endswith(("\n", "\r\n")):
        text += newline
    return text
