"""`POST /v1/messages`: Anthropic Messages translated to the hosted Chat Completions and back.

Streaming goes through the pipeline (pipeline.py) with `AnthropicAdapter`: the translator's
`start()` at once, each upstream chunk translated as it arrives, a `ping` on upstream silence,
`fail()` on a mid-stream error. The setting `relay.messages_upstream = "messages"` forwards to
the hosted `/v1/messages` unchanged instead (`AnthropicPassThrough`).
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from kimrel_cli.catalogue import ModelInfo
from kimrel_cli.errors import KimrelError
from kimrel_cli.protocols.chat_to_anthropic_stream import ChatToAnthropicStream
from kimrel_cli.protocols.errors import ClientProtocol
from kimrel_cli.protocols.sse import SSEEvent, encode_events
from kimrel_cli.protocols.validation import check_messages
from kimrel_cli.relay.context import RelayContext
from kimrel_cli.relay.forward import json_response
from kimrel_cli.relay.pipeline import Outcome, StreamJob, stream, stream_error
from kimrel_cli.relay.shared import (
    CHAT_PATH,
    MESSAGES_PATH,
    cap_output,
    failed,
    logged_model,
    read_json,
    usage_tokens,
)

logger = logging.getLogger("kimrel.relay")


class AnthropicAdapter:
    """Upstream chat completions chunks → Anthropic stream events (the translator's machine)."""

    def __init__(self, tx: ChatToAnthropicStream) -> None:
        self.tx = tx
        self.result = Outcome()

    @property
    def done(self) -> bool:
        return False  # read until upstream ends: the last chunk may carry the usage

    def start(self) -> bytes:
        return encode_events(self.tx.start())

    def keepalive(self) -> bytes:
        return encode_events(self.tx.ping())

    def feed(self, event: SSEEvent) -> bytes:
        chunk = json.loads(event.data)
        if isinstance(chunk, dict) and chunk.get("usage"):
            self.result.tokens_in, self.result.tokens_out = usage_tokens(chunk["usage"])
        return encode_events(self.tx.feed(chunk))

    def finish(self, upstream_done: bool) -> bytes:
        return encode_events(self.tx.finish())

    def fail(self, exc: KimrelError) -> bytes:
        self.result.error = exc.message
        return encode_events(self.tx.fail(exc))

    def outcome(self) -> Outcome:
        return self.result


class AnthropicPassThrough:
    """The hosted /v1/messages stream, event by event, as it came."""

    done = False

    def __init__(self) -> None:
        self.result = Outcome()

    def start(self) -> bytes:
        return b""

    def keepalive(self) -> bytes:
        return encode_events([("ping", {"type": "ping"})])

    def feed(self, event: SSEEvent) -> bytes:
        name = f"event: {event.event}\n" if event.event else ""
        lines = "".join(f"data: {line}\n" for line in event.data.split("\n"))
        return f"{name}{lines}\n".encode()

    def finish(self, upstream_done: bool) -> bytes:
        return b""

    def fail(self, exc: KimrelError) -> bytes:
        self.result.error = exc.message
        return stream_error(exc, ClientProtocol.ANTHROPIC)

    def outcome(self) -> Outcome:
        return self.result


def _new_message_id() -> str:
    return "msg_kr_" + secrets.token_hex(12)


async def messages(request: Request, ctx: RelayContext) -> Response:
    started = time.monotonic()
    body = await read_json(request, check_messages)
    requested = str(body.get("model") or "")
    upstream_id, info = ctx.resolve_model(requested)
    shown = requested or upstream_id
    logged = logged_model(requested, upstream_id)

    def fail(exc: Exception) -> Response:
        return failed(ctx, exc, request, logged, started, ClientProtocol.ANTHROPIC)

    if ctx.settings.messages_upstream == "messages":
        return await _pass_through(request, ctx, body, upstream_id, info, started, logged, fail)

    from kimrel_cli.protocols.anthropic_to_chat import (
        ChatTarget,
        anthropic_to_chat,
        image_urls_to_fetch,
    )
    from kimrel_cli.protocols.tokens import estimate_anthropic_request_tokens
    from kimrel_cli.relay.images import prefetch_images

    try:
        images = await prefetch_images(image_urls_to_fetch(body), ctx, info, upstream_id)
        target = ChatTarget(
            model=upstream_id,
            info=info,
            max_output_tokens=ctx.cap(info),
            images=images,
            mid_conversation_system=ctx.settings.mid_conversation_system,
        )
        chat_body, notes = anthropic_to_chat(body, target)
    except KimrelError as exc:
        return fail(exc)
    for note in notes:
        logger.debug("messages → chat: %s", note)
    estimate = estimate_anthropic_request_tokens(body)
    message_id = _new_message_id()
    headers = ctx.forward_headers(request)
    out_headers = {"x-kimrel-upstream-model": upstream_id}

    if body.get("stream"):
        tx = ChatToAnthropicStream(model=shown, message_id=message_id, input_tokens=estimate)
        job = StreamJob(
            protocol=ClientProtocol.ANTHROPIC,
            route=MESSAGES_PATH,
            model=logged,
            started=started,
            upstream_path=CHAT_PATH,
            body=chat_body,
            headers=headers,
            out_headers={"x-kimrel-upstream-model": str(chat_body.get("model"))},
            on_open_error=fail,
        )
        return await stream(ctx, job, AnthropicAdapter(tx))

    from kimrel_cli.protocols.chat_to_anthropic import chat_to_anthropic

    try:
        result = await ctx.call(CHAT_PATH, chat_body, headers)
    except Exception as exc:
        return fail(exc)
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


async def _pass_through(
    request: Request,
    ctx: RelayContext,
    body: dict[str, Any],
    upstream_id: str,
    info: ModelInfo | None,
    started: float,
    logged: str,
    fail: Callable[[Exception], Response],
) -> Response:
    """relay.messages_upstream = "messages": the hosted /v1/messages, body as sent (model and cap fixed)."""
    shown = str(body.get("model") or upstream_id)
    body["model"] = upstream_id
    cap_output(body, ctx.cap(info))
    headers = {**ctx.forward_headers(request), "anthropic-version": "2023-06-01"}
    out_headers = {"x-kimrel-upstream-model": upstream_id}
    if body.get("stream"):
        job = StreamJob(
            protocol=ClientProtocol.ANTHROPIC,
            route=MESSAGES_PATH,
            model=logged,
            started=started,
            upstream_path=MESSAGES_PATH,
            body=body,
            headers=headers,
            out_headers=out_headers,
            on_open_error=fail,
        )
        return await stream(ctx, job, AnthropicPassThrough())
    try:
        result = await ctx.call(MESSAGES_PATH, body, headers)
    except Exception as exc:
        return fail(exc)
    if isinstance(result.data, dict):
        result.data["model"] = shown
    ctx.record(route=MESSAGES_PATH, model=logged, status=200, started=started)
    return json_response(result.data, 200, out_headers)
