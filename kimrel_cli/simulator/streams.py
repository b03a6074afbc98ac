"""Streaming answers: pacing (chunk_delay), charging when the stream completes, dropped streams.

A `drop_after=N` fault raises inside the body iterator after N pieces: the server then aborts
the connection without ending the chunked body, so the client sees a broken stream (httpx:
RemoteProtocolError), not a clean end.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from starlette.responses import StreamingResponse


class DroppedConnection(Exception):
    """Raised inside a streaming body to abort the connection (fault drop_after)."""


def event_stream(
    pieces: list[bytes],
    *,
    on_complete: Callable[[], object],
    chunk_delay: float = 0.0,
    drop_after: int | None = None,
    headers: dict[str, str] | None = None,
) -> StreamingResponse:
    """An SSE response sending `pieces` in order; `on_complete` runs just before the last piece."""

    async def body() -> AsyncIterator[bytes]:
        for n, piece in enumerate(pieces):
            if drop_after is not None and n >= drop_after:
                raise DroppedConnection("fault injection: connection dropped mid-stream")
            if chunk_delay and n:
                await asyncio.sleep(chunk_delay)
            if n == len(pieces) - 1:
                on_complete()
            yield piece

    merged = {**(headers or {}), "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(body(), media_type="text/event-stream", headers=merged)
