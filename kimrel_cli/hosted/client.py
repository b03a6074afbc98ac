"""The hosted-API client: BaseClient builds requests and reads answers; Client/AsyncClient send.

- Every answer's `X-Credits-Remaining` and `X-RateLimit-*` headers land in `Result.rate`.
- Every documented error (both body shapes) becomes a typed UpstreamError (hosted/errors.py);
  connection failures, timeouts and unreadable bodies become UpstreamUnavailable.
- 429, 5xx and connection failures are retried with exponential backoff and jitter, honouring
  Retry-After / X-RateLimit-Reset (a wait above 10 s is reported at once, not waited for), but
  only before the caller has received any byte: once a stream is handed out, nothing is retried.
  An error given up on is marked `final` (see hosted/retry.py): the relay's clients must not
  retry it again.
- Timeouts as documented: connect 30 s, read 600 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from kimrel_cli import __version__
from kimrel_cli.apikey import ApiKey, redact
from kimrel_cli.errors import KimrelError, UpstreamError, UpstreamUnavailable
from kimrel_cli.hosted.errors import error_from_response
from kimrel_cli.hosted.ratelimit import RateInfo
from kimrel_cli.hosted.retry import Backoff, is_retryable
from kimrel_cli.protocols.errors import wire_class
from kimrel_cli.protocols.sse import SSEDecoder, SSEEvent

DEFAULT_BASE_URL = "https://kimrel.com/api"
DEFAULT_TIMEOUT = httpx.Timeout(600.0, connect=30.0)


@dataclass
class Result:
    """One answer: the parsed body and what the headers said about credits and limits."""

    data: Any
    rate: RateInfo
    status: int
    headers: dict[str, str]
    elapsed: float


class BaseClient:
    """Everything that does no I/O: URLs, headers, parsing answers and errors."""

    def __init__(
        self,
        api_key: ApiKey | str | None,
        base_url: str = DEFAULT_BASE_URL,
        *,
        max_retries: int = 3,
        timeout: httpx.Timeout | None = None,
        headers: Mapping[str, str] | None = None,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        max_wait: float = 10.0,
    ) -> None:
        self._key = api_key if isinstance(api_key, ApiKey) or api_key is None else ApiKey(api_key)
        self.base_url = base_url.rstrip("/")
        self.max_retries = max_retries
        self.timeout = timeout or DEFAULT_TIMEOUT
        self.extra_headers = dict(headers or {})
        self.backoff = Backoff(backoff_base, backoff_max, max_wait)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.shown_url!r}, key={self._key!r})"

    @property
    def shown_url(self) -> str:
        """The base URL as messages show it: credentials in it (`user:pass@`) redacted."""
        return redact(self.base_url)

    def url(self, path: str) -> str:
        return self.base_url + (path if path.startswith("/") else "/" + path)

    def build_headers(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        headers = {"User-Agent": f"kimrel/{__version__}", "Accept": "application/json"}
        headers.update(self.extra_headers)
        if extra:
            headers.update(extra)
        if self._key:
            headers["Authorization"] = f"Bearer {self._key.reveal()}"
        return headers

    def unreachable(self, exc: Exception) -> UpstreamUnavailable:
        if isinstance(exc, httpx.TimeoutException):
            return UpstreamUnavailable(
                f"the API at {self.shown_url} timed out ({type(exc).__name__})",
                hint="Try again; if it keeps happening the service may be overloaded.",
                timeout=True,
            )
        return UpstreamUnavailable(
            f"cannot reach the API at {self.shown_url} ({type(exc).__name__})",
            hint="Check your network, or the base URL (KIMREL_BASE_URL, `kimrel config set base_url`).",
        )

    def error_for(
        self, status: int, body_bytes: bytes, headers: Mapping[str, str]
    ) -> UpstreamError:
        try:
            body = json.loads(body_bytes) if body_bytes else None
        except ValueError:
            body = {"error": {"message": body_bytes[:200].decode("utf-8", "replace").strip()}}
        return error_from_response(status, body, headers, (self._key,))

    def parse_json(self, response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            raise UpstreamUnavailable(
                f"the API at {self.shown_url} answered with something that is not JSON "
                f"(HTTP {response.status_code}, {response.headers.get('content-type', 'no content type')})",
                hint="Check the base URL: it should be the API root, e.g. https://kimrel.com/api.",
            ) from None

    def delay(self, attempt: int, error: KimrelError) -> float | None:
        """Seconds to wait before retry number `attempt`, or None if the error is final.

        A retryable error given up on (retries used up, or a server-asked wait above
        `backoff.max_wait`) is marked `final` when this client retries at all (max_retries > 0),
        so whoever gets it next does not retry it again; `attempts` counts the requests made.
        """
        error.attempts = attempt + 1
        if not is_retryable(error):
            return None
        wait = None
        if attempt < self.max_retries:
            retry_after = error.retry_after if isinstance(error, UpstreamError) else None
            wait = self.backoff.delay(attempt, retry_after=retry_after, random=random.random)
        if wait is None and self.max_retries > 0:
            error.final = True
        return wait

    @staticmethod
    def stream_body(body: Mapping[str, Any]) -> dict[str, Any]:
        """A chat request body for streaming, with usage in the last chunk."""
        out = dict(body)
        out["stream"] = True
        options = dict(out.get("stream_options") or {})
        options.setdefault("include_usage", True)
        out["stream_options"] = options
        return out


def _result(client: BaseClient, response: httpx.Response, started: float) -> Result:
    return Result(
        data=client.parse_json(response),
        rate=RateInfo.from_headers(response.headers),
        status=response.status_code,
        headers=dict(response.headers),
        elapsed=time.monotonic() - started,
    )


def _stream_error(
    event: SSEEvent, headers: Mapping[str, str], base: BaseClient
) -> UpstreamError | None:
    """An error event/line inside a stream, as a typed error (status from the body's type)."""
    if event.event != "error" and '"error"' not in event.data[:40]:
        return None
    try:
        data = json.loads(event.data)
    except ValueError:
        return None
    if not isinstance(data, dict) or "error" not in data:
        return None
    error = data["error"]
    code, kind = (error.get("code"), error.get("type")) if isinstance(error, dict) else (None, None)
    _, status = wire_class(code, kind)
    return error_from_response(status, data, headers, (base._key,))


class ChatStream:
    """Chat completion chunks (dicts) as they arrive; `[DONE]` ends iteration."""

    def __init__(self, response: httpx.Response, base: BaseClient) -> None:
        self._response = response
        self._base = base
        self.status = response.status_code
        self.headers = dict(response.headers)
        self.rate = RateInfo.from_headers(response.headers)

    def events(self) -> Iterator[SSEEvent]:
        decoder = SSEDecoder()
        try:
            for raw in self._response.iter_bytes():
                yield from decoder.feed(raw)
        except httpx.HTTPError as exc:
            raise UpstreamUnavailable(
                f"the stream from {self._base.shown_url} broke off ({type(exc).__name__})",
                hint="The answer was cut short; try again.",
            ) from None
        yield from decoder.flush()

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for event in self.events():
            if event.data.strip() == "[DONE]":
                return
            error = _stream_error(event, self.headers, self._base)
            if error is not None:
                raise error
            try:
                yield json.loads(event.data)
            except ValueError:
                continue

    def close(self) -> None:
        self._response.close()


class Client(BaseClient):
    """Synchronous client (CLI commands, the chat REPL)."""

    def __init__(
        self,
        api_key: ApiKey | str | None,
        base_url: str = DEFAULT_BASE_URL,
        *,
        transport: httpx.BaseTransport | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(api_key, base_url, **kwargs)
        self._http = httpx.Client(timeout=self.timeout, transport=transport, trust_env=False)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _send(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        stream: bool = False,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        attempt = 0
        while True:
            request = self._http.build_request(
                method, self.url(path), json=body, headers=self.build_headers(headers)
            )
            try:
                response = self._http.send(request, stream=stream)
            except httpx.HTTPError as exc:
                error: KimrelError = self.unreachable(exc)
            else:
                if response.status_code < 400:
                    return response
                error = self.error_for(response.status_code, response.read(), response.headers)
                response.close()
            wait = self.delay(attempt, error)
            if wait is None:
                raise error
            time.sleep(wait)
            attempt += 1

    def request(
        self, method: str, path: str, body: Any = None, *, headers: Mapping[str, str] | None = None
    ) -> Result:
        started = time.monotonic()
        response = self._send(method, path, body, headers=headers)
        return _result(self, response, started)

    def list_models(self) -> Result:
        return self.request("GET", "/v1/models")

    def credits(self) -> Result:
        return self.request("GET", "/user/credits")

    def chat(self, body: Mapping[str, Any], *, headers: Mapping[str, str] | None = None) -> Result:
        return self.request(
            "POST", "/v1/chat/completions", {**body, "stream": False}, headers=headers
        )

    @contextlib.contextmanager
    def stream_chat(
        self, body: Mapping[str, Any], *, headers: Mapping[str, str] | None = None
    ) -> Iterator[ChatStream]:
        response = self._send(
            "POST",
            "/v1/chat/completions",
            self.stream_body(body),
            stream=True,
            headers=headers,
        )
        try:
            yield ChatStream(response, self)
        finally:
            response.close()


class RawStream:
    """An upstream streaming answer as bytes or decoded SSE events; nothing is retried inside."""

    def __init__(self, response: httpx.Response, base: BaseClient) -> None:
        self._response = response
        self._base = base
        self.status = response.status_code
        self.headers = dict(response.headers)
        self.rate = RateInfo.from_headers(response.headers)

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        try:
            async for raw in self._response.aiter_bytes():
                yield raw
        except httpx.HTTPError as exc:
            raise UpstreamUnavailable(
                f"the stream from {self._base.shown_url} broke off ({type(exc).__name__})",
                hint="The answer was cut short; try again.",
                timeout=isinstance(exc, httpx.TimeoutException),
            ) from None

    async def aiter_events(self) -> AsyncIterator[SSEEvent]:
        decoder = SSEDecoder()
        async for raw in self.aiter_bytes():
            for event in decoder.feed(raw):
                yield event
        for event in decoder.flush():
            yield event

    async def aclose(self) -> None:
        await self._response.aclose()


class AsyncClient(BaseClient):
    """Asynchronous client (the relay)."""

    def __init__(
        self,
        api_key: ApiKey | str | None,
        base_url: str = DEFAULT_BASE_URL,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(api_key, base_url, **kwargs)
        if transport is None:  # one pool for every request, kept alive (hosted/transport.py)
            from kimrel_cli.hosted.transport import upstream_transport

            transport = upstream_transport()
        self._http = httpx.AsyncClient(timeout=self.timeout, transport=transport, trust_env=False)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _send(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        stream: bool = False,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        attempt = 0
        while True:
            request = self._http.build_request(
                method, self.url(path), json=body, headers=self.build_headers(headers)
            )
            try:
                response = await self._http.send(request, stream=stream)
            except httpx.HTTPError as exc:
                error: KimrelError = self.unreachable(exc)
            else:
                if response.status_code < 400:
                    return response
                error = self.error_for(
                    response.status_code, await response.aread(), response.headers
                )
                await response.aclose()
            wait = self.delay(attempt, error)
            if wait is None:
                raise error
            await asyncio.sleep(wait)
            attempt += 1

    async def request(
        self, method: str, path: str, body: Any = None, *, headers: Mapping[str, str] | None = None
    ) -> Result:
        started = time.monotonic()
        response = await self._send(method, path, body, headers=headers)
        return _result(self, response, started)

    @contextlib.asynccontextmanager
    async def open_stream(
        self, path: str, body: Mapping[str, Any], *, headers: Mapping[str, str] | None = None
    ) -> AsyncIterator[RawStream]:
        """POST with streaming; retries happen before this yields, never after."""
        response = await self._send("POST", path, dict(body), stream=True, headers=headers)
        try:
            yield RawStream(response, self)
        finally:
            await response.aclose()
