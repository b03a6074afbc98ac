"""`POST /v1/responses` and `/responses`: the OpenAI Responses API over the hosted chat completions.

Parse, resolve the model, prefetch remote images, translate (protocols/responses_to_chat),
call upstream chat completions, translate back (whole or streamed), and remember the
conversation for `previous_response_id`. Errors come in OpenAI's shape; a streaming request
(Codex) gets them as a `response.failed` stream instead, whose codes Codex understands
(forward.responses_failed_stream, protocols/errors.responses_failure).
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from kimrel_cli.errors import KimrelError
from kimrel_cli.protocols.chat_to_responses_stream import ChatToResponsesStream
from kimrel_cli.protocols.errors import ClientProtocol
from kimrel_cli.protocols.sse import SSEEvent, encode_events
from kimrel_cli.protocols.validation import check_responses
from kimrel_cli.relay.context import RelayContext
from kimrel_cli.relay.forward import (
    error_parts,
    json_response,
    responses_failed_stream,
)
from kimrel_cli.relay.pipeline import Outcome, StreamJob, stream
from kimrel_cli.relay.responses_store import input_items
from kimrel_cli.relay.shared import CHAT_PATH, failed, logged_model, read_json

logger = logging.getLogger("kimrel.relay")


def _item_ids() -> Any:
    return lambda prefix: f"{prefix}_{secrets.token_hex(12)}"


class ResponsesAdapter:
    """Upstream chat completions chunks → Responses stream events (the translator's machine)."""

    def __init__(self, tx: ChatToResponsesStream) -> None:
        self.tx = tx
        self.error: str | None = None

    @property
    def done(self) -> bool:
        return self.tx.done

    def start(self) -> bytes:
        return encode_events(self.tx.start())

    def keepalive(self) -> bytes:
        return encode_events(self.tx.keepalive())

    def feed(self, event: SSEEvent) -> bytes:
        return encode_events(self.tx.feed(json.loads(event.data)))

    def finish(self, upstream_done: bool) -> bytes:
        return encode_events(self.tx.finish())

    def fail(self, exc: KimrelError) -> bytes:
        self.error = exc.message
        return encode_events(self.tx.fail(exc))

    def outcome(self) -> Outcome:
        final = self.tx.final_response or {}
        usage = final.get("usage") or {}
        failure = final.get("error") or {}
        return Outcome(
            tokens_in=usage.get("input_tokens"),
            tokens_out=usage.get("output_tokens"),
            error=self.error or failure.get("message"),
            error_code=failure.get("code"),
        )


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
            status=error_parts(exc, ClientProtocol.RESPONSES)[0],
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
    return failed(ctx, exc, request, model, started, ClientProtocol.RESPONSES)


async def responses(request: Request, ctx: RelayContext) -> Response:
    from kimrel_cli.protocols.chat_to_responses import chat_to_responses
    from kimrel_cli.protocols.responses_to_chat import (
        ResponsesTarget,
        image_urls_to_fetch,
        responses_to_chat,
    )
    from kimrel_cli.relay.images import prefetch_images

    started = time.monotonic()
    body = await read_json(request, check_responses)
    requested = str(body.get("model") or "")
    upstream_id, info = ctx.resolve_model(requested)
    logged = logged_model(requested, upstream_id)
    response_id = "resp_" + secrets.token_hex(16)
    created_at = int(time.time())

    def fail(exc: Exception) -> Response:
        return _error(ctx, exc, request, logged, started, bool(body.get("stream")), requested)

    try:
        items = input_items(body)
        previous = body.get("previous_response_id")
        if previous:
            items = ctx.responses.history(str(previous)) + items
        translated = {**body, "input": items}
        images = await prefetch_images(image_urls_to_fetch(translated), ctx, info, upstream_id)
        cap = ctx.cap(info)  # None for a model the catalogue does not know: no cap, as on chat
        target = ResponsesTarget(model=upstream_id, info=info, max_output_tokens=cap, images=images)
        chat_body, rctx, notes = responses_to_chat(translated, target)
    except KimrelError as exc:
        return fail(exc)
    for note in notes:
        logger.debug("responses → chat: %s", note)
    headers = ctx.forward_headers(request)
    out_headers = {"x-kimrel-upstream-model": upstream_id}

    if not body.get("stream"):
        try:
            result = await ctx.call(CHAT_PATH, chat_body, headers)
        except Exception as exc:
            return fail(exc)
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

    tx = ChatToResponsesStream(
        rctx, response_id=response_id, created_at=created_at, item_ids=_item_ids()
    )

    def remember() -> None:
        final = tx.final_response
        if final is not None and final.get("status") != "failed":
            ctx.responses.put(response_id, items + list(final.get("output") or []))

    job = StreamJob(
        protocol=ClientProtocol.RESPONSES,
        route=request.url.path,
        model=logged,
        started=started,
        upstream_path=CHAT_PATH,
        body=chat_body,
        headers=headers,
        out_headers=out_headers,
        on_open_error=fail,
        on_close=remember,
    )
    return await stream(ctx, job, ResponsesAdapter(tx))
