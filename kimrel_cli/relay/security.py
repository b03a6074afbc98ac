"""The relay's guards, as pure ASGI middleware: Host check, local token, body limit, opt-in CORS.

Each rejection is answered in the wire shape of the request's protocol (`protocol_for`, rows in
`PATH_PROTOCOLS`; shapes in `protocols/errors.ERROR_WIRE`): Anthropic's `{"type":"error",…}` on
Messages paths or when `anthropic-version` is sent, OpenAI's `{"error":{…}}` elsewhere. Order (outermost first): HostGuard → Cors → TokenGuard → BodyLimit (size, time, and the
relay-wide budget of large bodies held at once).
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from kimrel_cli.protocols.errors import ERROR_WIRE, ClientProtocol

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

REASON_KEY = "kimrel.reason"  # a rejection's short reason, for the request log (dashboard.py)

# Routes anyone on the machine may reach without the token (they say nothing secret).
OPEN_ROUTES = {("GET", "/health"), ("HEAD", "/health"), ("HEAD", "/")}

# Path fragments → the protocol whose error shape a request gets (after `anthropic-version`).
PATH_PROTOCOLS: dict[str, ClientProtocol] = {
    "/messages": ClientProtocol.ANTHROPIC,
    "/responses": ClientProtocol.RESPONSES,
}


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or ():
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


def protocol_for(path: str, anthropic_version: str | None) -> ClientProtocol:
    """Which protocol's error shape a request gets: `anthropic-version` sent, else by path."""
    if anthropic_version:
        return ClientProtocol.ANTHROPIC
    for fragment, protocol in PATH_PROTOCOLS.items():
        if fragment in path:
            return protocol
    return ClientProtocol.CHAT


def protocol_of_scope(scope: Scope) -> ClientProtocol:
    return protocol_for(scope.get("path", ""), _header(scope, b"anthropic-version"))


def error_body(
    protocol: ClientProtocol, status: int, message: str, code: str | None = None
) -> dict[str, Any]:
    """A relay-made error body in the given protocol's shape."""
    return ERROR_WIRE[protocol].relay_body(status, message, code)


async def send_error(
    send: Send,
    protocol: ClientProtocol,
    status: int,
    message: str,
    *,
    code: str | None = None,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    body = json.dumps(error_body(protocol, status, message, code)).encode()
    raw = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *(headers or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body, "more_body": False})


def is_loopback_host(host_header: str) -> bool:
    """True for `localhost`, `*.localhost`, 127.0.0.0/8 and [::1], with or without a port."""
    host = host_header.strip().lower()
    if not host:
        return False
    if host.startswith("["):
        end = host.find("]")
        if end < 0 or (host[end + 1 :] and not _is_port(host[end + 1 :])):
            return False
        host = host[1:end]
    elif host.count(":") == 1:
        host, port = host.split(":")
        if not _is_port(":" + port):
            return False
    elif ":" in host:
        return False  # a bare IPv6 address is not a valid Host header
    host = host.rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _is_port(text: str) -> bool:
    return text.startswith(":") and text[1:].isdigit() and 0 < int(text[1:]) < 65536


def is_loopback_bind(host: str) -> bool:
    """True when binding `host` keeps the relay reachable from this machine only."""
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class HostGuard:
    """Reject requests whose Host header is not a loopback name or address (DNS rebinding).

    With `allow_any=True` (remote mode, where a token is mandatory) every Host passes.
    """

    def __init__(self, app: ASGIApp, *, allow_any: bool = False) -> None:
        self.app = app
        self.allow_any = allow_any

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.allow_any:
            await self.app(scope, receive, send)
            return
        host = _header(scope, b"host")
        if host is None:
            scope[REASON_KEY] = "rejected: no Host header"
            await send_error(send, protocol_of_scope(scope), 400, "missing Host header")
            return
        if not is_loopback_host(host):
            scope[REASON_KEY] = f"rejected: Host {host!r} is not a loopback name"
            await send_error(
                send,
                protocol_of_scope(scope),
                421,
                f"Host {host!r} is not a loopback name; the relay answers only localhost",
                code="invalid_host",
            )
            return
        await self.app(scope, receive, send)


SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


class TokenGuard:
    """Require the local token as `Authorization: Bearer T` or `x-api-key: T` (not on OPEN_ROUTES).

    Without a token (`--no-auth`) a web page could still post to the relay (CSRF: a `text/plain`
    form or fetch needs no preflight). Then every API request must not carry a foreign `Origin`
    (any but `cors_origin`) and every request with a body must be `application/json`: 403 / 415.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        token: str | Callable[[], str | None] | None,
        cors_origin: str | None = None,
    ) -> None:
        self.app = app
        # a callable is asked on every request: `kimrel serve token --rotate` changes the token
        self.source = token if callable(token) else None
        self.token = None if callable(token) else (token.encode() if token else None)
        self.cors_origin = cors_origin.rstrip("/") if cors_origin else None

    def _current(self) -> bytes | None:
        if self.source is None:
            return self.token
        token = self.source()
        return token.encode() if token else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or (scope.get("method"), scope.get("path")) in OPEN_ROUTES
            or scope.get("method") == "OPTIONS"
        ):
            await self.app(scope, receive, send)
            return
        current = self._current()
        if current is None:
            if await self._cross_site(scope, send):
                return
            await self.app(scope, receive, send)
            return
        if self._presented(scope, current):
            await self.app(scope, receive, send)
            return
        scope[REASON_KEY] = (
            "rejected: wrong local token"
            if _header(scope, b"authorization") or _header(scope, b"x-api-key")
            else "rejected: no local token"
        )
        await send_error(
            send,
            protocol_of_scope(scope),
            401,
            "missing or wrong local relay token: send it as 'Authorization: Bearer <token>' or "
            "'x-api-key: <token>' (print it with: kimrel serve token)",
        )

    async def _cross_site(self, scope: Scope, send: Send) -> bool:
        """Refuse (and return True) what a browser page on another site could send."""
        origin = _header(scope, b"origin")
        if origin is not None and origin.rstrip("/") != self.cors_origin:
            scope[REASON_KEY] = f"rejected: foreign Origin {origin!r} (no token)"
            await send_error(
                send,
                protocol_of_scope(scope),
                403,
                f"requests from web pages (Origin {origin!r}) are refused while the relay runs "
                "with --no-auth",
                code="forbidden_origin",
            )
            return True
        if scope.get("method") in SAFE_METHODS:
            return False
        kind = (_header(scope, b"content-type") or "").split(";")[0].strip().lower()
        if kind != "application/json":
            scope[REASON_KEY] = f"rejected: content-type {kind or 'none'!r} (no token)"
            await send_error(
                send,
                protocol_of_scope(scope),
                415,
                f"content-type {kind or 'none'!r} is not accepted: send application/json",
                code="unsupported_media_type",
            )
            return True
        return False

    def _presented(self, scope: Scope, token: bytes) -> bool:
        candidates: list[str] = []
        auth = _header(scope, b"authorization")
        if auth and auth[:7].lower() == "bearer ":
            candidates.append(auth[7:].strip())
        api_key = _header(scope, b"x-api-key")
        if api_key:
            candidates.append(api_key.strip())
        return any(hmac.compare_digest(c.encode(), token) for c in candidates)


class BodyTooLarge(Exception):
    pass


class BodyTooSlow(BodyTooLarge):
    """The body did not arrive within BodyLimit's deadline (a BodyTooLarge, so the routes'
    handlers pass it through untouched)."""


class BodyOverBudget(BodyTooLarge):
    """A large body would take the relay over its budget of large bodies at once."""


class BodyBudget:
    """Bytes of large request bodies the relay holds at once, relay-wide.

    Touched only on the server's event loop (no lock). `take` never waits: a body that does not
    fit is refused at once, so nothing is buffered while the relay is full.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def take(self, size: int) -> bool:
        if self.used + size > self.limit:
            return False
        self.used += size
        return True

    def give(self, size: int) -> None:
        self.used = max(0, self.used - size)


OVERLOADED_RETRY_AFTER = 1  # seconds; the budget frees as soon as one large request ends


class BodyLimit:
    """Cap request bodies (by Content-Length up front, and by counting while reading) → 413,
    the time to receive one (`timeout` seconds from the first read) → 408, and the large bodies
    held at once → 503 with Retry-After.

    A body over `large` bytes (default 1/16 of `max_bytes`, 2 MB at the default 32 MB) counts
    against a relay-wide `budget` (default 4 × `max_bytes`, 128 MB) from its first byte until its
    request is answered: parsing and translating a JSON body costs a few times its size, and the
    parsed request lives as long as its answer, so counting only the bytes still arriving would
    not bound memory. A declared length is reserved before anything is read; a chunked body
    reserves as it grows. Four bodies at the 32 MB limit fit at once (eight peaked at 1 GB in
    issue 14); smaller bodies never touch the budget, so a burst of huge uploads cannot stop
    ordinary requests.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int,
        timeout: float = 120.0,
        budget: int | None = None,
        large: int | None = None,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout = timeout
        self.budget = BodyBudget(4 * max_bytes if budget is None else budget)
        self.large = max(1, max_bytes // 16) if large is None else large

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = _header(scope, b"content-length")
        declared = int(length) if length is not None and length.isdigit() else None
        if declared is not None and declared > self.max_bytes:
            await self._reject(scope, send)
            return
        held = 0  # bytes of the budget this request holds, given back when it ends
        if declared is not None and declared > self.large:
            if not self.budget.take(declared):
                await self._overloaded(scope, send)
                return
            held = declared
        seen = 0
        started = False
        deadline: float | None = None
        body_done = False

        async def counting_receive() -> Message:
            nonlocal seen, deadline, body_done, held
            if body_done:
                return await receive()  # waiting for a disconnect: no deadline
            loop = asyncio.get_running_loop()
            if deadline is None:
                deadline = loop.time() + self.timeout
            try:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - loop.time()))
            except asyncio.TimeoutError:
                raise BodyTooSlow() from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge()
                if seen > self.large and seen > held:  # a chunked (or understated) body grows
                    if not self.budget.take(seen - held):
                        raise BodyOverBudget()
                    held = seen
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooSlow:
            if not started:
                scope[REASON_KEY] = f"rejected: body not received within {self.timeout:g} s"
                await send_error(
                    send,
                    protocol_of_scope(scope),
                    408,
                    f"the request body did not arrive within {self.timeout:g} s",
                    headers=[(b"connection", b"close")],
                )
        except BodyOverBudget:
            if not started:
                await self._overloaded(scope, send)
        except BodyTooLarge:
            if not started:
                await self._reject(scope, send)
        finally:
            self.budget.give(held)

    async def _reject(self, scope: Scope, send: Send) -> None:
        mb = self.max_bytes / (1024 * 1024)
        scope[REASON_KEY] = f"rejected: body over the {mb:g} MB limit"
        await send_error(
            send,
            protocol_of_scope(scope),
            413,
            f"request body is larger than the relay's limit of {mb:g} MB",
        )

    async def _overloaded(self, scope: Scope, send: Send) -> None:
        """503 in the caller's shape (Anthropic: `overloaded_error`), Retry-After, never read."""
        mb = self.budget.limit / (1024 * 1024)
        scope[REASON_KEY] = f"rejected: large bodies over the {mb:g} MB budget"
        protocol = protocol_of_scope(scope)
        message = (
            f"the relay is busy with {mb:g} MB of large requests; "
            f"retry in {OVERLOADED_RETRY_AFTER} s"
        )
        body = error_body(protocol, 503, message, "overloaded")
        if protocol is ClientProtocol.ANTHROPIC:
            body["error"]["type"] = "overloaded_error"  # what Anthropic's clients retry
        raw = json.dumps(body).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(raw)).encode()),
            (b"retry-after", str(OVERLOADED_RETRY_AFTER).encode()),
            (b"connection", b"close"),  # the unread body stays on this connection
        ]
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send({"type": "http.response.body", "body": raw, "more_body": False})


class Cors:
    """CORS headers for exactly one configured origin; nothing at all when none is configured."""

    def __init__(self, app: ASGIApp, *, origin: str | None) -> None:
        self.app = app
        self.origin = origin.rstrip("/") if origin else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.origin is None:
            await self.app(scope, receive, send)
            return
        origin = _header(scope, b"origin")
        if origin != self.origin:
            await self.app(scope, receive, send)
            return
        allow = [
            (b"access-control-allow-origin", origin.encode()),
            (b"vary", b"Origin"),
        ]
        if scope.get("method") == "OPTIONS" and _header(scope, b"access-control-request-method"):
            requested = _header(scope, b"access-control-request-headers") or ""
            headers = [
                *allow,
                (b"access-control-allow-methods", b"GET, POST, HEAD, OPTIONS"),
                (b"access-control-allow-headers", requested.encode() or b"*"),
                (b"access-control-max-age", b"600"),
                (b"content-length", b"0"),
            ]
            await send({"type": "http.response.start", "status": 204, "headers": headers})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return

        async def add_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = dict(message)
                message["headers"] = [*list(message.get("headers") or []), *allow]
            await send(message)

        await self.app(scope, receive, add_headers)
