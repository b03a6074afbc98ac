"""What the relay's route modules share: reading the body, the `guarded` wrapper that turns
every failure into an error in the caller's protocol, output caps, the request-log helpers.

One module per route (chat_route, messages_route, responses_route, routes for the small ones)
imports from here and from `pipeline`; nothing here imports a route, so there is no cycle.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from kimrel_cli.errors import BadRequest, KimrelError
from kimrel_cli.protocols.errors import ClientProtocol
from kimrel_cli.relay.context import UPSTREAM_CALL, RelayContext, UpstreamCall, error_code_of
from kimrel_cli.relay.forward import error_response, relay_error_response
from kimrel_cli.relay.pipeline import RelayStream
from kimrel_cli.relay.security import BodyTooLarge, protocol_for

Handler = Callable[[Request, RelayContext], Awaitable[Response]]
CHAT_PATH = "/v1/chat/completions"
MESSAGES_PATH = "/v1/messages"


class BadBody(Exception):
    """The client's request body is not the JSON object the route needs (→ 400 in its protocol)."""


def _no_constant(name: str) -> Any:
    raise BadBody(f"request body is not valid JSON: {name} is not a JSON number")


_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")


async def read_json(
    request: Request, check: Callable[[dict[str, Any]], None] | None = None
) -> dict[str, Any]:
    """The body as a JSON object, its shape checked by `check` (a protocols.validation
    function); anything else is BadBody (a 400 in the route's protocol), never a crash."""
    raw = await request.body()
    try:
        data = json.loads(raw, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError):
        raise BadBody("request body is not valid JSON") from None
    except RecursionError:
        raise BadBody("request body is nested too deeply") from None
    if not isinstance(data, dict):
        raise BadBody("request body must be a JSON object")
    if _SURROGATE.search(raw):  # an escaped lone surrogate cannot be sent on as UTF-8
        try:
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise BadBody("request body has a lone UTF-16 surrogate in a string") from None
        except RecursionError:
            raise BadBody("request body is nested too deeply") from None
    if check is not None:
        try:
            check(data)
        except BadRequest as exc:
            raise BadBody(exc.message) from None
        except RecursionError:
            raise BadBody("request body is nested too deeply") from None
    return data


def request_protocol(request: Request) -> ClientProtocol:
    return protocol_for(request.url.path, request.headers.get("anthropic-version"))


def guarded(handler: Handler, ctx: RelayContext, protocol: ClientProtocol | None = None) -> Any:
    """Bind a handler to ctx; turn every failure into an error body in the caller's protocol."""

    async def endpoint(request: Request) -> Response:
        the_protocol = protocol or request_protocol(request)
        ctx.stats.requests += 1
        ctx.stats.in_flight += 1
        started = time.monotonic()
        streaming = False
        call = UpstreamCall(protocol=the_protocol.value)  # what the usage ledger learns
        token = UPSTREAM_CALL.set(call)
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
            return relay_error_response(the_protocol, 400, str(exc))
        except Exception as exc:
            if call.error_code is None:
                call.error_code = error_code_of(exc)
            response = error_response(exc, the_protocol)
            ctx.record(
                route=request.url.path,
                model=None,
                status=response.status_code,
                started=started,
                error=exc.message if isinstance(exc, KimrelError) else type(exc).__name__,
            )
            return response
        finally:
            UPSTREAM_CALL.reset(token)
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


def failed(
    ctx: RelayContext,
    exc: Exception,
    request: Request,
    model: str,
    started: float,
    protocol: ClientProtocol,
    response: Response | None = None,
) -> Response:
    """The error answer in the caller's protocol (or `response`, if given), recorded on the dashboard."""
    response = response or error_response(exc, protocol)
    ctx.record(
        route=request.url.path,
        model=model,
        status=response.status_code,
        started=started,
        error=exc.message if isinstance(exc, KimrelError) else type(exc).__name__,
    )
    return response


def usage_tokens(usage: Any) -> tuple[int | None, int | None]:
    """(prompt, completion) tokens from a chat completions `usage` object."""
    if not isinstance(usage, dict):
        return None, None
    return usage.get("prompt_tokens"), usage.get("completion_tokens")


def logged_model(requested: str, upstream_id: str) -> str:
    """The model as the request log shows it: a client name mapped to another reads
    `claude-opus-4-5 → kimi-k2.5`, so the log says what really ran."""
    if not requested or requested == upstream_id:
        return upstream_id
    return f"{requested} → {upstream_id}"
