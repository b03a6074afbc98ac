"""`POST /v1/messages`: Anthropic Messages translated to the hosted Chat Completions and back.

Streaming: the upstream stream is opened before any byte goes out (so an upstream error is an
ordinary HTTP error in Anthropic shape, and the client's retry logic works); then 200, the
translator's `start()` at once, each upstream chunk translated as it arrives, a `ping` after
every `ping_interval` seconds of upstream silence, `fail()` on a mid-stream error. The setting
`relay.messages_upstream = "messages"` forwards to the hosted `/v1/messages` unchanged instead.
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from kimrel_cli.errors import KimrelError, UpstreamUnavailable
from kimrel_cli.protocols.sse import encode_events
from kimrel_cli.relay.context import RelayContext
from kimrel_cli.relay.forward import (
    RelayStream,
    anthropic_stream_error,
    json_response,
    with_pings,
)
from kimrel_cli.relay.routes import CHAT_PATH, cap_output, read_json

logger = logging.getLogger("kimrel.relay")

MESSAGES_PATH = "/v1/messages"


def logged_model(requested: str, upstream_id: str) -> str:
    """The model as the request log shows it: `claude-opus-4-5 → kimi-k2.5` when it was mapped."""
    if not requested or requested == upstream_id:
        return upstream_id
    return f"{requested} → {upstream_id}"


def _new_message_id() -> str:
    return "msg_kr_" + secrets.token_hex(12)


async def messages(request: Request, ctx: RelayContext) -> Response:
    started = time.monotonic()
    body = await read_json(request)
    requested = str(body.get("model") or "")
    upstream_id, info = ctx.resolve_model(requested)
    shown = requested or upstream_id
    logged = logged_model(requested, upstream_id)
    headers = ctx.forward_headers(request)
    out_headers = {"x-kimrel-upstream-model": upstream_id}
    if ctx.settings.messages_upstream == "messages":
        return await _pass_through(request, ctx, body, upstream_id, info, started, logged)

    from kimrel_cli.protocols.anthropic_to_chat import (
        ChatTarget,
        anthropic_to_chat,
        image_urls_to_fetch,
    )
    from kimrel_cli.protocols.tokens import estimate_anthropic_request_tokens
    from kimrel_cli.relay.images import prefetch_images

    try:
        images = await prefetch_images(image_urls_to_fetch(body), ctx)
        target = ChatTarget(
            model=upstream_id,
            info=info,
            max_output_tokens=ctx.cap(info),
            images=images,
            mid_conversation_system=ctx.settings.mid_conversation_system,
        )
        chat_body, notes = anthropic_to_chat(body, target)
    except KimrelError as exc:
        return _failed(ctx, exc, request, logged, started)
    for note in notes:
        logger.debug("messages → chat: %s", note)
    estimate = estimate_anthropic_request_tokens(body)
    message_id = _new_message_id()

    if not body.get("stream"):
        from kimrel_cli.protocols.chat_to_anthropic import chat_to_anthropic

        try:
            result = await ctx.call(CHAT_PATH, chat_body, headers)
        except Exception as exc:
            return _failed(ctx, exc, request, logged, started)
        answer = chat_to_anthropic(
            result.data,
            requested_model=shown,
            message_id=message_id,
            input_tokens_estimate=estimate,
            stop_sequences=body.get("stop_sequences"),
        )
        usage = answer.get("usage") or {}
        ctx.record(
            route=MESSAGES_PATH,
            model=logged,
            status=200,
            started=started,
            tokens_in=usage.get("input_tokens"),
            tokens_out=usage.get("output_tokens"),
        )
        return json_response(answer, 200, out_headers)

    return await _stream(
        request, ctx, chat_body, shown, message_id, estimate, started, headers, logged
    )


async def _stream(
    request: Request,
    ctx: RelayContext,
    chat_body: dict[str, Any],
    shown: str,
    message_id: str,
    estimate: int,
    started: float,
    headers: dict[str, str],
    logged: str,
) -> Response:
    from kimrel_cli.protocols.chat_to_anthropic_stream import ChatToAnthropicStream

    stack = contextlib.AsyncExitStack()
    try:
        raw = await stack.enter_async_context(ctx.open_stream(CHAT_PATH, chat_body, headers))
    except Exception as exc:
        await stack.aclose()
        return _failed(ctx, exc, request, logged, started)
    tx = ChatToAnthropicStream(model=shown, message_id=message_id, input_tokens=estimate)
    state: dict[str, Any] = {"error": None, "tin": None, "tout": None}

    async def relay() -> AsyncIterator[bytes]:
        yield encode_events(tx.start())
        try:
            async for event in with_pings(raw.aiter_events(), ctx.config.ping_interval):
                if event is None:
                    yield encode_events(tx.ping())
                    continue
                if event.data == "[DONE]":
                    break
                chunk = json.loads(event.data)
                if isinstance(chunk, dict) and chunk.get("usage"):
                    usage = chunk["usage"]
                    state["tin"] = usage.get("prompt_tokens")
                    state["tout"] = usage.get("completion_tokens")
                out = tx.feed(chunk)
                if out:
                    yield encode_events(out)
            yield encode_events(tx.finish())
        except Exception as exc:
            state["error"] = exc.message if isinstance(exc, KimrelError) else type(exc).__name__
            if not isinstance(exc, KimrelError):
                logger.debug("stream translation failed", exc_info=True)
                exc = UpstreamUnavailable(f"relay stream failed: {type(exc).__name__}")
            yield encode_events(tx.fail(exc))

    async def close() -> None:
        await stack.aclose()
        ctx.record(
            route=MESSAGES_PATH,
            model=logged,
            status=200,
            started=started,
            tokens_in=state["tin"],
            tokens_out=state["tout"],
            stream=True,
            error=state["error"],
        )

    out_headers = {"x-kimrel-upstream-model": str(chat_body.get("model"))}
    return RelayStream(relay(), headers=out_headers, on_close=close)  # type: ignore[return-value]


async def _pass_through(
    request: Request,
    ctx: RelayContext,
    body: dict[str, Any],
    upstream_id: str,
    info: Any,
    started: float,
    logged: str,
) -> Response:
    """relay.messages_upstream = "messages": the hosted /v1/messages, body as sent (model and cap fixed)."""
    shown = str(body.get("model") or upstream_id)
    body["model"] = upstream_id
    cap_output(body, ctx.cap(info))
    headers = {**ctx.forward_headers(request), "anthropic-version": "2023-06-01"}
    out_headers = {"x-kimrel-upstream-model": upstream_id}
    if not body.get("stream"):
        try:
            result = await ctx.call(MESSAGES_PATH, body, headers)
        except Exception as exc:
            return _failed(ctx, exc, request, logged, started)
        if isinstance(result.data, dict):
            result.data["model"] = shown
        ctx.record(route=MESSAGES_PATH, model=logged, status=200, started=started)
        return json_response(result.data, 200, out_headers)
    stack = contextlib.AsyncExitStack()
    try:
        raw = await stack.enter_async_context(ctx.open_stream(MESSAGES_PATH, body, headers))
    except Exception as exc:
        await stack.aclose()
        return _failed(ctx, exc, request, logged, started)

    async def relay() -> AsyncIterator[bytes]:
        try:
            async for piece in raw.aiter_bytes():
                yield piece
        except Exception as exc:
            yield encode_events([anthropic_stream_error(exc)])

    async def close() -> None:
        await stack.aclose()
        ctx.record(route=MESSAGES_PATH, model=logged, status=200, started=started, stream=True)

    return RelayStream(relay(), headers=out_headers, on_close=close)  # type: ignore[return-value]


def _failed(
    ctx: RelayContext, exc: Exception, request: Request, model: str, started: float
) -> Response:
    from kimrel_cli.relay.routes import failed

    return failed(ctx, exc, request, model, started, "anthropic")
