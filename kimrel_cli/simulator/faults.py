"""Fault injection: parse `X-Kimrel-Fault` specs and count how often each has fired.

Grammar: comma-separated `key=value` pairs:
  status=N        fail with HTTP N in the route's error shape (code=… sets the error code)
  retry_after=S   with status: a Retry-After header
  delay=S         wait S seconds before answering
  chunk_delay=S   wait S seconds between streamed chunks
  drop_after=N    abort the connection after N streamed chunks
  times=N         only the first N requests carrying this exact spec are affected
  echo_key=1      with status: the error message echoes the caller's API key (as some
                  upstreams do), to test that the relay redacts it
"""

from __future__ import annotations

import threading
from dataclasses import dataclass


class FaultSpecError(ValueError):
    """A fault spec that does not parse; the message names the problem."""


_FLOATS = ("delay", "chunk_delay", "retry_after")
_INTS = ("status", "drop_after", "times", "echo_key")


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
    echo_key: bool = False


def parse_fault(spec: str) -> Fault:
    """Parse a spec such as `status=503,times=2`; FaultSpecError names what is wrong."""
    floats: dict[str, float] = {}
    ints: dict[str, int] = {}
    code: str | None = None
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        key, sep, raw = part.partition("=")
        key, raw = key.strip(), raw.strip()
        if not sep:
            raise FaultSpecError(f"fault spec {spec!r}: expected key=value, got {part!r}")
        if key not in (*_FLOATS, *_INTS, "code"):
            known = ", ".join((*_INTS, *_FLOATS, "code"))
            raise FaultSpecError(f"fault spec {spec!r}: unknown key {key!r} (known: {known})")
        if key == "code":
            code = raw
            continue
        try:
            number = float(raw) if key in _FLOATS else int(raw)
        except ValueError:
            kind = "a number" if key in _FLOATS else "a whole number"
            raise FaultSpecError(f"fault spec {spec!r}: {key} needs {kind}, not {raw!r}") from None
        if not 0 <= number < 1e6:
            raise FaultSpecError(f"fault spec {spec!r}: {key} must be 0 or more, not {raw!r}")
        if key in _FLOATS:
            floats[key] = float(number)
        else:
            ints[key] = int(number)
    status = ints.get("status")
    if status is not None and not 400 <= status <= 599:
        raise FaultSpecError(f"fault spec {spec!r}: status must be 400-599, not {status}")
    return Fault(
        spec=spec,
        status=status,
        code=code,
        retry_after=floats.get("retry_after"),
        delay=floats.get("delay", 0.0),
        chunk_delay=floats.get("chunk_delay"),
        drop_after=ints.get("drop_after"),
        times=ints.get("times"),
        echo_key=bool(ints.get("echo_key")),
    )


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
