"""The one streaming pipeline every streaming route hands its work to.

`stream(ctx, job, adapter)` opens the upstream SSE stream before any byte goes out (so an
upstream error is an ordinary HTTP error in the caller's protocol, and the client's retry logic
works), then answers 200 with a `RelayStream`: the adapter's `start()`, each upstream event fed
to the adapter's state machine as it arrives, a keep-alive after every `ping_interval` seconds
of upstream silence, the adapter's `fail()` on a mid-stream failure, `finish()` at the end.

`RelayStream` is a starlette `Response` that sends the body as it comes (no buffering), watches
for the client going away (which closes the upstream stream and logs the request as 499), ends
with the protocol's error event when the relay stops (`RelayContext.stop_streams`), and always
records the request on the dashboard however the stream ends.

A client protocol plugs in with a `StreamAdapter`: five small methods that turn upstream events
into wire bytes. The adapters for the real protocols live next to their routes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from starlette.responses import Response

from kimrel_cli.errors import KimrelError, UpstreamUnavailable
from kimrel_cli.protocols.errors import ERROR_WIRE, ClientProtocol
from kimrel_cli.protocols.sse import SSEEvent, encode_event

if TYPE_CHECKING:
    from kimrel_cli.relay.context import RelayContext, UpstreamCall

logger = logging.getLogger("kimrel.relay")

Scope = Any
Receive = Callable[[], Awaitable[Any]]
Send = Callable[[Any], Awaitable[None]]

SSE_MEDIA_TYPE = "text/event-stream"
SSE_HEADERS = {
    "cache-control": "no-cache",
    "x-accel-buffering": "no",
    "connection": "keep-alive",
}


STOPPED_MESSAGE = (
    "kimrel: the relay stopped while this answer was streaming; run it again and retry."
)


def shutdown_tail(protocol: ClientProtocol) -> bytes:
    """The last event of a stream the relay ends because it is stopping, in its protocol."""
    name, data = ERROR_WIRE[protocol].stopped_event(STOPPED_MESSAGE)
    return encode_event(name, json.dumps(data))


def stream_error(exc: KimrelError, protocol: ClientProtocol) -> bytes:
    """The event that ends a stream which has already begun, in its protocol (no `event:` line
    when the protocol names none)."""
    name, data = ERROR_WIRE[protocol].stream_event(exc)
    return encode_event(name, data)


class StreamAdapter(Protocol):
    """A client protocol's side of a stream: upstream chat-completions events → wire bytes."""

    @property
    def done(self) -> bool: ...  # True once the adapter has said its last word (stop reading)

    def start(self) -> bytes: ...  # sent at once, before the first upstream event

    def feed(self, event: SSEEvent) -> bytes: ...  # one upstream event (never `[DONE]`)

    def keepalive(self) -> bytes: ...  # upstream silent for `ping_interval` seconds

    def finish(self, upstream_done: bool) -> bytes: ...  # upstream ended (`[DONE]` seen or not)

    def fail(self, exc: KimrelError) -> bytes: ...  # a failure after the stream began

    def outcome(self) -> Outcome: ...  # for the request log, once the stream has ended


@dataclass
class Outcome:
    """What the request log says about a finished stream."""

    tokens_in: int | None = None
    tokens_out: int | None = None
    error: str | None = None
    error_code: str | None = None  # the usage ledger's code for `error`


@dataclass
class StreamJob:
    """A route's streaming request, ready to go upstream."""

    protocol: ClientProtocol
    route: str  # as the request log shows it
    model: str  # as the request log shows it
    started: float  # time.monotonic() when the request arrived
    upstream_path: str
    body: dict[str, Any]
    headers: Mapping[str, str]  # forwarded upstream
    out_headers: dict[str, str] = field(default_factory=dict)  # sent to the client
    on_open_error: Callable[[Exception], Response] | None = None  # an upstream refusal → answer
    on_close: Callable[[], None] | None = None  # after the stream ended (e.g. remember it)


async def stream(ctx: RelayContext, job: StreamJob, adapter: StreamAdapter) -> Response:
    """Open the upstream stream and answer with the adapter's translation of it.

    A request the rate-limit pacer holds (relay/pacing.py) gets its stream at once instead: the
    adapter's `start()`, a keep-alive every `ping_interval` seconds while it waits, then the
    upstream stream (an error from here on is the protocol's stream error event). A spend cap
    refuses before that, as an HTTP error: clients read "do not retry" from its status.
    """
    from kimrel_cli.relay.context import REQUEST_ATTRIBUTION, UPSTREAM_CALL, UpstreamCall

    call = UPSTREAM_CALL.get() or UpstreamCall(protocol=job.protocol.value)
    try:
        held = ctx.pacer.would_hold()
        if held:  # would a spend cap refuse it? then say so now, not after the wait
            ctx.budgets.check(job.body, REQUEST_ATTRIBUTION.get())
    except Exception as exc:  # a cap, or a window that resets later than the relay waits
        if job.on_open_error is None:
            raise
        return job.on_open_error(exc)
    if held:
        return _held_stream(ctx, job, adapter, call)
    stack = contextlib.AsyncExitStack()
    try:
        raw = await stack.enter_async_context(
            ctx.open_stream(job.upstream_path, job.body, job.headers, call)
        )
    except Exception as exc:
        await stack.aclose()
        if job.on_open_error is None:
            raise
        return job.on_open_error(exc)
    first = _first_byte(call)

    async def body() -> AsyncIterator[bytes]:
        yield first(adapter.start())
        try:
            async with contextlib.aclosing(_relay(ctx, raw, adapter, call)) as chunks:
                async for chunk in chunks:
                    yield first(chunk)
        except Exception as exc:
            yield first(_failure(adapter, exc, call))

    return RelayStream(
        body(),
        headers=job.out_headers,
        on_close=_closer(ctx, job, adapter, stack, call),
        shutdown_tail=shutdown_tail(job.protocol),
    )


def _held_stream(
    ctx: RelayContext, job: StreamJob, adapter: StreamAdapter, call: UpstreamCall
) -> Response:
    """The stream of a request the pacer holds: open to the client at once, pinged while held."""
    from kimrel_cli.relay.pacing import ADMITTED, admitted_with_pings

    stack = contextlib.AsyncExitStack()
    first = _first_byte(call)

    async def body() -> AsyncIterator[bytes]:
        yield first(adapter.start())
        try:
            async for seq in admitted_with_pings(ctx.pacer, ctx.config.ping_interval):
                if seq is None:
                    yield adapter.keepalive()
                else:
                    ADMITTED.set(seq)  # ctx.open_stream's pacer slot takes it, no second wait
            raw = await stack.enter_async_context(
                ctx.open_stream(job.upstream_path, job.body, job.headers, call)
            )
            async with contextlib.aclosing(_relay(ctx, raw, adapter, call)) as chunks:
                async for chunk in chunks:
                    yield first(chunk)
        except Exception as exc:
            yield first(_failure(adapter, exc, call))
        finally:
            ctx.pacer.drop_admitted()  # admitted, but the client left before it was sent
            await stack.aclose()  # in the task that opened it (the stream's pump)

    return RelayStream(
        body(),
        headers=job.out_headers,
        on_close=_closer(ctx, job, adapter, stack, call),
        shutdown_tail=shutdown_tail(job.protocol),
    )


def _first_byte(call: UpstreamCall) -> Callable[[bytes], bytes]:
    """Pass chunks through, noting when the first one went out (the ledger's time to first
    byte; a held stream's keep-alives do not count)."""

    def sent(chunk: bytes) -> bytes:
        if chunk and call.first_byte is None:
            call.first_byte = time.monotonic()
        return chunk

    return sent


async def _relay(
    ctx: RelayContext, raw: Any, adapter: StreamAdapter, call: UpstreamCall
) -> AsyncGenerator[bytes, None]:
    """The upstream events through the adapter, with keep-alives while upstream is silent."""
    upstream_done = False
    events = metered(raw.aiter_events(), call)
    async for event in with_pings(events, ctx.config.ping_interval):
        if event is None:
            yield adapter.keepalive()
            continue
        if event.data == "[DONE]":
            upstream_done = True
            break
        yield adapter.feed(event)
        if adapter.done:
            break
    yield adapter.finish(upstream_done)


def _failure(adapter: StreamAdapter, exc: Exception, call: UpstreamCall) -> bytes:
    from kimrel_cli.relay.context import error_code_of

    if not isinstance(exc, KimrelError):
        logger.debug("stream translation failed", exc_info=True)
        exc = UpstreamUnavailable(f"relay stream failed: {type(exc).__name__}")
    call.error_code = call.error_code or error_code_of(exc)
    return adapter.fail(exc)


def _closer(
    ctx: RelayContext,
    job: StreamJob,
    adapter: StreamAdapter,
    stack: contextlib.AsyncExitStack,
    call: UpstreamCall,
) -> Callable[[], Awaitable[None]]:
    async def close() -> None:
        await stack.aclose()
        if job.on_close is not None:
            job.on_close()
        outcome = adapter.outcome()
        if outcome.error is not None and call.error_code is None:
            call.error_code = outcome.error_code or "stream_error"
        ctx.record(
            route=job.route,
            model=job.model,
            status=200,
            started=job.started,
            tokens_in=outcome.tokens_in,
            tokens_out=outcome.tokens_out,
            stream=True,
            error=outcome.error,
            call=call,
        )

    return close


class RelayStream(Response):
    """A streaming response that cancels itself on client disconnect and always cleans up.

    While it runs it is registered in its relay's `RelayContext.streams`; `stop()` (called when
    the relay shuts down) ends it with `shutdown_tail` and a clean end of body, so the server has
    nothing to cancel and prints no traceback. A stream that ends either way is logged as
    aborted (status 499) by `RelayContext.record`.
    """

    media_type = SSE_MEDIA_TYPE

    def __init__(
        self,
        body: AsyncIterator[bytes],
        *,
        headers: Mapping[str, str] | None = None,
        on_close: Callable[[], Awaitable[None]] | None = None,
        shutdown_tail: bytes = b"",
        status_code: int = 200,
    ) -> None:
        self.status_code = status_code
        self.background = None
        self.body_iterator = body
        self.init_headers({**SSE_HEADERS, **(headers or {})})
        self.on_close = on_close
        self.shutdown_tail = shutdown_tail
        self.disconnected = False
        self.stopping = False
        self._started = False
        self._pump: asyncio.Future[None] | None = None

    def stop(self) -> None:
        """End the stream now (relay shutdown): the client gets `shutdown_tail`."""
        self.stopping = True
        if self._pump is not None and not self._pump.done():
            self._pump.cancel()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        from kimrel_cli.relay.context import STREAM_ABORTED

        ctx = getattr(getattr(scope.get("app"), "state", None), "ctx", None)
        streams: set[Any] | None = getattr(ctx, "streams", None)
        pump = self._pump = asyncio.ensure_future(self._pump_body(send))
        watch = asyncio.ensure_future(self._watch(receive))
        if streams is not None:
            streams.add(self)
            if getattr(ctx, "stopping", False):
                self.stop()
        try:
            done, _ = await asyncio.wait({pump, watch}, return_when=asyncio.FIRST_COMPLETED)
            if watch in done and not pump.done():
                self.disconnected = True
                pump.cancel()
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await pump
            if self.stopping and not self.disconnected and pump.cancelled():
                await self._finish(send, self.shutdown_tail)
        finally:
            if streams is not None:
                streams.discard(self)
            watch.cancel()
            pump.cancel()
            with contextlib.suppress(BaseException):
                await watch
            aclose = getattr(self.body_iterator, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(BaseException):
                    await aclose()
            reason = None
            if self.disconnected or (self.stopping and pump.cancelled()):
                reason = "client disconnected" if self.disconnected else "relay stopped"
            token = STREAM_ABORTED.set(reason)
            try:
                if self.on_close is not None:
                    with contextlib.suppress(BaseException):
                        await self.on_close()
            finally:
                STREAM_ABORTED.reset(token)

    async def _finish(self, send: Send, tail: bytes) -> None:
        with contextlib.suppress(OSError, RuntimeError):
            if not self._started:
                await send(self._start_message())
            await send({"type": "http.response.body", "body": tail, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    def _start_message(self) -> dict[str, Any]:
        return {
            "type": "http.response.start",
            "status": self.status_code,
            "headers": self.raw_headers,
        }

    async def _pump_body(self, send: Send) -> None:
        await send(self._start_message())
        self._started = True
        async for chunk in self.body_iterator:
            if chunk:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _watch(self, receive: Receive) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return


async def metered(events: AsyncIterator[SSEEvent], call: UpstreamCall) -> AsyncIterator[SSEEvent]:
    """Upstream events, unchanged, noting for the usage ledger the usage they report and
    whether the upstream answer ran to its end (`[DONE]`, or a clean end of body): the API
    bills a stream that completed, not one cut short."""
    async for event in events:
        data = event.data
        if data == "[DONE]":
            call.completed = True
        elif '"usage"' in data:
            with contextlib.suppress(ValueError):
                chunk = json.loads(data)
                if isinstance(chunk, dict):
                    message = chunk.get("message")
                    if isinstance(message, dict):  # Anthropic's message_start
                        call.note_usage(message.get("usage"))
                    call.note_usage(chunk.get("usage"))
        yield event
    call.completed = True


class _Failed:
    """The upstream iterator raised: re-raised in the consumer, where the pipeline handles it."""

    def __init__(self, exc: Exception) -> None:
        self.exc = exc


_END = object()


_IDLE = object()  # _get_within: nothing arrived in time


async def _get_within(queue: asyncio.Queue[Any], timeout: float) -> Any:
    """`queue.get()`, or _IDLE after `timeout` seconds.

    Not `asyncio.wait_for`: before Python 3.12 it swallows a cancellation that arrives as the
    get completes, and a stream whose client had left then ran on to its end (and was billed).
    """
    getter = asyncio.ensure_future(queue.get())
    try:
        done, _ = await asyncio.wait((getter,), timeout=timeout)
    except BaseException:
        getter.cancel()
        raise
    if done:
        return getter.result()
    getter.cancel()  # not done, and nothing ran since: no item is lost
    return _IDLE


async def with_pings(
    events: AsyncIterator[SSEEvent], interval: float
) -> AsyncIterator[SSEEvent | None]:
    """Upstream events as they come; None after every `interval` seconds of upstream silence.

    One reader task per stream pulls the upstream events into a small queue (so a ping never
    cancels a pending read, which would break the iterator); an event already queued is taken
    at once, and only while upstream is idle is there a timed wait (`_get_within`).
    """
    queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=64)

    async def read() -> None:
        try:
            async for event in events:
                await queue.put(event)
        except Exception as exc:
            await queue.put(_Failed(exc))
            return
        await queue.put(_END)

    reader = asyncio.ensure_future(read())
    try:
        while True:
            try:
                item = queue.get_nowait()
            except asyncio.QueueEmpty:
                item = await _get_within(queue, interval)
                if item is _IDLE:
                    yield None
                    continue
            if item is _END:
                return
            if isinstance(item, _Failed):
                raise item.exc
            yield item
    finally:
        reader.cancel()
        with contextlib.suppress(BaseException):
            await reader
