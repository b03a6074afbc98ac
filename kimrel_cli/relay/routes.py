"""The relay's small routes: models, health, count_tokens, Claude Code's side requests, and 404
in the path's protocol. Chat completions, Messages and Responses each have their own module.

Each handler takes (request, ctx); `app.py` binds them to a RelayContext and wraps every one in
`shared.guarded`, so no exception ever reaches Starlette's plain-text 500.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from kimrel_cli.catalogue import MODELS
from kimrel_cli.errors import KimrelError
from kimrel_cli.protocols.codex_models import models_response
from kimrel_cli.protocols.errors import ClientProtocol
from kimrel_cli.protocols.validation import check_messages
from kimrel_cli.relay.context import RelayContext
from kimrel_cli.relay.forward import json_response, relay_error_response
from kimrel_cli.relay.shared import read_json, request_protocol

# ---- POST /v1/messages/count_tokens ------------------------------------------------------


async def count_tokens(request: Request, ctx: RelayContext) -> Response:
    from kimrel_cli.protocols.tokens import estimate_anthropic_request_tokens

    body = await read_json(request, check_messages)
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
        ClientProtocol.ANTHROPIC if anthropic else ClientProtocol.CHAT,
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


async def not_found(request: Request, ctx: RelayContext) -> Response:
    return relay_error_response(
        request_protocol(request),
        404,
        f"no route {request.method} {request.url.path} on the kimrel relay",
    )
