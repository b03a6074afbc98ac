"""Run an ASGI app on a socket bound in advance: in a background thread, or in the foreground.

Used by `kimrel serve --simulate` (simulator in a thread beside the relay), `kimrel chat
--simulate`, `kimrel launch --simulate` and the test fixtures (port 0: the OS picks a free one).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
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


def _config(app: Any, log_level: str) -> Any:
    import uvicorn

    return uvicorn.Config(
        app,
        log_level=log_level,
        access_log=False,
        lifespan="off",
        timeout_keep_alive=30,
        timeout_graceful_shutdown=1,
    )


@dataclass
class RunningServer:
    """A uvicorn server running in a daemon thread; `url` is its base URL."""

    url: str
    server: Any
    thread: threading.Thread

    def stop(self, timeout: float = 5.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)


def start_in_thread(app: Any, sock: socket.socket, *, log_level: str = "warning") -> RunningServer:
    """Serve `app` on `sock` in a daemon thread; returns once the server accepts connections."""
    import uvicorn

    server = uvicorn.Server(_config(app, log_level))
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


@contextlib.contextmanager
def run_in_thread(app: Any, sock: socket.socket, *, log_level: str = "warning") -> Iterator[str]:
    """Context manager form of start_in_thread: yields the base URL, stops on exit."""
    running = start_in_thread(app, sock, log_level=log_level)
    try:
        yield running.url
    finally:
        running.stop()


def serve_forever(app: Any, sock: socket.socket, *, log_level: str = "warning") -> None:
    """Serve `app` on `sock` in the foreground until Ctrl-C or SIGTERM."""
    import uvicorn

    uvicorn.Server(_config(app, log_level)).run(sockets=[sock])
