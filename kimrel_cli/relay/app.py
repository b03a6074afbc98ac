"""`create_app(ctx_or_config) -> Starlette`: the relay's routes behind its security middleware.

No module globals: everything a route needs comes from the RelayContext bound here, so two
relays in one process never share state. Middleware order (outermost first): Host check,
CORS (opt-in), local token, body-size limit.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route

from kimrel_cli.relay import routes
from kimrel_cli.relay.context import RelayConfig, RelayContext, build_context
from kimrel_cli.relay.dashboard import RequestTrace
from kimrel_cli.relay.messages_route import messages
from kimrel_cli.relay.security import BodyLimit, Cors, HostGuard, TokenGuard

ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


def create_app(ctx_or_config: RelayContext | RelayConfig) -> Starlette:
    """The relay ASGI app; `app.state.ctx` is its RelayContext."""
    ctx = ctx_or_config if isinstance(ctx_or_config, RelayContext) else build_context(ctx_or_config)
    g = routes.guarded
    anthropic: Any = "anthropic"
    openai: Any = "openai"
    table = [
        Route("/v1/chat/completions", g(routes.chat_completions, ctx, openai), methods=["POST"]),
        Route("/v1/messages", g(messages, ctx, anthropic), methods=["POST"]),
        Route("/v1/v1/messages", g(messages, ctx, anthropic), methods=["POST"]),
        Route(
            "/v1/messages/count_tokens", g(routes.count_tokens, ctx, anthropic), methods=["POST"]
        ),
        Route(
            "/v1/v1/messages/count_tokens", g(routes.count_tokens, ctx, anthropic), methods=["POST"]
        ),
        Route("/v1/models", g(routes.list_models, ctx), methods=["GET"]),
        Route("/v1/models/{model_id:path}", g(routes.get_model, ctx), methods=["GET"]),
        Route("/v1/responses", g(routes.responses, ctx, openai), methods=["POST"]),
        Route("/responses", g(routes.responses, ctx, openai), methods=["POST"]),
        Route("/health", g(routes.health, ctx), methods=["GET"]),
        Route("/", g(routes.head_root, ctx), methods=["HEAD", "GET"]),
        Route("/api/event_logging/batch", g(routes.event_logging, ctx), methods=["POST"]),
        Route("/{path:path}", g(routes.not_found, ctx), methods=ALL_METHODS),
    ]
    config = ctx.config
    middleware = [
        Middleware(RequestTrace, record=ctx.record),  # outermost: logs every request
        Middleware(HostGuard, allow_any=config.allow_remote),
        Middleware(Cors, origin=config.cors_origin),
        Middleware(TokenGuard, token=config.token),
        Middleware(BodyLimit, max_bytes=config.max_body),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        if ctx.upstream is not None:  # the upstream client's pooled connections, on this loop
            await ctx.aclose()

    app = Starlette(routes=table, middleware=middleware, lifespan=lifespan)
    app.state.ctx = ctx
    return app
