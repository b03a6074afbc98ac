"""What every relay route shares: settings, the upstream client, the request log, counters.

`RelayConfig` is what `kimrel serve` (or a test) decides; `RelayContext` is the live object
built from it and handed to every route. No module globals: two relays in one process (tests)
never share anything. The upstream key lives only inside the hosted AsyncClient.
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kimrel_cli.apikey import ApiKey
from kimrel_cli.catalogue import ModelInfo, get_model, resolve_alias
from kimrel_cli.config import Settings
from kimrel_cli.relay.responses_store import ResponsesStore
from kimrel_cli.usage.attribution import Attribution

if TYPE_CHECKING:
    from pathlib import Path

    from starlette.requests import Request

    from kimrel_cli.hosted.client import AsyncClient, RawStream, Result
    from kimrel_cli.relay.budget_guard import BudgetGuard
    from kimrel_cli.relay.dashboard import RequestLog
    from kimrel_cli.relay.pacing import Pacer
    from kimrel_cli.usage.ledger import LedgerWriter, UsageRow

# Request headers a client may send that the relay passes upstream. Nothing else from the
# client goes through: never its auth headers (the relay's own key replaces them).
FORWARDED_HEADERS = ("x-kimrel-fault",)

# Set by RelayStream (in its own task) just before its on_close runs, when the stream ended early:
# "client disconnected" or "relay stopped". `record` then logs the stream as 499 aborted.
STREAM_ABORTED: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "kimrel_stream_aborted", default=None
)
ABORTED_STATUS = 499  # nginx's "client closed request"; used for every stream cut short

# Who sent the request being handled (client, session, agent, project): set by RequestTrace from
# the request's headers for every HTTP request, read by the usage ledger, budgets and pacing.
REQUEST_ATTRIBUTION: contextvars.ContextVar[Attribution | None] = contextvars.ContextVar(
    "kimrel_request_attribution", default=None
)


@dataclass
class UpstreamCall:
    """What one relay request learnt from its upstream call, for the usage ledger.

    One per request, set by `shared.guarded` in UPSTREAM_CALL; `RelayContext.call` and
    `open_stream` fill it, the pipeline adds the stream's end and first byte. A request that
    never reached `call`/`open_stream` (refused by the relay itself) keeps `sent` False and
    writes no ledger row.
    """

    protocol: str  # the ledger's protocol: "anthropic", "chat" or "responses"
    started_wall: float = field(default_factory=time.time)
    model_requested: str | None = None  # the client's own model name (resolve_model)
    model: str | None = None  # the model id sent upstream
    sent: bool = False  # a generation request went upstream (chat completions / messages)
    stream: bool = False  # … asking for a stream
    completed: bool = False  # upstream answered in full: the API bills it
    credits_after: int | None = None  # X-Credits-Remaining on this request's answer
    error_code: str | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    tokens_reasoning: int | None = None
    first_byte: float | None = None  # time.monotonic() of the first body byte to the client
    recorded: bool = False  # its ledger row is written (one row per request, however it ends)

    def note_usage(self, usage: Any) -> None:
        """Token figures from an upstream `usage` object (chat completions or Anthropic)."""
        if not isinstance(usage, Mapping):
            return
        tin = usage.get("prompt_tokens", usage.get("input_tokens"))
        tout = usage.get("completion_tokens", usage.get("output_tokens"))
        details = usage.get("completion_tokens_details")
        reasoning = details.get("reasoning_tokens") if isinstance(details, Mapping) else None
        if reasoning is None:
            reasoning = usage.get("reasoning_tokens")
        for name, value in (("tokens_in", tin), ("tokens_out", tout), ("reasoning", reasoning)):
            if isinstance(value, int) and not isinstance(value, bool):
                setattr(self, "tokens_reasoning" if name == "reasoning" else name, value)


# The upstream call of the request being handled (None outside a relay route).
UPSTREAM_CALL: contextvars.ContextVar[UpstreamCall | None] = contextvars.ContextVar(
    "kimrel_upstream_call", default=None
)

DEFAULT_MAX_BODY = 32 * 1024 * 1024
DEFAULT_PING_INTERVAL = 10.0


@dataclass
class RelayConfig:
    """Everything that decides how a relay behaves; built by `kimrel serve` or by a test."""

    api_key: ApiKey | str = field(repr=False)  # a plain str key must never reach a repr
    base_url: str
    settings: Settings = field(default_factory=Settings)
    token: str | None = field(default=None, repr=False)  # None: no local token (loopback only)
    allow_remote: bool = False
    cors_origin: str | None = None
    max_body: int = DEFAULT_MAX_BODY
    body_timeout: float = 120.0  # seconds to receive a whole request body (security.BodyLimit)
    simulate: bool = False
    account: str | None = None
    ping_interval: float = DEFAULT_PING_INTERVAL
    max_retries: int = 3
    backoff_base: float = 0.5
    connect_timeout: float = 30.0
    read_timeout: float = 600.0
    image_timeout: float = 10.0
    log: RequestLog | None = None  # None: a silent log (tests); serve passes a printing one
    ledger: Path | None = None  # the usage ledger's file; None: no ledger (tests, usage.ledger off)


@dataclass
class RelayStats:
    """Counters the dashboard, `/health` and tests read. Touched only on the server's loop."""

    requests: int = 0
    errors: int = 0
    in_flight: int = 0
    streams_opened: int = 0
    streams_closed: int = 0
    credits_remaining: int | None = None
    credits_at: float = float("-inf")  # time.monotonic() when the figure above arrived
    started_at: float = field(default_factory=time.time)


def public_url(base_url: str) -> str:
    """The upstream base URL with any userinfo and query string removed (safe to show)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(base_url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


@dataclass
class RelayContext:
    """The live relay: config, upstream client, log and counters, shared by every route."""

    config: RelayConfig
    upstream: AsyncClient
    log: RequestLog
    stats: RelayStats = field(default_factory=RelayStats)
    responses: ResponsesStore = field(default_factory=ResponsesStore)
    streams: set[Any] = field(default_factory=set)  # RelayStreams in flight (forward.py)
    stopping: bool = False
    image_client: Any = None  # the one httpx client for image fetches (relay/images.py)
    ledger: LedgerWriter | None = None  # the usage ledger's writer thread (None: off)
    budgets: BudgetGuard = field(default=None)  # type: ignore[assignment]  # spend caps
    pacer: Pacer = field(init=False)  # rate-limit pacing (relay/pacing.py)

    def __post_init__(self) -> None:
        from kimrel_cli.relay.pacing import Pacer

        if self.budgets is None:
            from kimrel_cli.relay.budget_guard import BudgetGuard

            self.budgets = BudgetGuard(
                account=ledger_account(self.config),  # as the ledger names it
                on_warning=lambda text: self.log.message(text, level="warning"),
            )
        self.pacer = Pacer(
            max_wait=lambda: self.settings.pace_max_wait,
            credits=lambda: self.stats.credits_remaining,
            log=lambda text: self.log.message(text, level="warning"),
        )

    def stop_streams(self) -> int:
        """Relay shutdown: end every stream in flight with an error event; returns how many."""
        self.stopping = True
        active = list(self.streams)
        for stream in active:
            stream.stop()
        return len(active)

    @property
    def settings(self) -> Settings:
        return self.config.settings

    @property
    def upstream_url(self) -> str:
        return public_url(self.config.base_url)

    # ---- models -------------------------------------------------------------------------
    def resolve_model(self, requested: str) -> tuple[str, ModelInfo | None]:
        """The upstream model id for a client's model name, and its catalogue entry if known."""
        s = self.settings
        call = UPSTREAM_CALL.get()
        if call is not None and call.model_requested is None:
            call.model_requested = requested or None
        upstream_id = resolve_alias(
            requested or s.default_model,
            main_model=s.default_model,
            small_model=s.small_model,
            aliases=s.aliases,
        )
        return upstream_id, get_model(upstream_id, s.limits)

    def cap(self, info: ModelInfo | None) -> int | None:
        """The output-token cap for a model (None when the model is not in the catalogue)."""
        if info is None:
            return None
        refreshed = get_model(info.id, self.settings.limits)
        return (refreshed or info).max_output_tokens

    # ---- upstream -----------------------------------------------------------------------
    def forward_headers(self, request: Request) -> dict[str, str]:
        """The client headers passed upstream: only X-Kimrel-Fault; never the client's auth."""
        return {
            name: request.headers[name] for name in FORWARDED_HEADERS if name in request.headers
        }

    @contextlib.asynccontextmanager
    async def open_stream(
        self,
        path: str,
        body: dict[str, Any],
        headers: Mapping[str, str] | None,
        call: UpstreamCall,
    ) -> AsyncIterator[RawStream]:
        """An upstream SSE stream (retries happen before it is entered); counted in stats.

        `call` is the request's UpstreamCall, passed in because a stream a pacer held opens in
        the stream's own task, where UPSTREAM_CALL is no longer set. Whoever reads the stream
        sets `call.completed` when it delivered its end: the API billed it, and so does the
        spend cap's reservation.
        """
        # spend caps first (a refusal never waits for the rate limit), then the pacer's slot
        bill = self.budgets.reserve(body, REQUEST_ATTRIBUTION.get())
        try:
            async with self.pacer.slot() as seq:
                sent = time.monotonic()
                _sending(body, call)
                async with contextlib.AsyncExitStack() as stack:
                    try:
                        raw = await stack.enter_async_context(
                            self.upstream.open_stream(path, body, headers=headers)
                        )
                    except Exception as exc:
                        _refused(call, exc)
                        raise
                    self.stats.streams_opened += 1
                    rate = getattr(raw, "rate", None)
                    self.note_rate(rate, sent, seq)
                    call.credits_after = getattr(rate, "credits_remaining", None)
                    try:
                        yield raw
                    finally:
                        self.stats.streams_closed += 1
        finally:
            bill.settle(billed=call.completed)  # the stream delivered its end, or not

    async def call(
        self, path: str, body: dict[str, Any], headers: Mapping[str, str] | None = None
    ) -> Result:
        """A non-streaming upstream POST, with the client's safe retries."""
        with self.budgets.hold(body, REQUEST_ATTRIBUTION.get()):  # spend caps: may refuse
            async with self.pacer.slot() as seq:
                sent = time.monotonic()
                call = _sending(body)
                try:
                    result = await self.upstream.request("POST", path, body, headers=headers)
                except Exception as exc:
                    _refused(call, exc)
                    raise
        self.note_rate(result.rate, sent, seq)
        if call is not None:
            call.completed = True
            call.credits_after = result.rate.credits_remaining
            if isinstance(result.data, dict):
                call.note_usage(result.data.get("usage"))
        return result

    async def get(self, path: str, headers: Mapping[str, str] | None = None) -> Result:
        async with self.pacer.slot() as seq:
            sent = time.monotonic()
            result = await self.upstream.request("GET", path, None, headers=headers)
        self.note_rate(result.rate, sent, seq)
        return result

    def note_rate(self, rate: Any, sent_at: float | None = None, seq: int | None = None) -> None:
        """Take an answer's credit figure unless an answer already seen is newer.

        Concurrent answers arrive out of order and each carries the balance as it was when the
        API took the request, so a figure may be older than the one shown. Lower figures are
        always taken; a higher one only from a request sent after the shown figure arrived (a
        top-up), never from one that was already in flight: the figure never goes backwards.
        The rate-limit figures go to the pacer (`seq`: the pacer's number for the request).
        """
        self.pacer.observe(seq, rate)
        credits = getattr(rate, "credits_remaining", None)
        if credits is None:
            return
        now = time.monotonic()
        shown = self.stats.credits_remaining
        sent = now if sent_at is None else sent_at
        if shown is None or credits <= shown or sent >= self.stats.credits_at:
            self.stats.credits_remaining = credits
            self.stats.credits_at = now

    # ---- dashboard and usage ledger ---------------------------------------------------
    def record(
        self,
        *,
        route: str,
        model: str | None,
        status: int,
        started: float,
        tokens_in: int | None = None,
        tokens_out: int | None = None,
        stream: bool = False,
        error: str | None = None,
        call: UpstreamCall | None = None,
    ) -> None:
        """Log one finished request (`started` = time.monotonic() when it arrived), and write
        its usage-ledger row when it went upstream.

        Inside a stream that was cut short (STREAM_ABORTED set) the status is 499 and the error
        says why, whatever the route passed: the client never got the whole answer. `call` is
        the request's UpstreamCall (default: UPSTREAM_CALL of the current context).
        """
        from kimrel_cli.relay.dashboard import RequestRecord

        aborted = STREAM_ABORTED.get()
        if aborted is not None:
            status, stream = ABORTED_STATUS, True
            error = f"aborted: {aborted}" + (f" ({error})" if error else "")

        if status >= 400:
            self.stats.errors += 1
        latency_ms = (time.monotonic() - started) * 1000.0
        call = call if call is not None else UPSTREAM_CALL.get()
        went_up = call is not None and call.sent
        who = REQUEST_ATTRIBUTION.get()
        self.log.record(
            RequestRecord(
                time=time.time(),
                route=route,
                model=model,
                status=status,
                tokens_in=tokens_in,
                tokens_out=tokens_out,
                latency_ms=latency_ms,
                credits_left=self.stats.credits_remaining,
                stream=stream,
                error=error,
                client=who.client if who is not None else None,
                credits_charged=_charged(call) if went_up else None,
                account=ledger_account(self.config),
            )
        )
        if self.ledger is None or call is None or not call.sent or call.recorded:
            return
        call.recorded = True
        if aborted is not None and call.error_code is None:
            call.error_code = aborted.replace(" ", "_")
        try:
            self.ledger.submit(
                self.usage_row(
                    call,
                    status=status,
                    stream=stream,
                    started=started,
                    latency_ms=latency_ms,
                    tokens_in=tokens_in,
                    tokens_out=tokens_out,
                )
            )
        except Exception:  # the ledger never fails a request
            return

    def usage_row(
        self,
        call: UpstreamCall,
        *,
        status: int,
        stream: bool,
        started: float,
        latency_ms: float,
        tokens_in: int | None = None,
        tokens_out: int | None = None,
    ) -> UsageRow:
        """The ledger row of one request that went upstream (see docs/usage.md)."""
        from kimrel_cli.usage.ledger import UsageRow

        who = REQUEST_ATTRIBUTION.get() or Attribution()
        stream = stream or call.stream
        if stream:
            ttfb = None if call.first_byte is None else (call.first_byte - started) * 1000.0
        else:
            ttfb = latency_ms
        return UsageRow(
            ts=call.started_wall,
            protocol=call.protocol,
            client=who.client,
            status=status,
            stream=stream,
            credits_charged=_charged(call),
            account=ledger_account(self.config),
            user_agent=who.user_agent,
            model_requested=call.model_requested,
            model=call.model,
            error_code=call.error_code,
            tokens_in=call.tokens_in if call.tokens_in is not None else tokens_in,
            tokens_out=call.tokens_out if call.tokens_out is not None else tokens_out,
            tokens_reasoning=call.tokens_reasoning,
            ttfb_ms=None if ttfb is None else round(ttfb, 1),
            latency_ms=round(latency_ms, 1),
            credits_after=call.credits_after,
            session_id=who.session_id,
            agent_id=who.agent_id,
            parent_agent_id=who.parent_agent_id,
            project=who.project,
        )

    async def aclose(self) -> None:
        await self.upstream.aclose()
        if self.image_client is not None:
            await self.image_client.aclose()
        if self.ledger is not None:  # write what is queued (off the loop: it may wait on disk)
            import asyncio

            await asyncio.to_thread(self.ledger.close)


def _charged(call: UpstreamCall | None) -> int:
    """What a request cost: its model's price when the API billed it (a whole answer), else 0."""
    from kimrel_cli.catalogue import credits_for

    if call is None or not call.completed:
        return 0
    model = call.model or call.model_requested
    return credits_for(model) if model else 0


def ledger_account(config: RelayConfig) -> str | None:
    """The account a relay's ledger rows carry: the account name, "simulator" for --simulate,
    None for a key from KIMREL_API_KEY."""
    return "simulator" if config.simulate else config.account


def error_code_of(exc: BaseException) -> str:
    """A failure as the ledger's `error_code`: the API's own code when it gave one."""
    from kimrel_cli.errors import KimrelError, UpstreamError

    if isinstance(exc, UpstreamError) and exc.wire_code:
        return exc.wire_code
    if isinstance(exc, KimrelError):
        return exc.code
    return type(exc).__name__


def _sending(body: Mapping[str, Any], call: UpstreamCall | None = None) -> UpstreamCall | None:
    """Mark the request's UpstreamCall (`call`, else the current one) as sent upstream."""
    call = call if call is not None else UPSTREAM_CALL.get()
    if call is not None:
        call.sent = True
        call.stream = bool(body.get("stream"))
        model = body.get("model")
        call.model = model if isinstance(model, str) else call.model
    return call


def _refused(call: UpstreamCall | None, exc: BaseException) -> None:
    """The upstream said no (or could not be reached): what the ledger keeps of that."""
    if call is None:
        return
    call.error_code = error_code_of(exc)
    credits = getattr(exc, "credits_remaining", None)
    if isinstance(credits, int):
        call.credits_after = credits


def build_context(config: RelayConfig) -> RelayContext:
    """A RelayContext with a fresh upstream AsyncClient (not yet connected)."""
    import httpx

    from kimrel_cli.hosted.client import AsyncClient
    from kimrel_cli.relay.dashboard import RequestLog

    timeout = httpx.Timeout(config.read_timeout, connect=config.connect_timeout)
    upstream = AsyncClient(
        config.api_key,
        config.base_url,
        max_retries=config.max_retries,
        timeout=timeout,
        backoff_base=config.backoff_base,
    )
    log = config.log if config.log is not None else RequestLog(mode="silent")
    ledger = None
    if config.ledger is not None:
        from kimrel_cli.usage.ledger import LedgerWriter

        ledger = LedgerWriter(
            config.ledger, on_warning=lambda text: log.message(text, level="warning")
        )
    store = ResponsesStore(max_bytes=config.settings.responses_store_mb * 1024 * 1024)
    return RelayContext(config=config, upstream=upstream, log=log, responses=store, ledger=ledger)
