"""Fault injection: parse `X-Kimrel-Fault` specs and count how often each has fired.

Grammar: comma-separated `key=value` pairs:
  status=N        fail with HTTP N in the route's error shape (code=… sets the error code)
  retry_after=S   with status: a Retry-After header
  delay=S         wait S seconds before answering
  chunk_delay=S   wait S seconds between streamed chunks
  drop_after=N    abort the connection after N streamed chunks
  times=N         only the first N requests carrying this exact spec are affected
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from kimrel_cli.errors import BadRequest

_FLOATS = ("delay", "chunk_delay", "retry_after")
_INTS = ("status", "drop_after", "times")


@dataclass(frozen=True)
class Fault:
    spec: str
    status: int | None = None
    code: str | None = None
    retry_after: float | None = None
    delay: float = 0.0
    chunk_delay: float | None = None
    drop_after: int | None = None
    times: int | None = None


def parse_fault(spec: str) -> Fault:
    values: dict[str, object] = {}
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        key, sep, raw = part.partition("=")
        key = key.strip()
        if not sep:
            raise BadRequest(f"fault spec {spec!r}: expected key=value, got {part!r}")
        try:
            if key in _FLOATS:
                values[key] = float(raw)
            elif key in _INTS:
                values[key] = int(raw)
            elif key == "code":
                values[key] = raw.strip()
            else:
                raise BadRequest(f"fault spec {spec!r}: unknown key {key!r}")
        except ValueError:
            raise BadRequest(f"fault spec {spec!r}: {key} needs a number, not {raw!r}") from None
    return Fault(spec=spec, **values)  # type: ignore[arg-type]


class FaultCounter:
    """Remembers how many requests each spec has affected (for `times=N`)."""

    def __init__(self) -> None:
        self._seen: dict[str, int] = {}
        self._lock = threading.Lock()

    def applies(self, fault: Fault) -> bool:
        if fault.times is None:
            return True
        with self._lock:
            count = self._seen.get(fault.spec, 0) + 1
            self._seen[fault.spec] = count
        return count <= fault.times
