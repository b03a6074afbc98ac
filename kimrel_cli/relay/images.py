"""Remote images in requests: fetched by the relay (http/https only, time limit, 6 MB cap),
checked (PNG, JPEG, WEBP, GIF; 8 MB encoded) and handed to the translator as data URLs.

Only for a model that takes images (`ModelInfo.images`): for a text-only model nothing is fetched
(the translators put `[image omitted: model has no vision]` in the image's place), and a model
the catalogue does not know gets a 400 before any fetch. Fetches go through the relay's one
shared client (`shared_client`, built by `hosted.egress.guarded_client`: public addresses only,
checked after DNS and on every redirect hop, `relay.image_fetch_allow` excepted).

Fetching is `kimrel_cli.hosted.images.afetch_image`; checking is `kimrel_cli.protocols.images`.
Chat Completions requests on the pass-through route get the same treatment for models that take
images (`chat_image_urls`, `inline_chat_images`). Failures are BadRequest errors
(`invalid_image_url`, `image_too_large`, `encoded_image_too_large`, `image_fetch_failed`,
`too_many_images`, `image_url_unsupported`) that the route renders in the caller's protocol.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from kimrel_cli.catalogue import MODELS, ModelInfo
from kimrel_cli.errors import BadRequest

if TYPE_CHECKING:
    import httpx

    from kimrel_cli.relay.context import RelayContext

MAX_IMAGE_BYTES = 6 * 1024 * 1024
MAX_ENCODED_BYTES = 8 * 1024 * 1024
MAX_IMAGE_URLS = 16  # remote image URLs per request; more is a 400 before anything is fetched
MAX_CONCURRENT_FETCHES = 4  # fetches in flight for one request


def shared_client(ctx: RelayContext) -> httpx.AsyncClient:
    """The relay's one client for image fetches: made on first use, closed by `ctx.aclose`."""
    if ctx.image_client is None:
        from kimrel_cli.hosted.egress import guarded_client

        ctx.image_client = guarded_client(
            ctx.settings.image_fetch_allow, timeout=ctx.config.image_timeout
        )
    client: httpx.AsyncClient = ctx.image_client
    return client


def _no_remote_images(model: str) -> BadRequest:
    vision = ", ".join(m.id for m in MODELS.values() if m.images)
    return BadRequest(
        f"remote image URLs are fetched only for models that take images ({vision}); "
        f"{model or 'this model'} is not one kimrel knows",
        wire_code="image_url_unsupported",
        hint="Send the image inline (base64 / data URL), or use a model that takes images.",
    )


async def prefetch_images(
    urls: Iterable[str], ctx: RelayContext, info: ModelInfo | None, model: str = ""
) -> dict[str, str]:
    """url → data URL for every remote image URL in a request (fetched concurrently).

    Nothing is fetched for a text-only model (an empty map: the translator omits the images);
    a model the catalogue does not know is a 400 before any fetch.
    """
    unique = list(dict.fromkeys(urls))
    if not unique or (info is not None and not info.images):
        return {}
    if info is None:
        raise _no_remote_images(model)
    if len(unique) > MAX_IMAGE_URLS:
        raise BadRequest(
            f"a request may carry at most {MAX_IMAGE_URLS} remote image URLs; got {len(unique)}",
            wire_code="too_many_images",
            hint="Send fewer images, or send them inline (base64 / data URL).",
        )
    gate = asyncio.Semaphore(MAX_CONCURRENT_FETCHES)
    from kimrel_cli.hosted.images import _failed, afetch_image
    from kimrel_cli.protocols.images import check_image

    client = shared_client(ctx)

    async def one(url: str) -> tuple[str, str]:
        timeout = ctx.config.image_timeout
        async with gate:
            try:  # a deadline for the whole fetch: httpx's timeout is per read (slow drip)
                data, _ = await asyncio.wait_for(
                    afetch_image(url, client=client, max_bytes=MAX_IMAGE_BYTES), timeout
                )
            except asyncio.TimeoutError:
                raise _failed() from None
        mime = check_image(data)  # raises BadRequest for an unknown type or oversize
        encoded = base64.b64encode(data).decode("ascii")
        if len(encoded) > MAX_ENCODED_BYTES:
            raise BadRequest(
                f"image at {url} is larger than 8 MB once encoded",
                wire_code="encoded_image_too_large",
            )
        return url, f"data:{mime};base64,{encoded}"

    try:  # and one for the whole set
        pairs = await asyncio.wait_for(
            asyncio.gather(*(one(u) for u in unique)), 2 * ctx.config.image_timeout
        )
    except asyncio.TimeoutError:
        raise _failed() from None
    return dict(pairs)


def _chat_image_parts(body: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for message in body.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        for part in content if isinstance(content, list) else []:
            if isinstance(part, dict) and part.get("type") == "image_url":
                yield part


def _part_url(part: dict[str, Any]) -> str | None:
    value = part.get("image_url")
    url = value.get("url") if isinstance(value, dict) else value
    return url if isinstance(url, str) else None


def chat_image_urls(body: dict[str, Any]) -> list[str]:
    """Remote http(s) image URLs in a Chat Completions request's `image_url` parts."""
    urls = (_part_url(p) for p in _chat_image_parts(body))
    return [u for u in urls if u and u.lower().startswith(("http://", "https://"))]


def inline_chat_images(body: dict[str, Any], images: dict[str, str]) -> None:
    """Replace fetched remote URLs by their data URLs (in place; other fields of a part kept)."""
    for part in _chat_image_parts(body):
        url = _part_url(part)
        if url in images:
            value = part.get("image_url")
            part["image_url"] = (
                {**value, "url": images[url]} if isinstance(value, dict) else {"url": images[url]}
            )
