"""A tiny, cheap stand-in for the hosted API, for benchmarks/relay_bench.py (not the simulator:
this one spends as little CPU as possible, so on a 2-core machine it steals little from what is
measured).

    python3 benchmarks/upstream.py FAST_DELAY SLOW_DELAY SLOW_TTFB SLOW_STREAM_SECONDS CHUNKS

Listens on two ephemeral ports of 127.0.0.1 and prints their base URLs, one a line: the first
answers at once (a stream's chunks back to back), the second like a real model (a non-streaming
answer after SLOW_DELAY seconds; a stream's first chunk after SLOW_TTFB, then CHUNKS chunks
spread over SLOW_STREAM_SECONDS). Speaks just enough HTTP/1.1 (keep-alive, Content-Length
requests) for httpx, LiteLLM's client and the benchmark's own client:
`POST /v1/chat/completions` (stream or not, usage in the last chunk when asked),
`GET /v1/models`, `GET /user/credits`, `GET /health`.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import dataclass

CONTENT = "The quick brown fox jumps over the lazy dog. " * 6  # ~270 characters
# The hosted API's per-minute limit, as its headers give it: set far above any run's rate, or
# the relay's pacer would hold requests at the balance's tier limit (500 a minute) and the
# benchmark would measure the hold.
RATE_HEADERS = b"x-credits-remaining: 1000000000\r\nx-ratelimit-limit: 100000000\r\n"
HEADERS_JSON = b"content-type: application/json\r\n" + RATE_HEADERS


@dataclass(frozen=True)
class Profile:
    delay: float  # seconds before a non-streaming answer
    ttfb: float  # seconds before a stream's first chunk
    stream_seconds: float  # the rest of the stream is spread over this long
    chunks: int


def completion(model: str) -> bytes:
    return json.dumps(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": CONTENT},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 20, "completion_tokens": 60, "total_tokens": 80},
        },
        separators=(",", ":"),
    ).encode()


def chunk_frames(model: str, chunks: int, usage: bool) -> list[bytes]:
    """The stream's SSE events, each already framed as one HTTP chunk."""
    words = (CONTENT.split(" ") * (chunks // 40 + 2))[:chunks]
    head = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 0, "model": model}
    events = []
    for i, word in enumerate(words):
        last = i == len(words) - 1
        delta = {"role": "assistant", "content": word + " "} if i == 0 else {"content": word + " "}
        body = {
            **head,
            "choices": [{"index": 0, "delta": delta, "finish_reason": "stop" if last else None}],
        }
        events.append(json.dumps(body, separators=(",", ":")))
    if usage:
        events.append(
            json.dumps(
                {
                    **head,
                    "choices": [],
                    "usage": {
                        "prompt_tokens": 20,
                        "completion_tokens": chunks,
                        "total_tokens": 20 + chunks,
                    },
                },
                separators=(",", ":"),
            )
        )
    events.append("[DONE]")
    frames = []
    for data in events:
        payload = f"data: {data}\n\n".encode()
        frames.append(b"%x\r\n%s\r\n" % (len(payload), payload))
    return frames


class Upstream(asyncio.Protocol):
    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.busy = False
        self.cache: dict[tuple[str, bool], tuple[bytes, list[bytes]]] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.busy:
            self.next_request()

    def next_request(self) -> None:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = self.buffer[:end].decode("latin-1")
        lines = head.split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        if len(self.buffer) < end + 4 + length:
            return
        body = self.buffer[end + 4 : end + 4 + length]
        self.buffer = self.buffer[end + 4 + length :]
        self.busy = True
        asyncio.get_running_loop().create_task(self.answer(method, path.split("?")[0], body))

    async def answer(self, method: str, path: str, body: bytes) -> None:
        assert self.transport is not None
        write = self.transport.write
        if path.endswith("/chat/completions") and method == "POST":
            request = json.loads(body or b"{}")
            model = str(request.get("model") or "kimi-k2")
            if request.get("stream"):
                usage = bool((request.get("stream_options") or {}).get("include_usage"))
                await self.stream(write, model, usage)
            else:
                if self.profile.delay:
                    await asyncio.sleep(self.profile.delay)
                self.send(write, 200, completion(model))
        elif path.endswith("/user/credits"):
            self.send(write, 200, b'{"credits_remaining":1000000000}')
        elif path.endswith("/models"):
            self.send(write, 200, b'{"object":"list","data":[{"id":"kimi-k2","object":"model"}]}')
        elif path.endswith("/health"):
            self.send(write, 200, b'{"status":"ok"}')
        else:
            self.send(
                write, 404, b'{"error":{"message":"not found","type":"invalid_request_error"}}'
            )
        self.busy = False
        if self.buffer and not self.transport.is_closing():
            self.next_request()

    @staticmethod
    def send(write: object, status: int, body: bytes) -> None:
        reason = b"OK" if status == 200 else b"Not Found"
        write(  # type: ignore[operator]
            b"HTTP/1.1 %d %s\r\n%scontent-length: %d\r\n\r\n%s"
            % (status, reason, HEADERS_JSON, len(body), body)
        )

    async def stream(self, write: object, model: str, usage: bool) -> None:
        profile = self.profile
        key = (model, usage)
        if key not in self.cache:
            self.cache[key] = (b"", chunk_frames(model, profile.chunks, usage))
        frames = self.cache[key][1]
        write(  # type: ignore[operator]
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
            + RATE_HEADERS
            + b"transfer-encoding: chunked\r\n\r\n"
        )
        if profile.ttfb:
            await asyncio.sleep(profile.ttfb)
        gap = profile.stream_seconds / max(1, len(frames) - 1)
        start = time.monotonic()
        for i, frame in enumerate(frames):
            if gap and i:
                wait = start + i * gap - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
            write(frame)  # type: ignore[operator]
        write(b"0\r\n\r\n")  # type: ignore[operator]


async def main(fast: Profile, slow: Profile) -> None:
    loop = asyncio.get_running_loop()
    servers = []
    for profile in (fast, slow):
        server = await loop.create_server(lambda p=profile: Upstream(p), "127.0.0.1", 0)
        servers.append(server)
        port = server.sockets[0].getsockname()[1]
        print(f"http://127.0.0.1:{port}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    fast_delay, slow_delay, slow_ttfb, slow_seconds = map(float, sys.argv[1:5])
    chunks = int(sys.argv[5])
    try:
        asyncio.run(
            main(
                Profile(fast_delay, 0.0, 0.0, chunks),
                Profile(slow_delay, slow_ttfb, slow_seconds, chunks),
            )
        )
    except KeyboardInterrupt:
        pass
