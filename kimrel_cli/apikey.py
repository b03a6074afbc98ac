"""ApiKey: a secret whose str() and repr() are masked; `.reveal()` is the only way out.

Call `.reveal()` only where a request header is built and in `kimrel key print`.
"""

from __future__ import annotations

import re

# The key every simulator started without its own keys accepts (docs/simulator.md); here, in
# the core, so the relay (`serve --simulate`) and the simulator name it from one place.
SIMULATOR_DEMO_KEY = "sk-sim-demo"


class ApiKey:
    """An API key that never shows itself in logs, messages or tracebacks."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    @property
    def last4(self) -> str:
        return self._value[-4:] if len(self._value) >= 8 else ""

    @property
    def masked(self) -> str:
        return f"…{self.last4}" if self.last4 else "…"

    def __str__(self) -> str:
        return self.masked

    def __repr__(self) -> str:
        return f"ApiKey({self.masked})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ApiKey):
            return self._value == other._value
        return NotImplemented

    def __hash__(self) -> int:
        return hash(("ApiKey", self._value))

    def __bool__(self) -> bool:
        return bool(self._value)


def clean_key(raw: str) -> tuple[str, bool]:
    """Strip whitespace and newlines around a pasted key; return (key, whether anything was cut)."""
    stripped = raw.strip()
    return stripped, stripped != raw


# Anything shaped like an API key (`sk-…`), and the `user:pass@` part of a URL.
_KEY_SHAPED = re.compile(r"\bsk-[A-Za-z0-9_\-]{4,}")
_URL_CREDENTIALS = re.compile(r"(?<=://)[^/@\s]+@")
REDACTED = "[redacted]"


def redact(text: str, *secrets: ApiKey | str | None) -> str:
    """`text` with each secret, every `sk-…`-shaped string and URL credentials masked.

    Used on everything from upstream that the relay passes on or logs (error messages) and on
    URLs it shows, so a key echoed back by the API, or `http://user:pass@host`, never leaks.
    """
    for secret in secrets:
        value = secret.reveal() if isinstance(secret, ApiKey) else secret
        if value and len(value) >= 4:
            text = text.replace(value, REDACTED)
    text = _KEY_SHAPED.sub(REDACTED, text)
    return _URL_CREDENTIALS.sub(REDACTED + "@", text)
