"""The relay's routes other than Messages: chat pass-through, models, health, count_tokens,
the Responses mount, Claude Code's side requests, and 404 in the path's protocol.

Each handler takes (request, ctx); `app.py` binds them to a RelayContext and wraps every one in
`guarded`, so no exception ever reaches Starlette's plain-text 500.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timezone
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from kimrel_cli.catalogue import MODELS
from kimrel_cli.errors import KimrelError, UpstreamUnavailable
from kimrel_cli.protocols.codex_models import models_response
from kimrel_cli.protocols.sse import DONE, encode_data
from kimrel_cli.relay.context import RelayContext
from kimrel_cli.relay.forward import (
    RelayStream,
    error_response,
    json_response,
    openai_stream_error,
    relay_error_response,
)
from kimrel_cli.relay.security import BodyTooLarge, Shape, shape_for

logger = logging.getLogger("kimrel.relay")

Handler = Callable[[Request, RelayContext], Awaitable[Response]]
CHAT_PATH = "/v1/chat/completions"
_FINISHED = re.compile(r'"finish_reason"\s*:\s*"')


class BadBody(Exception):
    """The client's request body is not the JSON object the route needs (→ 400 in shape)."""


async def read_json(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BadBody("request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise BadBody("request body must be a JSON object")
    return data


def request_shape(request: Request) -> Shape:
    return shape_for(request.url.path, request.headers.get("anthropic-version"))


def guarded(handler: Handler, ctx: RelayContext, shape: Shape | None = None) -> Any:
    """Bind a handler to ctx; turn every failure into an error body in the caller's shape."""

    async def endpoint(request: Request) -> Response:
        the_shape = shape or request_shape(request)
        ctx.stats.requests += 1
        ctx.stats.in_flight += 1
        started = time.monotonic()
        streaming = False
        try:
            response = await handler(request, ctx)
            if isinstance(response, RelayStream):  # still in flight until the stream ends
                streaming = True
                response.on_close = _then_done(response.on_close, ctx)
            return response
        except BodyTooLarge:
            raise
        except BadBody as exc:
            ctx.record(
                route=request.url.path, model=None, status=400, started=started, error=str(exc)
            )
            return relay_error_response(the_shape, 400, str(exc))
        except Exception as exc:
            response = error_response(exc, the_shape)
            ctx.record(
                route=request.url.path,
                model=None,
                status=response.status_code,
                started=started,
                error=exc.message if isinstance(exc, KimrelError) else type(exc).__name__,
            )
            return response
        finally:
            if not streaming:
                ctx.stats.in_flight -= 1

    return endpoint


def _then_done(on_close: Callable[[], Awaitable[None]] | None, ctx: RelayContext) -> Any:
    async def close() -> None:
        try:
            if on_close is not None:
                await on_close()
        finally:
            ctx.stats.in_flight -= 1

    return close


def cap_output(body: dict[str, Any], cap: int | None) -> None:
    """Lower max_tokens / max_completion_tokens to the model's output cap (in place)."""
    if cap is None:
        return
    for key in ("max_tokens", "max_completion_tokens"):
        value = body.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > cap:
            body[key] = cap


def _usage_tokens(usage: Any) -> tuple[int | None, int | None]:
    if not isinstance(usage, dict):
        return None, None
    return usage.get("prompt_tokens"), usage.get("completion_tokens")


# ---- POST /v1/chat/completions: pass-through -------------------------------------------


async def chat_completions(request: Request, ctx: RelayContext) -> Response:
    started = time.monotonic()
    body = await read_json(request)
    requested = str(body.get("model") or "")
    upstream_id, info = ctx.resolve_model(requested)
    body["model"] = upstream_id
    cap_output(body, ctx.cap(info))
    headers = ctx.forward_headers(request)
    shown = requested or upstream_id
    if info is not None and info.images:
        from kimrel_cli.relay.images import chat_image_urls, inline_chat_images, prefetch_images

        urls = chat_image_urls(body)
        if urls:
            try:
                inline_chat_images(body, await prefetch_images(urls, ctx))
            except KimrelError as exc:
                return failed(ctx, exc, request, shown, started, "openai")
    out_headers = {"x-kimrel-upstream-model": upstream_id}
    if not body.get("stream"):
        try:
            result = await ctx.call(CHAT_PATH, body, headers)
        except Exception as exc:
            return failed(ctx, exc, request, shown, started, "openai")
        data = result.data
        if isinstance(data, dict):
            data["model"] = shown
            tin, tout = _usage_tokens(data.get("usage"))
        else:
            tin = tout = None
        ctx.record(
            route=CHAT_PATH,
            model=shown,
            status=200,
            started=started,
            tokens_in=tin,
            tokens_out=tout,
        )
        return json_response(data, 200, out_headers)

    wants_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    body["stream_options"] = {**(body.get("stream_options") or {}), "include_usage": True}
    stack = contextlib.AsyncExitStack()
    try:
        raw = await stack.enter_async_context(ctx.open_stream(CHAT_PATH, body, headers))
    except Exception as exc:
        await stack.aclose()
        return failed(ctx, exc, request, shown, started, "openai")
    state: dict[str, Any] = {"status": 200, "error": None, "tin": None, "tout": None}
    rename = shown != upstream_id

    async def relay() -> AsyncIterator[bytes]:
        finished = False
        try:
            async for event in raw.aiter_events():
                data = event.data
                if data == "[DONE]":
                    yield DONE
                    return
                if not finished and _FINISHED.search(data):
                    finished = True
                if rename or '"usage"' in data or '"error"' in data:
                    chunk = json.loads(data)
                    if isinstance(chunk, dict):
                        if "error" in chunk:
                            state["error"] = "upstream error mid-stream"
                            yield encode_data(chunk)
                            return
                        if chunk.get("usage"):
                            state["tin"], state["tout"] = _usage_tokens(chunk["usage"])
                            if not chunk.get("choices") and not wants_usage:
                                continue
                        if rename:
                            chunk["model"] = shown
                            data = json.dumps(chunk, ensure_ascii=False, separators=(",", ":"))
                yield encode_data(data)
            if finished:  # the upstream (or its client) ended without [DONE]: end it properly
                yield DONE
                return
            state["error"] = "upstream stream ended early"
            yield encode_data(
                openai_stream_error(UpstreamUnavailable("upstream stream ended early"))
            )
        except Exception as exc:
            state["error"] = getattr(exc, "message", type(exc).__name__)
            yield encode_data(openai_stream_error(exc))

    async def close() -> None:
        await stack.aclose()
        ctx.record(
            route=CHAT_PATH,
            model=shown,
            status=state["status"],
            started=started,
            tokens_in=state["tin"],
            tokens_out=state["tout"],
            stream=True,
            error=state["error"],
        )

    return RelayStream(relay(), headers=out_headers, on_close=close)  # type: ignore[return-value]


def failed(
    ctx: RelayContext,
    exc: Exception,
    request: Request,
    model: str,
    started: float,
    shape: Shape,
    response: Response | None = None,
) -> Response:
    """The error answer in the caller's shape (or `response`, if given), recorded on the dashboard."""
    response = response or error_response(exc, shape)
    ctx.record(
        route=request.url.path,
        model=model,
        status=response.status_code,
        started=started,
        error=exc.message if isinstance(exc, KimrelError) else type(exc).__name__,
    )
    return response


# ---- POST /v1/messages/count_tokens ------------------------------------------------------


async def count_tokens(request: Request, ctx: RelayContext) -> Response:
    from kimrel_cli.protocols.tokens import estimate_anthropic_request_tokens

    body = await read_json(request)
    return json_response({"input_tokens": estimate_anthropic_request_tokens(body)})


# ---- GET /v1/models, /v1/models/{id} -----------------------------------------------------


def _anthropic_model(item: dict[str, Any], ctx: RelayContext) -> dict[str, Any]:
    model_id = str(item.get("id"))
    created = item.get("created")
    stamp = (
        datetime.fromtimestamp(created, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        if isinstance(created, int)
        else "2025-09-05T00:00:00Z"
    )
    out: dict[str, Any] = {
        "type": "model",
        "id": model_id,
        "display_name": model_id,
        "created_at": stamp,
    }
    _, info = ctx.resolve_model(model_id)
    if info is not None:
        out["max_input_tokens"] = info.context_window
        out["max_tokens"] = ctx.cap(info)
    return out


async def _model_items(request: Request, ctx: RelayContext) -> list[dict[str, Any]]:
    result = await ctx.get("/v1/models", ctx.forward_headers(request))
    data = result.data if isinstance(result.data, dict) else {}
    return [m for m in data.get("data") or [] if isinstance(m, dict)]


def is_codex_catalog_request(request: Request) -> bool:
    """Codex's model-catalogue fetch: `GET /v1/models?client_version=0.169.0` (codex-rs
    models-manager); its user agent starts `codex_` and it sends an `originator` header."""
    if "client_version" in request.query_params:
        return True
    agent = request.headers.get("user-agent", "").lower()
    return agent.startswith("codex_") and "originator" in request.headers


def _codex_catalog(items: list[dict[str, Any]], ctx: RelayContext) -> dict[str, Any]:
    """Codex's `{"models": [ModelInfo…]}` for the upstream models kimrel knows (limits applied)."""
    known = []
    for item in items:
        _, info = ctx.resolve_model(str(item.get("id")))
        if info is not None and info.id == item.get("id"):
            known.append(info)
    known.sort(key=lambda info: list(MODELS).index(info.id), reverse=True)  # newest first
    return models_response(known)


async def list_models(request: Request, ctx: RelayContext) -> Response:
    if is_codex_catalog_request(request):
        try:
            items = await _model_items(request, ctx)
        except KimrelError:  # Codex only needs metadata: a failing upstream shows on /responses
            items = [{"id": model} for model in MODELS]
        return json_response(_codex_catalog(items, ctx))
    items = await _model_items(request, ctx)
    if request.headers.get("anthropic-version"):
        models = [_anthropic_model(m, ctx) for m in items]
        return json_response(
            {
                "data": models,
                "has_more": False,
                "first_id": models[0]["id"] if models else None,
                "last_id": models[-1]["id"] if models else None,
            }
        )
    return json_response({"object": "list", "data": items})


async def get_model(request: Request, ctx: RelayContext) -> Response:
    wanted = request.path_params["model_id"]
    anthropic = bool(request.headers.get("anthropic-version"))
    for item in await _model_items(request, ctx):
        if item.get("id") == wanted:
            return json_response(_anthropic_model(item, ctx) if anthropic else item)
    return relay_error_response(
        "anthropic" if anthropic else "openai",
        404,
        f"model {wanted!r} not found",
        code="model_not_found",
    )


# ---- health, Claude Code side requests, Responses, 404 -----------------------------------


async def health(request: Request, ctx: RelayContext) -> Response:
    from kimrel_cli import __version__

    return json_response(
        {
            "status": "ok",
            "version": __version__,
            "upstream": ctx.upstream_url,
            "simulate": ctx.config.simulate,
        }
    )


async def head_root(request: Request, ctx: RelayContext) -> Response:
    return Response(status_code=200)


async def event_logging(request: Request, ctx: RelayContext) -> Response:
    """Claude Code's telemetry batch: accepted and dropped."""
    await request.body()
    return json_response({})


async def responses(request: Request, ctx: RelayContext) -> Response:
    from kimrel_cli.relay.responses_route import handle_responses

    return await handle_responses(request, ctx)


async def not_found(request: Request, ctx: RelayContext) -> Response:
    return relay_error_response(
        request_shape(request),
        404,
        f"no route {request.method} {request.url.path} on the kimrel relay",
    )
