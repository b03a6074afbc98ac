"""An ASGI wrapper that keeps every HTTP request it passes on, for tests that read what a real
client (or the relay) actually sent: method, path, query, headers, body and the answer's status."""

from __future__ import annotations

import json
from typing import Any


class Recorder:
    """ASGI wrapper keeping (method, path, query, headers, body, status) of every HTTP request."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.seen: list[dict[str, Any]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        entry: dict[str, Any] = {
            "method": scope["method"],
            "path": scope["path"],
            "query": scope.get("query_string", b"").decode(),
            "headers": {k.decode().lower(): v.decode() for k, v in scope["headers"]},
            "body": b"",
            "status": None,
        }
        self.seen.append(entry)

        async def recv() -> Any:
            message = await receive()
            if message["type"] == "http.request":
                entry["body"] += message.get("body", b"")
            return message

        async def snd(message: Any) -> None:
            if message["type"] == "http.response.start":
                entry["status"] = message["status"]
            await send(message)

        await self.app(scope, recv, snd)

    def bodies(self, path_end: str) -> list[dict[str, Any]]:
        """The JSON bodies POSTed to paths ending in `path_end`, in order."""
        return [
            json.loads(e["body"])
            for e in self.seen
            if e["path"].endswith(path_end) and e["method"] == "POST" and e["body"]
        ]
