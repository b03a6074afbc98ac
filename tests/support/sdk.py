"""SDK clients that are closed after the test which made them (conftest's `close_sdk_clients`).

An openai/anthropic client keeps pooled connections open; one never closed leaves an unclosed
socket behind (a ResourceWarning, an error in this suite). Make clients with these functions.
"""

from __future__ import annotations

from typing import Any

_open: list[Any] = []


def openai_client(**kwargs: Any) -> Any:
    import openai

    client = openai.OpenAI(**kwargs)
    _open.append(client)
    return client


def anthropic_client(**kwargs: Any) -> Any:
    import anthropic

    client = anthropic.Anthropic(**kwargs)
    _open.append(client)
    return client


def close_all() -> None:
    while _open:
        _open.pop().close()
