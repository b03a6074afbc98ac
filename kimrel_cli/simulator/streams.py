"""Streaming answers: pacing (chunk_delay), charging when the stream completes, dropped streams.

A `drop_after=N` fault sends N pieces and then returns without ending the chunked body: the
server closes the connection mid-response, so the client sees a broken stream (httpx:
RemoteProtocolError), not a clean end. (uvicorn logs one line, "ASGI callable returned without
completing response", rather than a traceback.) A client that goes away ends the stream at once
(uncharged), so a server stopping has no paced stream left to cancel.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from starlette.responses import Response

MEDIA_TYPE = "text/event-stream"


class EventStream(Response):
    """An SSE response sending pre-rendered pieces in order."""

    media_type = MEDIA_TYPE

    def __init__(
        self,
        pieces: list[bytes],
        *,
        on_complete: Callable[[], object],
        on_abandon: Callable[[], object] | None = None,
        chunk_delay: float = 0.0,
        drop_after: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        merged = {**(headers or {}), "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        # Like StreamingResponse: no `body` attribute, so no Content-Length header.
        self.status_code = 200
        self.background = None
        self.init_headers(merged)
        self.pieces = pieces
        self.on_complete = on_complete
        self.on_abandon = on_abandon
        self.completed = False
        self.chunk_delay = chunk_delay
        self.drop_after = drop_after

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        body = asyncio.ensure_future(self._send_all(send))
        watch = asyncio.ensure_future(_disconnect(receive))
        try:
            await asyncio.wait({body, watch}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            watch.cancel()
            body.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watch
            with contextlib.suppress(asyncio.CancelledError):
                await body
            if not self.completed and self.on_abandon is not None:
                self.on_abandon()  # dropped or left before the last piece: not charged

    async def _send_all(self, send: Any) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        for n, piece in enumerate(self.pieces):
            if self.drop_after is not None and n >= self.drop_after:
                return  # the body never ends: the server aborts the connection
            if self.chunk_delay and n:
                await asyncio.sleep(self.chunk_delay)
            if n == len(self.pieces) - 1:
                self.completed = True
                self.on_complete()
            await send({"type": "http.response.body", "body": piece, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _disconnect(receive: Any) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def event_stream(
    pieces: list[bytes],
    *,
    on_complete: Callable[[], object],
    on_abandon: Callable[[], object] | None = None,
    chunk_delay: float = 0.0,
    drop_after: int | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """An SSE response sending `pieces` in order; `on_complete` runs just before the last piece,
    `on_abandon` once if the stream ends without reaching it (dropped, client gone)."""
    return EventStream(
        pieces,
        on_complete=on_complete,
        on_abandon=on_abandon,
        chunk_delay=chunk_delay,
        drop_after=drop_after,
        headers=headers,
    )
