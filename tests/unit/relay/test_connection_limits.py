"""Connections that hold the relay open: idle, half a head, half a body, too many, out of fds.

A real relay on 127.0.0.1:0 with short, test-set timeouts; raw sockets play the slow client.
"""

from __future__ import annotations

import os
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from kimrel_cli.relay.context import RelayConfig
from kimrel_cli.relay.run import RunningRelay, start_relay_in_thread
from kimrel_cli.servers import ConnectionLimits
from tests.support import loopback

LIMITS = ConnectionLimits(header_timeout=0.5, keep_alive=1, max_connections=20)


@pytest.fixture
def relay(simulator: str) -> Iterator[RunningRelay]:
    config = RelayConfig(api_key="sk-sim-demo", base_url=simulator, token=None, body_timeout=0.5)
    running = start_relay_in_thread(config, limits=LIMITS)
    yield running
    running.stop()


def connect(relay: RunningRelay) -> socket.socket:
    host, port = relay.url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=5)
    return sock


def closed_within(sock: socket.socket, seconds: float) -> bytes:
    """Read until the relay closes the connection; fail if it stays open past `seconds`."""
    sock.settimeout(seconds)
    data = b""
    started = time.monotonic()
    while True:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            pytest.fail(f"still open after {time.monotonic() - started:.1f} s")
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk


def test_a_connection_that_sends_nothing_is_closed(relay: RunningRelay):
    with connect(relay) as sock:
        closed_within(sock, 3)


def test_half_a_request_head_is_closed(relay: RunningRelay):
    with connect(relay) as sock:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        time.sleep(0.3)
        sock.sendall(b"X-Slow: 1\r\n")  # a drip does not reset the head's deadline
        closed_within(sock, 3)


def test_half_a_body_gets_408_and_is_closed(relay: RunningRelay):
    with connect(relay) as sock:
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"model":'
        )
        answer = closed_within(sock, 3)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b'"error"' in answer


def test_an_idle_keep_alive_connection_is_closed(relay: RunningRelay):
    with connect(relay) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        answer = closed_within(sock, 4)
    assert answer.startswith(b"HTTP/1.1 200")


def test_connections_over_the_cap_are_closed_and_the_relay_still_answers(relay: RunningRelay):
    socks = [connect(relay) for _ in range(LIMITS.max_connections)]
    try:
        with connect(relay) as extra:
            closed_within(extra, 2)  # over the cap: closed at once
    finally:
        for sock in socks:
            sock.close()
    deadline = time.monotonic() + 3
    while True:
        try:
            assert loopback.get(relay.url + "/health", timeout=2).status_code == 200
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_a_low_fd_limit_gives_one_log_line_not_a_traceback_per_accept():
    def low_fd_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))

    proc = subprocess.Popen(
        [sys.executable, "-m", "kimrel_cli", "serve", "--simulate", "--port", "0", "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=low_fd_limit,
        env=dict(os.environ),
    )
    socks: list[socket.socket] = []
    try:
        from kimrel_cli.relay.state import read_state

        deadline = time.monotonic() + 15
        state = read_state()
        while state is None or state.pid != proc.pid:
            assert time.monotonic() < deadline and proc.poll() is None, "relay did not start"
            time.sleep(0.05)
            state = read_state()
        host, port = state.url.removeprefix("http://").split(":")
        for _ in range(100):
            socks.append(socket.create_connection((host, int(port)), timeout=5))
        time.sleep(2.5)  # asyncio retries a failed accept every second
        for sock in socks:
            sock.close()
        socks.clear()
        deadline = time.monotonic() + 5
        while loopback.get(state.url + "/health", timeout=2).status_code != 200:
            assert time.monotonic() < deadline
        assert proc.poll() is None, "the relay stopped"
    finally:
        for sock in socks:
            sock.close()
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    text = err.decode("utf-8", "replace")
    assert "Traceback" not in text, text[:3000]
    notes = [line for line in text.splitlines() if "kimrel:" in line]
    assert 1 <= len(notes) <= 2, text[-2000:]  # the cap (half the fd limit) or out of fds
