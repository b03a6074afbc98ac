"""The relay's upstream connections: httpx's pool over plain asyncio sockets.

httpcore reaches asyncio through anyio by default: every write and read goes through anyio's
stream wrappers, and before every request the pool asks each idle connection whether the server
closed it (`get_extra_info("is_readable")`), which anyio answers by building a dict of lambdas and
polling the socket with a system call. With 64 connections in the pool that was most of the
relay's per-request bookkeeping (benchmarks/relay_bench.py, docs/performance.md). Here a
connection is an asyncio Protocol that buffers what the event loop already read: "is readable"
is a look at that buffer, reads and writes are one call each. TLS goes through
`loop.start_tls`, as asyncio's own streams do.

`upstream_transport()` is the relay's transport: one shared pool, keep-alive, bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

# One pool for every route: up to MAX_CONNECTIONS requests in flight upstream (more wait for a
# free connection), all of them kept alive between requests for KEEPALIVE_EXPIRY seconds, so
# agents pausing between turns reuse their TLS connection instead of opening a new one.
MAX_CONNECTIONS = 100
KEEPALIVE_EXPIRY = 30.0
HIGH_WATER = 256 * 1024  # read-buffer size at which the socket stops being read


class _Connection(asyncio.Protocol):
    """What the event loop read from one socket, waiting for the pool to ask for it."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.eof = False
        self.error: BaseException | None = None
        self.paused = False  # reading paused: the buffer is over HIGH_WATER
        self.write_paused = False
        self._readable: asyncio.Future[None] | None = None
        self._writable: list[asyncio.Future[None]] = []

    # ---- asyncio callbacks -------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) > HIGH_WATER and self.transport is not None and not self.paused:
            self.paused = True
            self.transport.pause_reading()
        self._wake_reader()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake_reader()
        return False  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        if exc is not None:
            self.error = exc
        self._wake_reader()
        self.resume_writing()

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        waiters, self._writable = self._writable, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def _wake_reader(self) -> None:
        waiter, self._readable = self._readable, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # ---- used by _Stream ---------------------------------------------------------------------
    async def wait_readable(self, timeout: float | None) -> None:
        waiter = self._readable = asyncio.get_running_loop().create_future()
        try:
            await _wait(waiter, timeout, httpcore.ReadTimeout)
        finally:
            if self._readable is waiter:
                self._readable = None

    async def wait_writable(self, timeout: float | None) -> None:
        if self.write_paused:
            waiter = asyncio.get_running_loop().create_future()
            self._writable.append(waiter)
            await _wait(waiter, timeout, httpcore.WriteTimeout)


async def _wait(
    waiter: asyncio.Future[None], timeout: float | None, error: type[Exception]
) -> None:
    """Await our own future, failing it with `error` after `timeout` seconds. Not wait_for: on
    Python < 3.12 it can swallow a cancellation that arrives as the future completes, and a
    cancelled read (a client that went away) must end the stream at once."""
    if timeout is None:
        await waiter
        return
    timer = asyncio.get_running_loop().call_later(timeout, _expire, waiter, error, timeout)
    try:
        await waiter
    finally:
        timer.cancel()


def _expire(waiter: asyncio.Future[None], error: type[Exception], timeout: float) -> None:
    if not waiter.done():
        waiter.set_exception(error(f"timed out after {timeout:g} s"))


class _Stream(httpcore.AsyncNetworkStream):
    def __init__(self, transport: asyncio.Transport, conn: _Connection) -> None:
        self._transport = transport
        self._conn = conn

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        conn = self._conn
        while not conn.buffer:
            if conn.error is not None:
                raise httpcore.ReadError(str(conn.error) or type(conn.error).__name__)
            if conn.eof:
                return b""
            await conn.wait_readable(timeout)
        data = bytes(conn.buffer[:max_bytes])
        del conn.buffer[:max_bytes]
        if conn.paused and len(conn.buffer) <= HIGH_WATER // 4:
            conn.paused = False
            self._transport.resume_reading()
        return data

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        if self._transport.is_closing():
            raise httpcore.WriteError("the connection is closed")
        self._transport.write(buffer)
        await self._conn.wait_writable(timeout)

    async def aclose(self) -> None:
        self._transport.close()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            transport = await loop.start_tls(
                self._transport,
                self._conn,
                ssl_context,
                server_hostname=server_hostname,
                ssl_handshake_timeout=timeout,
            )
        except (asyncio.TimeoutError, TimeoutError) as exc:
            self._transport.close()
            raise httpcore.ConnectTimeout(str(exc) or "TLS handshake timed out") from None
        except (OSError, ssl.SSLError, ConnectionError) as exc:
            self._transport.close()
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from None
        if transport is None:  # pragma: no cover - only for server-side TLS
            raise httpcore.ConnectError("TLS handshake failed")
        self._conn.transport = transport
        return _Stream(transport, self._conn)

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":  # idle and readable = the server closed it (or sent garbage)
            return bool(self._conn.buffer) or self._conn.eof or self._transport.is_closing()
        if info == "ssl_object":
            return self._transport.get_extra_info("ssl_object")
        if info == "client_addr":
            return self._transport.get_extra_info("sockname")
        if info == "server_addr":
            return self._transport.get_extra_info("peername")
        if info == "socket":
            return self._transport.get_extra_info("socket")
        return None


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend on asyncio's own transports (no anyio in the data path)."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        local = (local_address, 0) if local_address else None
        try:
            transport, conn = await asyncio.wait_for(
                loop.create_connection(_Connection, host, port, local_addr=local), timeout
            )
        except (asyncio.TimeoutError, TimeoutError):
            raise httpcore.ConnectTimeout(f"connecting to {host}:{port} timed out") from None
        except OSError as exc:
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from None
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for option in socket_options or ():
                sock.setsockopt(*option)
        return _Stream(transport, conn)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:  # pragma: no cover - the relay's upstream is TCP
        loop = asyncio.get_running_loop()
        try:
            transport, conn = await asyncio.wait_for(
                loop.create_unix_connection(_Connection, path), timeout
            )
        except (asyncio.TimeoutError, TimeoutError):
            raise httpcore.ConnectTimeout(f"connecting to {path} timed out") from None
        except OSError as exc:
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from None
        return _Stream(transport, conn)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def upstream_transport(ssl_context: ssl.SSLContext | None = None) -> httpx.AsyncHTTPTransport:
    """The relay's shared upstream transport: httpx's pool on AsyncioBackend, kept alive.
    `ssl_context`: certificates to trust instead of the default ones (tests)."""
    limits = httpx.Limits(
        max_connections=MAX_CONNECTIONS,
        max_keepalive_connections=MAX_CONNECTIONS,
        keepalive_expiry=KEEPALIVE_EXPIRY,
    )
    verify: ssl.SSLContext | bool = ssl_context if ssl_context is not None else True
    transport = httpx.AsyncHTTPTransport(verify=verify, limits=limits, trust_env=False)
    pool = getattr(transport, "_pool", None)
    if isinstance(pool, httpcore.AsyncConnectionPool) and hasattr(pool, "_network_backend"):
        pool._network_backend = AsyncioBackend()
    return transport
