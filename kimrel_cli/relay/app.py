"""`create_app(ctx_or_config) -> Starlette`: the relay's routes behind its security middleware.

No module globals: everything a route needs comes from the RelayContext bound here, so two
relays in one process never share state. Middleware order (outermost first): Host check,
CORS (opt-in), local token, body-size limit.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route

from kimrel_cli.protocols.errors import ClientProtocol
from kimrel_cli.relay import routes
from kimrel_cli.relay.chat_route import chat_completions
from kimrel_cli.relay.context import RelayConfig, RelayContext, build_context
from kimrel_cli.relay.dashboard import RequestTrace
from kimrel_cli.relay.messages_route import messages
from kimrel_cli.relay.responses_route import responses
from kimrel_cli.relay.security import BodyLimit, Cors, HostGuard, TokenGuard
from kimrel_cli.relay.shared import Handler, guarded

ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
ANTHROPIC, CHAT, RESPONSES = ClientProtocol.ANTHROPIC, ClientProtocol.CHAT, ClientProtocol.RESPONSES


@dataclass(frozen=True)
class RouteSpec:
    """One relay route: a client protocol's endpoint is one row of `ROUTES`."""

    path: str
    handler: Handler
    protocol: ClientProtocol | None = None  # None: by path and `anthropic-version` header
    methods: tuple[str, ...] = ("POST",)


ROUTES: tuple[RouteSpec, ...] = (
    RouteSpec("/v1/chat/completions", chat_completions, CHAT),
    RouteSpec("/v1/messages", messages, ANTHROPIC),
    RouteSpec("/v1/v1/messages", messages, ANTHROPIC),
    RouteSpec("/v1/messages/count_tokens", routes.count_tokens, ANTHROPIC),
    RouteSpec("/v1/v1/messages/count_tokens", routes.count_tokens, ANTHROPIC),
    RouteSpec("/v1/models", routes.list_models, methods=("GET",)),
    RouteSpec("/v1/models/{model_id:path}", routes.get_model, methods=("GET",)),
    RouteSpec("/v1/responses", responses, RESPONSES),
    RouteSpec("/responses", responses, RESPONSES),
    RouteSpec("/health", routes.health, methods=("GET",)),
    RouteSpec("/", routes.head_root, methods=("HEAD", "GET")),
    RouteSpec("/api/event_logging/batch", routes.event_logging),
)


def create_app(
    ctx_or_config: RelayContext | RelayConfig, routes_: Sequence[RouteSpec] = ROUTES
) -> Starlette:
    """The relay ASGI app; `app.state.ctx` is its RelayContext. Unknown paths get a 404 in the
    caller's protocol."""
    ctx = ctx_or_config if isinstance(ctx_or_config, RelayContext) else build_context(ctx_or_config)
    table = [
        Route(spec.path, guarded(spec.handler, ctx, spec.protocol), methods=list(spec.methods))
        for spec in routes_
    ]
    table.append(Route("/{path:path}", guarded(routes.not_found, ctx), methods=ALL_METHODS))
    config = ctx.config
    middleware = [
        Middleware(RequestTrace, record=ctx.record),  # outermost: logs every request
        Middleware(HostGuard, allow_any=config.allow_remote),
        Middleware(Cors, origin=config.cors_origin),
        Middleware(TokenGuard, token=lambda: config.token, cors_origin=config.cors_origin),
        Middleware(BodyLimit, max_bytes=config.max_body, timeout=config.body_timeout),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        if ctx.upstream is not None:  # the upstream client's pooled connections, on this loop
            await ctx.aclose()

    app = Starlette(routes=table, middleware=middleware, lifespan=lifespan)
    app.state.ctx = ctx
    return app
