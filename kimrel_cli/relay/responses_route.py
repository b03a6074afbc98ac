"""`POST /v1/responses` and `/responses`: the OpenAI Responses API over the hosted chat completions.

Parse, resolve the model, prefetch remote images, translate (protocols/responses_to_chat),
call upstream chat completions, translate back (whole or streamed), and remember the
conversation for `previous_response_id`. Errors come in OpenAI's shape; a streaming request
(Codex) gets them as a `response.failed` stream instead, whose codes Codex understands
(forward.responses_failed_stream, protocols/errors.responses_failure).
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from kimrel_cli.errors import KimrelError, UpstreamUnavailable
from kimrel_cli.protocols.sse import encode_events
from kimrel_cli.relay.forward import (
    RelayStream,
    error_parts,
    json_response,
    responses_failed_stream,
    with_pings,
)
from kimrel_cli.relay.responses_store import input_items
from kimrel_cli.relay.routes import failed, read_json

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

    from kimrel_cli.relay.context import RelayContext

logger = logging.getLogger("kimrel.relay")

CHAT_PATH = "/v1/chat/completions"


def _item_ids() -> Any:
    return lambda prefix: f"{prefix}_{secrets.token_hex(12)}"


def logged_model(requested: str, upstream_id: str) -> str:
    """The model as the relay log shows it: a client name mapped to another (a GPT name from
    Codex's picker) reads `gpt-6-luna → kimi-k2.5`, so the log says what really ran."""
    if not requested or requested == upstream_id:
        return upstream_id
    return f"{requested} → {upstream_id}"


def _error(
    ctx: RelayContext,
    exc: Exception,
    request: Request,
    model: str,
    started: float,
    stream: bool = False,
    requested: str | None = None,
) -> Response:
    """A streaming request (Codex) gets a `response.failed` stream; the log keeps the real status.
    `model` is the name the log shows (`gpt-6-luna → kimi-k2.5`), `requested` the client's own."""
    if stream and isinstance(exc, KimrelError):
        ctx.record(
            route=request.url.path,
            model=model,
            status=error_parts(exc, "openai")[0],
            started=started,
            stream=True,
            error=exc.message,
        )
        return responses_failed_stream(
            exc,
            response_id="resp_" + secrets.token_hex(16),
            model=requested or model,
            created_at=int(time.time()),
        )
    return failed(ctx, exc, request, model, started, "openai")


async def handle_responses(request: Request, ctx: RelayContext) -> Response:
    from kimrel_cli.protocols.chat_to_responses import chat_to_responses
    from kimrel_cli.protocols.responses_to_chat import (
        ResponsesTarget,
        image_urls_to_fetch,
        responses_to_chat,
    )
    from kimrel_cli.relay.images import prefetch_images

    started = time.monotonic()
    body = await read_json(request)
    requested = str(body.get("model") or "")
    upstream_id, info = ctx.resolve_model(requested)
    logged = logged_model(requested, upstream_id)
    response_id = "resp_" + secrets.token_hex(16)
    created_at = int(time.time())
    try:
        items = input_items(body)
        previous = body.get("previous_response_id")
        if previous:
            items = ctx.responses.history(str(previous)) + items
        translated = {**body, "input": items}
        images = await prefetch_images(image_urls_to_fetch(translated), ctx)
        cap = ctx.cap(info) or (info.max_output_tokens if info else 8192)
        target = ResponsesTarget(model=upstream_id, info=info, max_output_tokens=cap, images=images)
        chat_body, rctx, notes = responses_to_chat(translated, target)
    except KimrelError as exc:
        return _error(ctx, exc, request, logged, started, bool(body.get("stream")), requested)
    for note in notes:
        logger.debug("responses → chat: %s", note)
    headers = ctx.forward_headers(request)
    out_headers = {"x-kimrel-upstream-model": upstream_id}

    if not body.get("stream"):
        try:
            result = await ctx.call(CHAT_PATH, chat_body, headers)
        except Exception as exc:
            return _error(ctx, exc, request, logged, started, bool(body.get("stream")), requested)
        answer = chat_to_responses(
            result.data, rctx, response_id=response_id, created_at=created_at, item_ids=_item_ids()
        )
        ctx.responses.put(response_id, items + answer["output"])
        usage = answer.get("usage") or {}
        ctx.record(
            route=request.url.path,
            model=logged,
            status=200,
            started=started,
            tokens_in=usage.get("input_tokens"),
            tokens_out=usage.get("output_tokens"),
        )
        return json_response(answer, 200, out_headers)

    from kimrel_cli.protocols.chat_to_responses_stream import ChatToResponsesStream

    stack = contextlib.AsyncExitStack()
    try:
        raw = await stack.enter_async_context(ctx.open_stream(CHAT_PATH, chat_body, headers))
    except Exception as exc:
        await stack.aclose()
        return _error(ctx, exc, request, logged, started, bool(body.get("stream")), requested)
    tx = ChatToResponsesStream(
        rctx, response_id=response_id, created_at=created_at, item_ids=_item_ids()
    )
    state: dict[str, Any] = {"error": None}

    async def relay() -> AsyncIterator[bytes]:
        yield encode_events(tx.start())
        try:
            async for event in with_pings(raw.aiter_events(), ctx.config.ping_interval):
                if event is None:
                    yield encode_events(tx.keepalive())
                    continue
                if event.data == "[DONE]":
                    break
                out = tx.feed(json.loads(event.data))
                if out:
                    yield encode_events(out)
                if tx.done:
                    break
            yield encode_events(tx.finish())
        except Exception as exc:
            if not isinstance(exc, KimrelError):
                logger.debug("responses stream translation failed", exc_info=True)
                exc = UpstreamUnavailable(f"relay stream failed: {type(exc).__name__}")
            state["error"] = exc.message
            yield encode_events(tx.fail(exc))

    async def close() -> None:
        await stack.aclose()
        final = tx.final_response
        usage = (final or {}).get("usage") or {}
        if final is not None and final.get("status") != "failed":
            ctx.responses.put(response_id, items + list(final.get("output") or []))
        ctx.record(
            route=request.url.path,
            model=logged,
            status=200,
            started=started,
            tokens_in=usage.get("input_tokens"),
            tokens_out=usage.get("output_tokens"),
            stream=True,
            error=state["error"] or ((final or {}).get("error") or {}).get("message"),
        )

    return RelayStream(relay(), headers=out_headers, on_close=close)  # type: ignore[return-value]
