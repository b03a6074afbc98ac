"""Order- and indentation-preserving edits of a JSON object file (Claude Code's settings.json), pure.

Every key keeps its place; new keys are appended; the file's indentation (tabs, 2 or 4 spaces),
line endings and final newline are kept. Numbers with a fraction or exponent are written back as
they were written (`1e999` stays `1e999`, not `Infinity`). A file that is not valid JSON, or holds a
lone surrogate (`"\\ud800"`, which no UTF-8 file can carry), raises ConfigError naming the file, and
the caller leaves it untouched.
"""

from __future__ import annotations

import json
from typing import Any

from kimrel_cli.errors import ConfigError
from kimrel_cli.files import detect_newline


class JsonNumber(float):
    """A JSON number with a fraction or exponent, remembering its text for writing back."""

    text: str

    def __new__(cls, text: str) -> JsonNumber:
        number = super().__new__(cls, text)
        number.text = text
        return number


def _has_lone_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(_has_lone_surrogate(k) or _has_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_lone_surrogate(item) for item in value)
    return False


def parse_object(text: str, path: str) -> dict[str, Any]:
    if not text.strip():
        return {}
    try:
        value = json.loads(text, parse_float=JsonNumber)
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
    if _has_lone_surrogate(value):
        raise ConfigError(
            f"{path}: a string holds a lone surrogate escape (such as \\ud800), "
            "which cannot be written back as UTF-8",
            hint="Fix that string by hand (kimrel has not changed the file).",
            path=path,
        )
    return value


def _placeholders(value: Any, raw: dict[str, str]) -> Any:
    """`value` with every JsonNumber swapped for a unique string token (its text kept in `raw`)."""
    if isinstance(value, JsonNumber):
        token = f"\x00kimrel-number-{len(raw)}\x00"
        raw[token] = value.text
        return token
    if isinstance(value, dict):
        return {key: _placeholders(item, raw) for key, item in value.items()}
    if isinstance(value, list):
        return [_placeholders(item, raw) for item in value]
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
    raw: dict[str, str] = {}
    text = json.dumps(_placeholders(value, raw), indent=indent, ensure_ascii=False)
    for token, number in raw.items():
        text = text.replace(json.dumps(token), number, 1)
    newline = detect_newline(original) if original else "\n"
    if newline != "\n":
        text = text.replace("\n", newline)
    if not original or original.endswith(("\n", "\r\n")):
        text += newline
    return text
