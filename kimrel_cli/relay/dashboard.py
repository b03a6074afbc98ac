"""The relay's terminal output: the start header, one line per request, low-credit warnings.

Renderables (`header_panel`, `request_line`) are pure functions returning rich objects or text;
the live panel's are in `dashboard_view.py`, its figures in `dashboard_model.py`. `RequestLog`
queues records and writes them from a daemon thread, so the request path pays only for a queue
put. Modes: "pretty" (rich lines on stderr), "dashboard" (a live panel on stderr, on a terminal),
"json" (one JSON object per line on stdout, for supervisors), "quiet" (warnings only), "silent"
(nothing; tests).
"""

from __future__ import annotations

import json
import queue
import sys
import threading
import time
from collections import deque
from contextvars import ContextVar
from dataclasses import asdict, replace
from typing import IO, Any, Literal

from kimrel_cli.catalogue import DEFAULT_MODEL
from kimrel_cli.relay.context import REQUEST_ATTRIBUTION
from kimrel_cli.relay.dashboard_model import DashboardHeader, DashboardState
from kimrel_cli.relay.dashboard_model import RequestRecord as RequestRecord  # re-exported
from kimrel_cli.relay.security import REASON_KEY
from kimrel_cli.usage.attribution import attribution_from_headers

LogMode = Literal["pretty", "dashboard", "json", "quiet", "silent"]

# Set by RequestTrace for each request; RequestLog.record marks it, so a request a route already
# recorded is not recorded twice. A list, so child tasks (streams) mark the same holder.
_RECORDED: ContextVar[list[bool] | None] = ContextVar("kimrel_request_recorded", default=None)


def request_line(rec: RequestRecord) -> Any:
    """One dashboard line as a rich Text: time, route, model, status, tokens, latency, credits."""
    from rich.text import Text

    clock = time.strftime("%H:%M:%S", time.localtime(rec.time))
    style = "green" if rec.status < 400 else ("yellow" if rec.status < 500 else "red")
    tokens = f"{_num(rec.tokens_in)}→{_num(rec.tokens_out)}"
    credits = "" if rec.credits_left is None else f"  credits {rec.credits_left:,}"
    text = Text()
    text.append(f"{clock} ", style="dim")
    text.append(f"{rec.route:<22} ", style="cyan")
    text.append(f"{(rec.model or '-'):<17} ")
    text.append(f"{rec.status:>3}", style=style)
    text.append(f"  {tokens:>13}  {rec.latency_ms:>7.0f} ms{' stream' if rec.stream else ''}")
    text.append(credits, style="dim")
    if rec.error:
        text.append(f"  {rec.error}", style=style)
    return text


def _num(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def header_panel(
    *,
    url: str,
    upstream: str,
    account: str | None,
    balance: int | None,
    simulate: bool,
    token: str | None,
    model: str = DEFAULT_MODEL,
) -> Any:
    """The start header: a panel (where, upstream, whose credits), then plain snippets.

    The snippets stay outside the panel so they copy and paste without box characters.
    """
    from rich.console import Group
    from rich.panel import Panel
    from rich.text import Text

    body = Text()
    body.append("kimrel relay ", style="bold")
    body.append(f"listening on {url}\n")
    who = "simulator (no account needed)" if simulate else (account or "KIMREL_API_KEY")
    from kimrel_cli.apikey import redact

    body.append(f"upstream  {redact(upstream)}\n")  # no `user:pass@` from --upstream
    body.append(f"account   {who}")
    if balance is not None:
        body.append(f"\nbalance   {balance:,} credits")
    return Group(
        Panel(body, expand=False, border_style="blue"),
        Text(usage_snippets(url, token, model=model)),
    )


def usage_snippets(url: str, token: str | None, *, model: str = DEFAULT_MODEL) -> str:
    """Copy-paste snippets for Claude Code, Codex and the SDKs, with the local token and the
    model setup and launch use (settings' `default_model`)."""
    import shlex

    from kimrel_cli.codex_config import CODEX_TOKEN_ENV, overrides

    tok = token or "unused"
    codex = shlex.join(["codex", *overrides(url, model=model)])  # what launch passes
    return (
        f"Anthropic base URL: {url}\n"
        f"OpenAI base URL:    {url}/v1\n"
        f"Local token:        {tok}\n\n"
        "Claude Code:\n"
        "  kimrel launch claude\n"
        f"  or: ANTHROPIC_BASE_URL={url} ANTHROPIC_AUTH_TOKEN={tok} ANTHROPIC_MODEL={model} claude\n"
        "Codex:\n"
        "  kimrel launch codex\n"
        f"  or: {CODEX_TOKEN_ENV}={tok} {codex}\n"
        "Python:\n"
        f'  anthropic.Anthropic(base_url="{url}", auth_token="{tok}")\n'
        f'  openai.OpenAI(base_url="{url}/v1", api_key="{tok}")'
    )


def log_mode(*, quiet: bool, log_json: bool, terminal: bool) -> LogMode:
    """How `kimrel serve` in the foreground reports: `--log-json` wins, then `--quiet`; on a
    terminal the live dashboard, anywhere else (a pipe, a file, `--background`'s relay.log) one
    line per request."""
    if log_json:
        return "json"
    if quiet:
        return "quiet"
    return "dashboard" if terminal else "pretty"


REFRESH_INTERVAL = 0.25  # the live panel is redrawn at most 4 times a second…
IDLE_REFRESH = 1.0  # …and once a second when idle (rolling windows, pacing countdowns)


class _Attributed:
    """A record whose client the writer thread takes from the request's attribution."""

    __slots__ = ("client", "rec")

    def __init__(self, rec: RequestRecord, client: str) -> None:
        self.rec = rec
        self.client = client


class _Control:
    """Queue items that steer the writer thread: start the live panel, stop it."""

    def __init__(self, action: str, done: threading.Event | None = None) -> None:
        self.action = action
        self.done = done


WRITE_BATCH = 0.05  # seconds the log's writer lets records gather before it writes them


class RequestLog:
    """Queues request records and prints them off the request path; keeps the last 100.

    In "dashboard" mode the writer thread owns a rich `Live` panel (`start_dashboard`) fed from a
    `DashboardState`; relay messages are printed above it. The request path still pays only for
    a queue put; the panel reads the relay's balance, pacer and budgets on the writer thread.
    """

    def __init__(
        self,
        mode: LogMode = "pretty",
        *,
        low_credit_warning: int = 50,
        stream: IO[str] | None = None,
        console: Any = None,
    ) -> None:
        self.mode = mode
        self.low_credit_warning = low_credit_warning
        self.recent: deque[RequestRecord] = deque(maxlen=100)
        self._stream = stream
        self._console = console
        # a Queue, not a SimpleQueue: before 3.13 a SimpleQueue's get(timeout=t) can wait for the
        # next put instead of t (a deadline passed mid-call re-arms as "forever"); it froze the
        # panel until the relay's next request (tests/unit/test_writer_queues.py)
        self._queue: queue.Queue[Any] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._warned_low = False
        self._lock = threading.Lock()
        # dashboard mode, touched only on the writer thread once started
        self.state = DashboardState(started=time.time())
        self._header: DashboardHeader | None = None
        self._source: Any = None  # the RelayContext: balance, pacer, budgets
        self._live: Any = None
        self._dirty = False
        self._painted = float("-inf")
        self._failed = False  # the writer hit an error (reported once)

    def record(self, rec: RequestRecord) -> None:
        """Note a finished request (cheap: a deque append and a queue put)."""
        holder = _RECORDED.get()
        if holder is not None:
            holder[0] = True
        self.recent.append(rec)
        if self.mode == "silent":
            return
        if self.mode == "dashboard" and rec.client is None:
            who = REQUEST_ATTRIBUTION.get()  # set for this request by RequestTrace
            if who is not None:  # the writer thread fills it in (a replace costs ~20 µs)
                self._queue.put(_Attributed(rec, who.client))
                self._ensure_thread()
                return
        self._queue.put(rec)
        self._ensure_thread()

    def message(self, text: str, *, level: str = "info") -> None:
        """A free-form line (start-up notes, warnings) through the same writer."""
        if self.mode == "silent" or (self.mode == "quiet" and level == "info"):
            return
        self._queue.put((level, text))
        self._ensure_thread()

    def start_dashboard(self, header: DashboardHeader, source: Any = None) -> None:
        """Dashboard mode: show the live panel from now on. `source` is the RelayContext, read
        (on the writer thread) for `stats.credits_remaining`, and `pacer` and `budgets` if it
        has them (each with a `snapshot()`)."""
        if self.mode != "dashboard":
            return
        self._header = header
        self._source = source
        self._queue.put(_Control("start"))
        self._ensure_thread()

    def flush(self, timeout: float = 2.0) -> None:
        """Wait until every queued line is written (tests, shutdown); the panel is redrawn."""
        if self._thread is None:
            return
        done = threading.Event()
        self._queue.put(done)
        done.wait(timeout)

    def close(self, timeout: float = 2.0) -> None:
        """Write what is queued and stop the live panel, leaving its last state on the screen."""
        if self._thread is None:
            return
        done = threading.Event()
        self._queue.put(_Control("stop", done))
        done.wait(timeout)

    def _ensure_thread(self) -> None:
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, daemon=True, name="kimrel-relay-log"
                )
                self._thread.start()

    def _run(self) -> None:
        while True:
            if self._queue.empty():
                # Let records gather: a writer woken by every put costs the request path the
                # wake-up (measured: a fifth of the relay's CPU at 64 clients). Lines come out
                # at most WRITE_BATCH seconds late; a flush or close waits that much longer.
                time.sleep(WRITE_BATCH)
            try:
                item = self._queue.get(timeout=self._wait())
            except queue.Empty:
                item = None
            try:
                if isinstance(item, threading.Event):
                    self._paint(force=True)
                    item.set()
                elif isinstance(item, RequestRecord):
                    self._write_record(item)
                elif isinstance(item, _Attributed):
                    self._write_record(replace(item.rec, client=item.client))
                elif isinstance(item, _Control):
                    self._control(item)
                elif item is not None:
                    self._write_message(*item)
                self._paint()
            except Exception as exc:  # the log never takes the relay down
                if isinstance(item, threading.Event):
                    item.set()
                self._report_failure(exc)
                continue

    def _report_failure(self, exc: Exception) -> None:
        """Say once, above the panel or on the log, that the writer failed (and how)."""
        if self._failed:
            return
        self._failed = True
        try:
            self._write_message("warning", f"relay log: {type(exc).__name__}: {exc}")
        except Exception:
            pass

    def _wait(self) -> float | None:
        """How long the writer may block: forever without a live panel, else until it is due."""
        if self._live is None:
            return None
        due = self._painted + (REFRESH_INTERVAL if self._dirty else IDLE_REFRESH)
        return max(0.0, due - time.monotonic())

    def _control(self, item: _Control) -> None:
        try:
            if item.action == "start" and self._live is None and self._header is not None:
                from rich.live import Live

                self._live = Live(
                    self._panel(),
                    console=self._rich(),
                    auto_refresh=False,
                    vertical_overflow="ellipsis",
                )
                self._live.start(refresh=True)
                self._painted = time.monotonic()
            elif item.action == "stop" and self._live is not None:
                self._paint(force=True)
                live, self._live = self._live, None
                live.stop()
        finally:
            if item.done is not None:
                item.done.set()

    def _paint(self, *, force: bool = False) -> None:
        """Redraw the live panel if it changed (at most every REFRESH_INTERVAL) or is idle-due."""
        if self._live is None:
            return
        now = time.monotonic()
        since = now - self._painted
        if not force and (since < REFRESH_INTERVAL or (not self._dirty and since < IDLE_REFRESH)):
            return
        self._live.update(self._panel(), refresh=True)
        self._painted = now
        self._dirty = False

    def _panel(self) -> Any:
        from kimrel_cli.relay.dashboard_model import budget_lines, pacing_from
        from kimrel_cli.relay.dashboard_view import dashboard_panel

        source = self._source
        stats = getattr(source, "stats", None)
        self.state.note_balance(getattr(stats, "credits_remaining", None))
        pacing = budgets = None
        pacer = getattr(source, "pacer", None)
        if pacer is not None:
            pacing = pacing_from(_snapshot(pacer))
        keeper = getattr(source, "budgets", None)
        if keeper is not None:
            budgets = budget_lines(_snapshot(keeper))
        width, height = self._rich().size
        assert self._header is not None
        return dashboard_panel(
            self.state,
            self._header,
            now=time.time(),
            low_balance=self.low_credit_warning,
            pacing=pacing,
            budgets=budgets,
            rows=max(3, min(20, height - 22)),
            # a column short of the terminal's width: the cursor then stays on the panel's last
            # line, so a `^C` the terminal echoes there does not push the panel down a line
            width=max(40, width - 2),
        )

    def _out(self) -> IO[str]:
        if self._stream is not None:
            return self._stream
        return sys.stdout if self.mode == "json" else sys.stderr

    def _rich(self) -> Any:
        if self._console is None:
            from rich.console import Console

            # a live panel is laid out to the terminal's width; lines are not wrapped
            soft_wrap = self.mode != "dashboard"
            self._console = Console(file=self._out(), highlight=False, soft_wrap=soft_wrap)
        return self._console

    def _write_record(self, rec: RequestRecord) -> None:
        if self.mode == "json":
            out = self._out()
            out.write(json.dumps({"event": "request", **_json_fields(rec)}) + "\n")
            out.flush()
        elif self.mode == "pretty":
            self._rich().print(request_line(rec))
        elif self.mode == "dashboard":
            self.state.add(rec)
            self._dirty = True
        credits = rec.credits_left
        if credits is not None and credits < self.low_credit_warning and not self._warned_low:
            self._warned_low = True
            self._write_message(
                "warning",
                f"balance is low: {credits:,} credits left (top up at kimrel.com)",
            )
        elif credits is not None and credits >= self.low_credit_warning:
            self._warned_low = False

    def _write_message(self, level: str, text: str) -> None:
        if self.mode == "json":
            out = self._out()
            out.write(json.dumps({"event": level, "message": text}) + "\n")
            out.flush()
        elif self.mode in ("pretty", "quiet", "dashboard"):
            if level == "info" and self.mode == "quiet":
                return
            from rich.markup import escape

            prefix = "[yellow]warning:[/yellow] " if level == "warning" else ""
            # with a live panel up, the console prints above it
            self._rich().print(prefix + escape(text))


# RequestRecord's optional fields: in `--log-json` lines only when known, so the lines a
# supervisor already parses keep their shape.
_OPTIONAL_FIELDS = ("client", "credits_charged", "account")


def _json_fields(rec: RequestRecord) -> dict[str, Any]:
    fields = asdict(rec)
    for name in _OPTIONAL_FIELDS:
        if fields.get(name) is None:
            fields.pop(name, None)
    return fields


def _snapshot(provider: Any) -> Any:
    """`provider.snapshot()`, or None if it has none or it fails (the panel never breaks)."""
    try:
        return provider.snapshot()
    except Exception:
        return None


class RequestTrace:
    """Outermost ASGI middleware: every request a route did not record is recorded here.

    That covers the guards' rejections (401 token, 421 Host, 413 body; the reason a guard left in
    the scope), 404s, `/v1/models`, `count_tokens`, Claude Code's side requests. Successful
    `GET`/`HEAD /health` polls (launch, status) are not logged. `record(route=…, model=…,
    status=…, started=…, error=…)` is the relay context's `record`.
    """

    def __init__(self, app: Any, *, record: Any) -> None:
        self.app = app
        self.record = record

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        holder = [False]
        token = _RECORDED.set(holder)
        who = REQUEST_ATTRIBUTION.set(attribution_from_headers(_headers(scope)))
        status = 0
        body = b""

        async def watch(message: Any) -> None:
            nonlocal status, body
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body" and status >= 400 and len(body) < 4096:
                body += message.get("body", b"")
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            _RECORDED.reset(token)
            if not holder[0]:
                self._record(scope, status or 500, started, body)
            REQUEST_ATTRIBUTION.reset(who)

    def _record(self, scope: Any, status: int, started: float, body: bytes) -> None:
        method, path = scope.get("method", ""), scope.get("path", "")
        if path == "/health" and method in ("GET", "HEAD") and status < 400:
            return
        error = None
        if status >= 400:
            error = scope.get(REASON_KEY) or _error_message(body) or f"HTTP {status}"
        route = path if method == "POST" else f"{method} {path}"
        try:
            self.record(route=route, model=None, status=status, started=started, error=error)
        except Exception:  # the log never takes the relay down
            return


def _headers(scope: Any) -> dict[str, str]:
    """An ASGI scope's headers as a dict (latin-1, as HTTP/1.1 carries them)."""
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers") or ()}


def _error_message(body: bytes) -> str | None:
    """`error.message` of an Anthropic or OpenAI error body, if that is what `body` is."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    error = data.get("error") if isinstance(data, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    return message if isinstance(message, str) else None
