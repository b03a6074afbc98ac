"""Remote images in requests: fetched by the relay (http/https only, time limit, 6 MB cap),
checked (PNG, JPEG, WEBP, GIF; 8 MB encoded) and handed to the translator as data URLs.

Fetching is `kimrel_cli.hosted.images.afetch_image`; checking is `kimrel_cli.protocols.images`.
Failures are BadRequest errors (`invalid_image_url`, `image_too_large`, `encoded_image_too_large`,
`image_fetch_failed`) that the route renders in the caller's protocol.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kimrel_cli.relay.context import RelayContext

MAX_IMAGE_BYTES = 6 * 1024 * 1024


async def prefetch_images(urls: Iterable[str], ctx: RelayContext) -> dict[str, str]:
    """url → data URL for every remote image URL in a request (fetched concurrently)."""
    unique = list(dict.fromkeys(urls))
    if not unique:
        return {}
    from kimrel_cli.hosted.images import afetch_image
    from kimrel_cli.protocols.images import to_data_url

    async def one(url: str) -> tuple[str, str]:
        data, _ = await afetch_image(
            url, timeout=ctx.config.image_timeout, max_bytes=MAX_IMAGE_BYTES
        )
        return url, to_data_url(data)

    pairs = await asyncio.gather(*(one(u) for u in unique))
    return dict(pairs)
