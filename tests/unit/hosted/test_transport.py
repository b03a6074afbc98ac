"""The relay's upstream transport (hosted/transport.py): httpx's pool on plain asyncio sockets.

Each test runs a tiny HTTP/1.1 server and the client in one event loop on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
from pathlib import Path

import httpx
import pytest

from kimrel_cli.errors import UpstreamUnavailable
from kimrel_cli.hosted.client import AsyncClient
from kimrel_cli.hosted.transport import AsyncioBackend, upstream_transport

BODY = b'{"credits_remaining": 5}'


class Server:
    """Answers every request with `body`; counts connections; `close_after` each answer."""

    def __init__(self, body: bytes = BODY, *, close_after: bool = False, silent: bool = False):
        self.body = body
        self.close_after = close_after
        self.silent = silent
        self.connections = 0
        self.server: asyncio.Server | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                await reader.readexactly(length)
                if self.silent:
                    await asyncio.sleep(3600)
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                    b"content-length: %d\r\n\r\n%s" % (len(self.body), self.body)
                )
                await writer.drain()
                if self.close_after:
                    await asyncio.sleep(0.05)  # the answer is read; then a FIN, no warning
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def start(self, ssl_context: ssl.SSLContext | None = None) -> str:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0, ssl=ssl_context)
        port = self.server.sockets[0].getsockname()[1]
        return f"{'https' if ssl_context else 'http'}://127.0.0.1:{port}"

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()


def test_the_relay_client_pools_on_asyncio_sockets():
    async def main() -> None:
        client = AsyncClient("sk-test", "http://127.0.0.1:9")
        pool = client._http._transport._pool  # type: ignore[attr-defined]
        assert isinstance(pool._network_backend, AsyncioBackend)
        await client.aclose()

    asyncio.run(main())


def test_64_concurrent_requests_keep_their_64_connections_alive():
    """Every connection opened for a burst is kept for the next one (none closed and reopened)."""

    async def main() -> None:
        server = Server()
        url = await server.start()
        async with AsyncClient("sk-test", url, max_retries=0) as client:
            for _ in range(2):
                results = await asyncio.gather(
                    *(client.request("GET", "/user/credits") for _ in range(64))
                )
                assert all(r.data == {"credits_remaining": 5} for r in results)
        await server.stop()
        assert server.connections == 64

    asyncio.run(main())


def test_a_connection_the_server_closed_is_not_reused():
    async def main() -> None:
        server = Server(close_after=True)
        url = await server.start()
        async with AsyncClient("sk-test", url, max_retries=0) as client:
            for _ in range(5):
                assert (await client.request("GET", "/user/credits")).data == {
                    "credits_remaining": 5
                }
                await asyncio.sleep(0.1)  # the server's FIN has arrived
        await server.stop()
        assert server.connections == 5

    asyncio.run(main())


def test_a_silent_upstream_times_out_as_unavailable():
    async def main() -> None:
        server = Server(silent=True)
        url = await server.start()
        timeout = httpx.Timeout(0.3, connect=1.0)
        async with AsyncClient("sk-test", url, max_retries=0, timeout=timeout) as client:
            with pytest.raises(UpstreamUnavailable) as caught:
                await client.request("GET", "/user/credits")
        await server.stop()
        assert caught.value.timeout

    asyncio.run(main())


def test_a_closed_port_is_unavailable():
    async def main() -> None:
        server = Server()
        url = await server.start()
        await server.stop()
        assert server.server is not None
        await server.server.wait_closed()
        async with AsyncClient("sk-test", url, max_retries=0) as client:
            with pytest.raises(UpstreamUnavailable, match="cannot reach"):
                await client.request("GET", "/user/credits")

    asyncio.run(main())


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_tls_with_a_large_streamed_answer(tmp_path: Path):
    """start_tls, and a body well over the read buffer's high-water mark (pause/resume)."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    client_ctx = ssl.create_default_context(cafile=str(cert))
    big = b'{"data": "' + b"x" * 3_000_000 + b'"}'

    async def main() -> None:
        server = Server(big)
        url = await server.start(server_ctx)
        transport = upstream_transport(ssl_context=client_ctx)
        async with AsyncClient("sk-test", url, max_retries=0, transport=transport) as client:
            async with client.open_stream("/v1/chat/completions", {}) as raw:
                received = b"".join([chunk async for chunk in raw.aiter_bytes()])
            assert received == big
            assert (await client.request("GET", "/user/credits")).status == 200
        await server.stop()
        assert server.connections == 1  # the TLS connection was kept alive and reused

    asyncio.run(main())


def test_a_read_cancelled_as_its_data_arrives_is_still_cancelled():
    """A client that goes away cancels the relay's upstream read; the cancellation must win even
    when a chunk lands in the same loop iteration (asyncio.wait_for can swallow it before 3.12,
    and the stream then ran on to its end)."""
    from kimrel_cli.hosted.transport import _Connection, _Stream

    class Transport(asyncio.Transport):
        def is_closing(self) -> bool:
            return False

    async def main() -> None:
        conn = _Connection()
        stream = _Stream(Transport(), conn)
        task = asyncio.ensure_future(stream.read(65536, timeout=30.0))
        await asyncio.sleep(0)  # the read is waiting
        conn.data_received(b"data: chunk\n\n")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
