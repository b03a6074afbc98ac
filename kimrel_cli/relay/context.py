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
    from starlette.requests import Request

    from kimrel_cli.hosted.client import AsyncClient, RawStream, Result
    from kimrel_cli.relay.dashboard import RequestLog
    from kimrel_cli.relay.pacing import Pacer

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
    pacer: Pacer = field(init=False)  # rate-limit pacing (relay/pacing.py)

    def __post_init__(self) -> None:
        from kimrel_cli.relay.pacing import Pacer

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
        self, path: str, body: dict[str, Any], headers: Mapping[str, str] | None = None
    ) -> AsyncIterator[RawStream]:
        """An upstream SSE stream (retries happen before it is entered); counted in stats."""
        async with self.pacer.slot() as seq:
            sent = time.monotonic()
            async with self.upstream.open_stream(path, body, headers=headers) as raw:
                self.stats.streams_opened += 1
                self.note_rate(getattr(raw, "rate", None), sent, seq)
                try:
                    yield raw
                finally:
                    self.stats.streams_closed += 1

    async def call(
        self, path: str, body: dict[str, Any], headers: Mapping[str, str] | None = None
    ) -> Result:
        """A non-streaming upstream POST, with the client's safe retries."""
        async with self.pacer.slot() as seq:
            sent = time.monotonic()
            result = await self.upstream.request("POST", path, body, headers=headers)
        self.note_rate(result.rate, sent, seq)
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

    # ---- dashboard ----------------------------------------------------------------------
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
    ) -> None:
        """Log one finished request (`started` = time.monotonic() when it arrived).

        Inside a stream that was cut short (STREAM_ABORTED set) the status is 499 and the error
        says why, whatever the route passed: the client never got the whole answer.
        """
        from kimrel_cli.relay.dashboard import RequestRecord

        aborted = STREAM_ABORTED.get()
        if aborted is not None:
            status, stream = ABORTED_STATUS, True
            error = f"aborted: {aborted}" + (f" ({error})" if error else "")

        if status >= 400:
            self.stats.errors += 1
        self.log.record(
            RequestRecord(
                time=time.time(),
                route=route,
                model=model,
                status=status,
                tokens_in=tokens_in,
                tokens_out=tokens_out,
                latency_ms=(time.monotonic() - started) * 1000.0,
                credits_left=self.stats.credits_remaining,
                stream=stream,
                error=error,
            )
        )

    async def aclose(self) -> None:
        await self.upstream.aclose()


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
    return RelayContext(config=config, upstream=upstream, log=log)
