"""Remote image URLs per request are capped before anything is fetched (issue 14)."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from kimrel_cli.catalogue import MODELS
from kimrel_cli.config import Settings
from kimrel_cli.errors import BadRequest
from kimrel_cli.relay.context import RelayConfig, build_context
from kimrel_cli.relay.images import MAX_IMAGE_URLS, prefetch_images


def prefetch(urls, *, timeout=5.0, allow="127.0.0.1", model="kimi-k2.6"):
    """prefetch_images on a fresh relay context whose allow-list lets 127.0.0.1 through."""

    async def run():
        ctx = build_context(
            RelayConfig(
                api_key="sk-test",
                base_url="http://127.0.0.1:9",
                settings=Settings(image_fetch_allow=allow),
                image_timeout=timeout,
            )
        )
        try:
            return await prefetch_images(urls, ctx, MODELS.get(model), model)
        finally:
            await ctx.aclose()

    return asyncio.run(run())


def test_too_many_urls_is_a_400_and_nothing_connects():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(256)
    listener.setblocking(False)
    port = listener.getsockname()[1]
    urls = [f"http://127.0.0.1:{port}/{i}.png" for i in range(200)]
    started = time.monotonic()
    with pytest.raises(BadRequest) as err:
        prefetch(urls)
    assert time.monotonic() - started < 1.0
    assert err.value.wire_code == "too_many_images"
    assert str(MAX_IMAGE_URLS) in str(err.value)
    with pytest.raises(BlockingIOError):
        listener.accept()  # no connection was made
    listener.close()


def _serve(handler):
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)

    def run():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=handler, args=(conn,), daemon=True).start()

    threading.Thread(target=run, daemon=True).start()
    return listener


def _error_500(conn):
    conn.recv(65536)
    conn.sendall(b"HTTP/1.1 500 Oops\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
    conn.close()


def _slow_drip(conn):
    conn.recv(65536)
    try:
        conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n")
        for _ in range(200):
            conn.sendall(b"x")
            time.sleep(0.1)
    except OSError:
        pass
    conn.close()


def _message(url, timeout=5.0):
    with pytest.raises(BadRequest) as err:
        prefetch([url], timeout=timeout)
    return err.value


def test_fetch_failures_share_one_message():
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    server = _serve(_error_500)
    open_port = server.getsockname()[1]
    a = _message(f"http://127.0.0.1:{closed_port}/a.png")
    b = _message(f"http://127.0.0.1:{open_port}/a.png")
    server.close()
    assert str(a) == str(b)
    assert a.wire_code == b.wire_code == "image_fetch_failed"
    assert str(closed_port) not in str(a) and "Connect" not in str(a)


def test_slow_drip_is_cut_at_the_deadline():
    server = _serve(_slow_drip)
    started = time.monotonic()
    err = _message(f"http://127.0.0.1:{server.getsockname()[1]}/a.png", timeout=0.5)
    elapsed = time.monotonic() - started
    server.close()
    assert err.wire_code == "image_fetch_failed"
    assert elapsed < 3.0
