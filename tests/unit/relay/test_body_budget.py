"""Large request bodies held at once are bounded relay-wide (issue 14: 8 concurrent 31 MB bodies
peaked at 1 GB): over the budget a large body is refused at once, 503 + Retry-After in the
caller's shape, while small requests still pass. Real sockets against a real relay."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import pytest

from kimrel_cli.relay.context import RelayConfig
from kimrel_cli.relay.run import RunningRelay, start_relay_in_thread
from kimrel_cli.relay.security import BodyLimit
from tests.support import loopback

MAX_BODY = 64 * 1024  # so the budget is 4 × 64 KB and a "large" body is over 4 KB
BIG = 60 * 1024


@pytest.fixture
def relay(simulator: str) -> Iterator[RunningRelay]:
    running = start_relay_in_thread(
        RelayConfig(api_key="sk-sim-demo", base_url=simulator, token=None, max_body=MAX_BODY)
    )
    yield running
    running.stop()


def _port(relay: RunningRelay) -> int:
    return int(relay.url.rsplit(":", 1)[1])


def start_upload(
    relay: RunningRelay, path: str, size: int, *, chunked: bool = False
) -> socket.socket:
    """A POST whose head and first kilobyte are sent; the rest never comes (the test holds it)."""
    conn = socket.create_connection(("127.0.0.1", _port(relay)), timeout=10)
    framing = "transfer-encoding: chunked" if chunked else f"content-length: {size}"
    head = f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
    conn.sendall(f"{head}{framing}\r\n\r\n".encode())
    first = b'{"model":"kimi-k2","x":"' + b"x" * 1000
    conn.sendall(b"%x\r\n%s\r\n" % (len(first), first) if chunked else first)
    return conn


def answer_of(conn: socket.socket) -> tuple[int, dict[str, str], dict]:
    data = b""
    while b"\r\n\r\n" not in data:
        piece = conn.recv(65536)
        assert piece, "connection closed without an answer"
        data += piece
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    while len(rest) < int(headers["content-length"]):
        rest += conn.recv(65536)
    return int(lines[0].split()[1]), headers, json.loads(rest)


def no_answer_yet(conn: socket.socket) -> bool:
    conn.settimeout(0.2)
    try:
        return conn.recv(1) == b""  # closed would be an answer of sorts: fail below
    except TimeoutError:
        return True
    finally:
        conn.settimeout(10)


def test_large_bodies_over_the_budget_are_refused_while_small_requests_pass(relay):
    held = [start_upload(relay, "/v1/chat/completions", BIG) for _ in range(4)]  # 240 KB ≤ 256
    try:
        assert all(no_answer_yet(conn) for conn in held)  # still being received: not refused

        with start_upload(relay, "/v1/messages", BIG) as extra:
            status, headers, body = answer_of(extra)
        assert status == 503
        assert headers["retry-after"] == "1"
        assert body["type"] == "error" and body["error"]["type"] == "overloaded_error"

        with start_upload(relay, "/v1/chat/completions", BIG, chunked=True) as chunked:
            more = b"y" * 20000
            chunked.sendall(b"%x\r\n%s\r\n" % (len(more), more))  # 21 KB more than the 16 KB left
            status, headers, body = answer_of(chunked)
        assert status == 503 and body["error"]["code"] == "overloaded"

        small = loopback.post(
            relay.url + "/v1/chat/completions",
            json={"model": "kimi-k2", "messages": [{"role": "user", "content": "hi"}]},
            timeout=10,
        )
        assert small.status_code == 200, small.text
    finally:
        for conn in held:
            conn.close()

    # the held uploads are gone: their share of the budget comes back as the relay notices
    big = {
        "model": "kimi-k2",
        "messages": [{"role": "user", "content": "x" * (BIG - 200)}],
        "max_tokens": 5,
    }
    for _ in range(50):
        again = loopback.post(relay.url + "/v1/chat/completions", json=big, timeout=10)
        if again.status_code != 503:
            break
        time.sleep(0.05)
    assert again.status_code == 200, again.text


def test_the_budget_follows_the_body_limit():
    limit = BodyLimit(lambda *a: None, max_bytes=32 * 1024 * 1024)  # type: ignore[arg-type,return-value]
    assert limit.budget.limit == 128 * 1024 * 1024
    assert limit.large == 2 * 1024 * 1024
