"""Fetch a remote image URL with a time limit and a size cap (http and https only).

`afetch_image` is the relay's (remote image URLs are inlined as data URLs for models that take
images): it uses the relay's one shared client, built by `egress.guarded_client`, which refuses
private, local and metadata addresses on every redirect hop. `fetch_image` is the chat REPL's
`/image URL`, fetched for the user at the keyboard (any address they type). The type and size
checks on the bytes live in `protocols/images.py`.
"""

from __future__ import annotations

from urllib.parse import urlparse

import httpx

from kimrel_cli.errors import BadRequest
from kimrel_cli.protocols.images import MAX_ORIGINAL_BYTES

MAX_IMAGE_BYTES = MAX_ORIGINAL_BYTES  # the hosted API's limit, checked again on the bytes


def _check_url(url: str) -> None:
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise BadRequest(
            f"image URLs must be http(s); got {url[:60]!r}",
            wire_code="invalid_image_url",
            hint="Send the image inline (base64 / data URL) or as an http(s) URL.",
        )


def _too_large(max_bytes: int) -> BadRequest:
    return BadRequest(
        f"the image is larger than {max_bytes // (1024 * 1024)} MB",
        wire_code="image_too_large",
        hint=f"Images may be at most {MAX_IMAGE_BYTES // (1024 * 1024)} MB; send a smaller one.",
    )


FETCH_FAILED = "could not fetch an image URL in the request"


def _failed(url: str = "", why: str = "") -> BadRequest:
    """One message for every fetch failure: no status, port or connection detail (no port scan)."""
    del url, why
    return BadRequest(
        FETCH_FAILED,
        wire_code="image_fetch_failed",
        hint="Check that the image URL is public and reachable, or send the image inline.",
    )


def fetch_image(
    url: str,
    *,
    timeout: float = 10.0,
    max_bytes: int = MAX_IMAGE_BYTES,
    transport: httpx.BaseTransport | None = None,
) -> tuple[bytes, str]:
    """(bytes, content type) of the image at `url`, or BadRequest."""
    _check_url(url)
    try:
        with (
            httpx.Client(timeout=timeout, transport=transport, follow_redirects=True) as client,
            client.stream("GET", url) as response,
        ):
            if response.status_code != 200:
                raise _failed(url, f"HTTP {response.status_code}")
            data = bytearray()
            for piece in response.iter_bytes():
                data += piece
                if len(data) > max_bytes:
                    raise _too_large(max_bytes)
            return bytes(data), response.headers.get("content-type", "")
    except httpx.HTTPError as exc:
        raise _failed(url, type(exc).__name__) from None


REDIRECTS = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5


async def afetch_image(
    url: str,
    *,
    client: httpx.AsyncClient,
    max_bytes: int = MAX_IMAGE_BYTES,
    max_redirects: int = MAX_REDIRECTS,
) -> tuple[bytes, str]:
    """(bytes, content type) of the image at `url`, fetched with `client`, or BadRequest.

    Redirects are followed here, one hop at a time (at most `max_redirects`), each to an
    http(s) URL checked again, so a client built by `egress.guarded_client` checks every hop's
    connection. Every failure is the same `image_fetch_failed` (no port scan through the text).
    """
    _check_url(url)
    try:
        current = httpx.URL(url)
        for _ in range(max_redirects + 1):
            async with client.stream("GET", current) as response:
                if response.status_code in REDIRECTS and "location" in response.headers:
                    target = current.join(response.headers["location"])
                    if target.scheme not in ("http", "https"):
                        raise _failed()
                    current = target
                    continue
                if response.status_code != 200:
                    raise _failed()
                data = bytearray()
                async for piece in response.aiter_bytes():
                    data += piece
                    if len(data) > max_bytes:
                        raise _too_large(max_bytes)
                return bytes(data), response.headers.get("content-type", "")
    except (httpx.HTTPError, httpx.InvalidURL, ValueError):
        raise _failed() from None
    raise _failed()  # too many redirects
