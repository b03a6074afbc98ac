"""`loads` without importing json: the C scanner behind json.loads, for the status line.

`import json` also imports re and enum (json's pure-Python parts use regular expressions),
which is most of what the status line would pay at start-up for reading two small JSON
objects. `_json.make_scanner` is the C parser json.loads itself uses (same strictness, same
results); this module only skips the whitespace around the value. Without `_json` (another
Python implementation), and for invalid input, it hands over to json: errors are json's.
"""

from __future__ import annotations

TYPE_CHECKING = False  # no typing at run time: this module exists to be cheap to import
if TYPE_CHECKING:
    from typing import Any

_WHITESPACE = " \t\n\r"
_CONSTANTS = {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}


class _Context:
    """The attributes `_json.make_scanner` reads (json.JSONDecoder's defaults)."""

    def __init__(self) -> None:
        self.strict = True
        self.object_hook = None
        self.object_pairs_hook = None
        self.parse_float = float
        self.parse_int = int
        self.parse_constant = _CONSTANTS.__getitem__
        self.memo: dict[str, str] = {}


def loads(data: str | bytes) -> Any:
    """Parse one JSON document (bytes are UTF-8, a BOM is skipped), like json.loads."""
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    text = text.removeprefix("\ufeff")
    try:
        import _json
    except ImportError:  # pragma: no cover - CPython has it
        import json

        return json.loads(text)
    start = 0
    while start < len(text) and text[start] in _WHITESPACE:
        start += 1
    try:
        value, end = _json.make_scanner(_Context())(text, start)  # type: ignore[arg-type]
    except StopIteration:
        raise ValueError(f"Expecting value: char {start}") from None
    except Exception:
        # Invalid JSON: the C scanner words its error with json.decoder's JSONDecodeError, which
        # it finds only if json is imported (else SystemError). Let json parse it and say why.
        import json

        return json.loads(text)
    if text[end:].strip(_WHITESPACE):
        raise ValueError(f"Extra data: char {end}")
    return value
