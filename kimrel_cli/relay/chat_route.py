"""`POST /v1/chat/completions`: the hosted API's own protocol, passed through.

The model name is resolved (aliases, client names) and shown back as the client sent it; the
output cap is applied; remote images are inlined for models that take images. A stream always
asks upstream for usage (for the request log) and drops the usage-only chunk unless the client
asked for it; a stream that ends without `[DONE]` after a `finish_reason` is ended properly.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from kimrel_cli.errors import KimrelError, UpstreamUnavailable
from kimrel_cli.protocols.errors import ClientProtocol
from kimrel_cli.protocols.sse import DONE, SSEEvent, encode_data
from kimrel_cli.protocols.validation import check_chat
from kimrel_cli.relay.context import RelayContext
from kimrel_cli.relay.forward import json_response
from kimrel_cli.relay.pipeline import Outcome, StreamJob, stream, stream_error
from kimrel_cli.relay.shared import CHAT_PATH, cap_output, failed, read_json, usage_tokens

_FINISHED = re.compile(r'"finish_reason"\s*:\s*"')
KEEPALIVE = b": keep-alive\n\n"  # an SSE comment: every chat completions client skips it


class ChatPassThrough:
    """Chat completions chunks as they come: the model renamed back, usage noted."""

    def __init__(self, shown: str, upstream_id: str, wants_usage: bool) -> None:
        self.shown = shown
        self.rename = shown != upstream_id
        # renaming without re-serialising: the upstream's `"model":"ID"` swapped in the text
        self._upstream_model = re.compile(r'"model"\s*:\s*' + re.escape(json.dumps(upstream_id)))
        self._shown_model = '"model":' + json.dumps(shown, ensure_ascii=False)
        self.wants_usage = wants_usage
        self.finished = False
        self.done = False
        self.result = Outcome()

    def start(self) -> bytes:
        return b""

    def keepalive(self) -> bytes:
        return KEEPALIVE

    def feed(self, event: SSEEvent) -> bytes:
        data = event.data
        if not self.finished and _FINISHED.search(data):
            self.finished = True
        special = '"usage"' in data or '"error"' in data
        if self.rename and not special:
            swapped, found = self._upstream_model.subn(self._shown_model, data, count=1)
            if found:
                return encode_data(swapped)
        if self.rename or special:
            chunk = json.loads(data)
            if isinstance(chunk, dict):
                if "error" in chunk:
                    self.result.error = "upstream error mid-stream"
                    error = chunk["error"]
                    code = error.get("code") if isinstance(error, dict) else None
                    self.result.error_code = str(code or "upstream_error")
                    self.done = True
                    return encode_data(chunk)
                if chunk.get("usage"):
                    self.result.tokens_in, self.result.tokens_out = usage_tokens(chunk["usage"])
                    if not chunk.get("choices") and not self.wants_usage:
                        return b""
                if self.rename:
                    chunk["model"] = self.shown
                    data = json.dumps(chunk, ensure_ascii=False, separators=(",", ":"))
        return encode_data(data)

    def finish(self, upstream_done: bool) -> bytes:
        if self.done:  # ended by an upstream error chunk
            return b""
        if upstream_done or self.finished:  # the upstream ended without [DONE]: end it properly
            return DONE
        return self.fail(UpstreamUnavailable("upstream stream ended early"))

    def fail(self, exc: KimrelError) -> bytes:
        self.result.error = exc.message
        return stream_error(exc, ClientProtocol.CHAT)

    def outcome(self) -> Outcome:
        return self.result


async def chat_completions(request: Request, ctx: RelayContext) -> Response:
    started = time.monotonic()
    body = await read_json(request, check_chat)
    requested = str(body.get("model") or "")
    upstream_id, info = ctx.resolve_model(requested)
    body["model"] = upstream_id
    cap_output(body, ctx.cap(info))
    headers = ctx.forward_headers(request)
    shown = requested or upstream_id

    def fail(exc: Exception) -> Response:
        return failed(ctx, exc, request, shown, started, ClientProtocol.CHAT)

    if info is not None and info.images:
        from kimrel_cli.relay.images import chat_image_urls, inline_chat_images, prefetch_images

        urls = chat_image_urls(body)
        if urls:
            try:
                inline_chat_images(body, await prefetch_images(urls, ctx, info))
            except KimrelError as exc:
                return fail(exc)
    out_headers = {"x-kimrel-upstream-model": upstream_id}
    if not body.get("stream"):
        try:
            result = await ctx.call(CHAT_PATH, body, headers)
        except Exception as exc:
            return fail(exc)
        data = result.data
        tin = tout = None
        if isinstance(data, dict):
            data["model"] = shown
            tin, tout = usage_tokens(data.get("usage"))
        ctx.record(
            route=CHAT_PATH,
            model=shown,
            status=200,
            started=started,
            tokens_in=tin,
            tokens_out=tout,
        )
        return json_response(data, 200, out_headers)

    options: dict[str, Any] = body.get("stream_options") or {}
    wants_usage = bool(options.get("include_usage"))
    body["stream_options"] = {**options, "include_usage": True}
    job = StreamJob(
        protocol=ClientProtocol.CHAT,
        route=CHAT_PATH,
        model=shown,
        started=started,
        upstream_path=CHAT_PATH,
        body=body,
        headers=headers,
        out_headers=out_headers,
        on_open_error=fail,
    )
    return await stream(ctx, job, ChatPassThrough(shown, upstream_id, wants_usage))
