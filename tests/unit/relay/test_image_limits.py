"""Remote image URLs per request are capped before anything is fetched (issue 14)."""

from __future__ import annotations

import asyncio
import socket
import time
from types import SimpleNamespace

import pytest

from kimrel_cli.errors import BadRequest
from kimrel_cli.relay.images import MAX_IMAGE_URLS, prefetch_images


def test_too_many_urls_is_a_400_and_nothing_connects():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(256)
    listener.setblocking(False)
    port = listener.getsockname()[1]
    urls = [f"http://127.0.0.1:{port}/{i}.png" for i in range(200)]
    ctx = SimpleNamespace(config=SimpleNamespace(image_timeout=5.0))
    started = time.monotonic()
    with pytest.raises(BadRequest) as err:
        asyncio.run(prefetch_images(urls, ctx))  # type: ignore[arg-type]
    assert time.monotonic() - started < 1.0
    assert err.value.wire_code == "too_many_images"
    assert str(MAX_IMAGE_URLS) in str(err.value)
    with pytest.raises(BlockingIOError):
        listener.accept()  # no connection was made
    listener.close()
