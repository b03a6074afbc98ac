"""Run an ASGI app on a socket bound in advance: in a background thread, or in the foreground.

Used by `kimrel serve --simulate` (simulator in a thread beside the relay), `kimrel chat
--simulate`, `kimrel launch --simulate` and the test fixtures (port 0: the OS picks a free one).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


def bind_socket(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A listening TCP socket on host:port (port 0 = any free port).

    Created with proto=IPPROTO_TCP: asyncio sets TCP_NODELAY on accepted connections only then;
    with proto 0 every response written in two parts waits ~40 ms for the peer's delayed ACK.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


@dataclass(frozen=True)
class ConnectionLimits:
    """What a client may hold open. uvicorn alone has no header timeout: a connection that sends
    nothing, or half a request head, stays open for ever; and sockets past the fd limit made
    asyncio log a traceback per failed accept."""

    header_timeout: float = 20.0  # connect (or end of last response) → a complete request head
    keep_alive: float = 30.0  # idle between requests (uvicorn's timeout_keep_alive)
    max_connections: int = 400  # more are closed at once (well under a 1,024 fd limit)
    max_header_bytes: int = 64 * 1024  # h11's cap on an incomplete request head


DEFAULT_LIMITS = ConnectionLimits()
log = logging.getLogger("uvicorn.error")


def _protocol(limits: ConnectionLimits) -> Any:
    """uvicorn's h11 protocol with a request-head deadline and a connection cap."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    cap = min(limits.max_connections, max(8, _fd_limit() // 2))  # never run out of fds

    class GuardedH11(H11Protocol):
        _head_timer: Any = None

        def connection_made(self, transport: Any) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if len(self.connections) > cap:
                _note("cap", f"{cap} connections open: new ones are closed until some end")
                transport.close()
                return
            self._arm()

        def _arm(self) -> None:
            if self._head_timer is None:
                self._head_timer = self.loop.call_later(limits.header_timeout, self._head_late)

        def _disarm(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.cycle is not None and not self.cycle.response_complete:
                self._disarm()  # a whole request head arrived; its body has BodyLimit's deadline
            elif not self.transport.is_closing():
                self._arm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._disarm()  # idle now: uvicorn's keep-alive timer runs

        def _head_late(self) -> None:
            self._head_timer = None
            idle = self.cycle is None or self.cycle.response_complete
            if idle and not self.transport.is_closing():
                self.transport.close()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

    return GuardedH11


def _fd_limit() -> int:
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except (ImportError, OSError, ValueError):
        return 1024
    return soft if soft > 0 else 1 << 20


_noted: dict[str, float] = {}


def _note(kind: str, text: str, every: float = 60.0) -> None:
    """One log line per `kind` a minute, however often it happens."""
    now = time.monotonic()
    if now - _noted.get(kind, -every) >= every:
        _noted[kind] = now
        log.warning("kimrel: %s", text)


OUT_OF_FDS = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}


def _loop_errors(loop: Any, context: dict[str, Any]) -> None:
    """asyncio logs a traceback for each failed accept; out of fds, say it once a minute."""
    exc = context.get("exception")
    if isinstance(exc, OSError) and exc.errno in OUT_OF_FDS:
        _note("fds", f"cannot accept connections: {exc.strerror} (too many open); retrying")
        return
    if isinstance(exc, ValueError) and "_start_serving" in repr(context.get("handle")):
        return  # an accept retry asyncio scheduled, run after the socket closed at shutdown
    loop.default_exception_handler(context)


def _config(
    app: Any, log_level: str, graceful: float, limits: ConnectionLimits = DEFAULT_LIMITS
) -> Any:
    import uvicorn

    return uvicorn.Config(
        app,
        http=_protocol(limits),
        log_level=log_level,
        access_log=False,
        lifespan="auto",  # the relay closes its upstream client on shutdown
        timeout_keep_alive=max(1, round(limits.keep_alive)),
        # asyncio's accept loop runs up to `backlog` accepts per wake-up and, out of fds, schedules
        # a retry for each failed one (2,048 by default: a storm of log lines)
        backlog=64,
        h11_max_incomplete_event_size=limits.max_header_bytes,
        timeout_graceful_shutdown=graceful,
    )


# How long an in-thread server lets unfinished responses run once stopped. Its owner stops it when
# it no longer needs it, so what is still running then has no one waiting for it.
THREAD_GRACE = 0.25
# The foreground server (`kimrel serve`, stopped by Ctrl-C or SIGTERM) lets streams finish longer.
FOREGROUND_GRACE = 1.0


def _server(config: Any, on_shutdown: Callable[[], None] | None = None) -> Any:
    """A uvicorn.Server that stops as soon as it is asked to.

    `on_shutdown` runs first when the server stops (the relay ends its own streams there, so
    nothing is left for uvicorn to cancel).

    Stock uvicorn notices `should_exit` on a 0.1 s tick, sleeps 0.1 s after asking connections to
    close and then polls every 0.1 s: ~0.15-0.3 s per stop, for every test server. This one wakes
    its main loop when stopped, closes idle keep-alive connections at once, polls every 5 ms, and
    closes what is left after the grace period (cancelled tasks, then their transports).
    """
    import asyncio

    import uvicorn

    class QuickServer(uvicorn.Server):
        _loop: asyncio.AbstractEventLoop | None = None
        _wake: asyncio.Event | None = None

        def request_stop(self) -> None:
            self.should_exit = True
            loop, wake = self._loop, self._wake
            if loop is not None and wake is not None:
                with contextlib.suppress(RuntimeError):  # the loop has already closed
                    loop.call_soon_threadsafe(wake.set)

        def handle_exit(self, sig: int, frame: Any) -> None:
            super().handle_exit(sig, frame)
            self.request_stop()

        async def main_loop(self) -> None:
            self._wake = asyncio.Event()
            self._loop = asyncio.get_running_loop()
            self._loop.set_exception_handler(_loop_errors)
            counter = 0  # on_tick refreshes the Date header when counter % 10 == 0: each second
            while not await self.on_tick(counter):
                counter = (counter + 10) % 864000
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), 1.0)

        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            if on_shutdown is not None:
                on_shutdown()
            for server in self.servers:
                server.close()
            for sock in sockets or []:
                sock.close()
            state = self.server_state
            for connection in list(state.connections):
                connection.shutdown()  # idle keep-alive: closed now; busy: after its response
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self.config.timeout_graceful_shutdown
            while (state.connections or state.tasks) and not self.force_exit:
                if loop.time() >= deadline:
                    break
                await asyncio.sleep(0.005)
            for task in list(state.tasks):
                task.cancel(msg="Task cancelled, timeout graceful shutdown exceeded")
            if state.tasks:
                await asyncio.wait(list(state.tasks), timeout=1.0)
            for connection in list(state.connections):
                transport = getattr(connection, "transport", None)
                if transport is not None and not transport.is_closing():
                    transport.close()
            await asyncio.sleep(0)  # let the closed transports run connection_lost
            for server in self.servers:
                await server.wait_closed()
            if not self.force_exit:
                await self.lifespan.shutdown()

    return QuickServer(config)


@dataclass
class RunningServer:
    """A uvicorn server running in a daemon thread; `url` is its base URL."""

    url: str
    server: Any
    thread: threading.Thread

    def stop(self, timeout: float = 5.0) -> None:
        self.server.request_stop()
        self.thread.join(timeout)


def start_in_thread(
    app: Any,
    sock: socket.socket,
    *,
    log_level: str = "warning",
    limits: ConnectionLimits = DEFAULT_LIMITS,
) -> RunningServer:
    """Serve `app` on `sock` in a daemon thread; returns once the server accepts connections."""
    server = _server(_config(app, log_level, THREAD_GRACE, limits))
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="kimrel-server"
    )
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("server thread failed to start")
        time.sleep(0.01)
    return RunningServer(url=url_of(sock), server=server, thread=thread)


def serve_forever(
    app: Any,
    sock: socket.socket,
    *,
    log_level: str = "warning",
    on_shutdown: Callable[[], None] | None = None,
) -> None:
    """Serve `app` on `sock` in the foreground until Ctrl-C, SIGTERM or SIGHUP (its terminal
    closed).

    The signals are caught from here on, not only once uvicorn listens for them: one arriving
    while the server starts stops it as well, instead of reaching the caller's handler at an
    arbitrary point (a SystemExit raised inside a garbage-collection callback is swallowed, and
    the server then ran on). Once stopped, a caught signal is raised again for the caller's
    handler, as uvicorn does (SIGINT: KeyboardInterrupt).
    """
    import signal

    if threading.current_thread() is not threading.main_thread():
        _server(_config(app, log_level, FOREGROUND_GRACE), on_shutdown).run(sockets=[sock])
        return
    received: list[int] = []
    servers: list[Any] = []

    def on_signal(sig: int, frame: Any) -> None:
        received.append(sig)
        for server in servers:
            server.handle_exit(sig, frame)

    stops = (signal.SIGINT, signal.SIGTERM) + (
        (signal.SIGHUP,) if hasattr(signal, "SIGHUP") else ()
    )
    previous = {sig: signal.signal(sig, on_signal) for sig in stops}
    try:
        server = _server(_config(app, log_level, FOREGROUND_GRACE), on_shutdown)
        servers.append(server)
        if received:
            server.should_exit = True
        server.run(sockets=[sock])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    for sig in dict.fromkeys(received):
        signal.raise_signal(sig)
