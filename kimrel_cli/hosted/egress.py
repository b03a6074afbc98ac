"""Where a fetch made on a client's behalf may connect: the public internet only (no SSRF).

A remote image URL in a request makes the relay open a connection, so a client (or a web page
through a client) could aim it at this machine, its network or a cloud's metadata service.
`guarded_transport()` is an httpx transport that refuses those connections:

- it resolves the host itself and checks *every* address it resolves to (`is_public`): no
  loopback, link-local, private (RFC 1918, ULA fc00::/7), CGNAT 100.64/10, unspecified,
  multicast, reserved or site-local address, also when one hides inside an IPv6 address
  (`::ffff:127.0.0.1`, 6to4, Teredo, NAT64); the metadata names are refused before any lookup;
  numeric forms such as `2130706433` or `0x7f.1` resolve to the address they stand for, so they
  are checked as that address;
- it then connects to the address it checked (`GuardedBackend`, an httpcore network backend), so
  a DNS answer that changes between check and connect (rebinding) cannot swap it; TLS still
  verifies the certificate for the URL's host name, sent as SNI;
- an allow-list (`relay.image_fetch_allow`: host names, addresses, CIDR blocks, each optionally
  with `:port`) lets chosen private hosts through;
- redirects are not followed here: the caller follows them one hop at a time, and each hop's
  connection passes through the same check.

No proxy from the environment is used (a proxy would fetch the private URL for us). A refusal is
an `httpx.ConnectError`, which callers report with the same words as any other fetch failure.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass

import httpcore
import httpx

logger = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[list[str]]]

# Cloud metadata services by name (their addresses, 169.254.169.254 and fd00:ec2::254, are
# link-local and ULA, refused anyway).
METADATA_NAMES = frozenset({"metadata.google.internal", "metadata.goog", "metadata"})
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


class Refused(Exception):
    """A connection the policy does not allow (the reason is for the log, never the client)."""


def _embedded_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, 6to4, Teredo, NAT64), if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if any(ip in net for net in _NAT64):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_public(ip: IPAddress) -> bool:
    """True for an address on the public internet; False for anything local or special."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:  # ::ffff:a.b.c.d is a.b.c.d
            return is_public(ip.ipv4_mapped)
        inner = _embedded_v4(ip)
        if inner is not None and not is_public(inner):
            return False
        if ip.is_site_local:
            return False
    if isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT:
        return False
    return ip.is_global and not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


def normal_host(host: str) -> str:
    """A host as the policy compares it: lower case, no brackets, no trailing dot."""
    return host.strip().strip("[]").lower().rstrip(".")


@dataclass(frozen=True)
class AllowEntry:
    """One allow-list entry: a host name, or an address / CIDR block; optionally one port."""

    host: str | None = None
    network: IPNetwork | None = None
    port: int | None = None

    def allows(self, host: str, port: int, ip: IPAddress) -> bool:
        if self.port is not None and self.port != port:
            return False
        if self.host is not None:
            return self.host == host
        assert self.network is not None
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return ip.version == self.network.version and ip in self.network


def _split_port(text: str) -> tuple[str, int | None]:
    """`host:port`, `[v6]:port`, `[v6]`, a bare IPv6 address or CIDR, or a bare host."""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ValueError(f"{text!r}: missing ']'")
        rest = text[end + 1 :]
        if rest and not (rest.startswith(":") and rest[1:].isdigit()):
            raise ValueError(f"{text!r}: expected [address]:port")
        return text[1:end], (int(rest[1:]) if rest else None)
    if text.count(":") == 1:
        host, port = text.split(":")
        if not port.isdigit():
            raise ValueError(f"{text!r}: the port must be a number")
        return host, int(port)
    return text, None


def parse_allow(text: str) -> tuple[AllowEntry, ...]:
    """The entries of a comma- or space-separated allow-list; ValueError names a bad entry."""
    entries: list[AllowEntry] = []
    for raw in text.replace(",", " ").split():
        host, port = _split_port(raw)
        if port is not None and not 0 < port < 65536:
            raise ValueError(f"{raw!r}: the port must be 1 to 65535")
        try:
            network = ipaddress.ip_network(host, strict=False)
        except ValueError:
            name = normal_host(host)
            if not name or "/" in name or not all(c.isalnum() or c in "-._" for c in name):
                raise ValueError(f"{raw!r} is not a host name, an address or a CIDR") from None
            entries.append(AllowEntry(host=name, port=port))
        else:
            entries.append(AllowEntry(network=network, port=port))
    return tuple(entries)


@dataclass(frozen=True)
class EgressPolicy:
    """Which (host, port, addresses) a fetch may connect to."""

    allow: tuple[AllowEntry, ...] = ()

    def allowed(self, host: str, port: int, ip: IPAddress) -> bool:
        return any(entry.allows(host, port, ip) for entry in self.allow)

    def check_name(self, host: str, port: int) -> None:
        """Refuse a metadata-service name before it is even looked up (unless allowed)."""
        name = normal_host(host)
        if name in METADATA_NAMES and not any(
            e.host == name and e.port in (None, port) for e in self.allow
        ):
            raise Refused(f"{name} is a cloud metadata name")

    def check(self, host: str, port: int, addresses: Sequence[str]) -> list[IPAddress]:
        """The addresses to connect to, or Refused when any of them is not allowed."""
        name = normal_host(host)
        if not addresses:
            raise Refused(f"{name} resolves to no address")
        checked: list[IPAddress] = []
        for text in addresses:
            ip = ipaddress.ip_address(text.split("%", 1)[0])
            if not is_public(ip) and not self.allowed(name, port, ip):
                raise Refused(f"{name} resolves to {ip}, which is not a public address")
            checked.append(ip)
        return checked


async def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (numeric forms included: `2130706433` → 127.0.0.1)."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """An httpcore network backend that connects only to addresses the policy allows."""

    def __init__(self, policy: EgressPolicy, resolver: Resolver | None = None) -> None:
        self.policy = policy
        self.resolver = resolver
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            self.policy.check_name(host, port)
            lookup = self.resolver or resolve  # looked up per call, so tests can patch `resolve`
            try:
                found = await asyncio.wait_for(lookup(host, port), timeout)
            except (OSError, asyncio.TimeoutError):
                raise Refused(f"{normal_host(host)} does not resolve") from None
            addresses = self.policy.check(host, port, found)
        except Refused as exc:
            logger.info("image fetch refused: %s", exc)
            raise httpcore.ConnectError("connection refused by the fetch policy") from None
        last: Exception | None = None
        for ip in addresses:
            try:
                return await self.inner.connect_tcp(
                    str(ip),
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout, OSError) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not fetched")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class _Body(httpx.AsyncByteStream):
    """The response body, with httpcore's errors turned into httpx.TransportError."""

    def __init__(self, stream: Iterable[bytes] | AsyncIterable[bytes]) -> None:
        assert isinstance(stream, AsyncIterable)  # an async pool answers with async streams
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for part in self._stream:
                yield part
        except Exception as exc:
            raise httpx.TransportError(type(exc).__name__) from None

    async def aclose(self) -> None:
        aclose = getattr(self._stream, "aclose", None)
        if aclose is not None:
            await aclose()


class GuardedTransport(httpx.AsyncBaseTransport):
    """An httpx transport over an httpcore pool whose every connection is checked."""

    def __init__(
        self,
        policy: EgressPolicy,
        *,
        resolver: Resolver | None = None,
        max_connections: int = 32,
        max_keepalive: int = 8,
        keepalive_expiry: float = 30.0,
    ) -> None:
        self.pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=max_connections,
            max_keepalive_connections=max_keepalive,
            keepalive_expiry=keepalive_expiry,
            network_backend=GuardedBackend(policy, resolver),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        core = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        try:
            answer = await self.pool.handle_async_request(core)
        except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
            raise httpx.ConnectError(str(exc), request=request) from None
        except httpcore.TimeoutException as exc:
            raise httpx.TimeoutException(str(exc), request=request) from None
        except Exception as exc:
            raise httpx.TransportError(type(exc).__name__) from None
        return httpx.Response(
            status_code=answer.status,
            headers=answer.headers,
            stream=_Body(answer.stream),
            extensions=answer.extensions,
        )

    async def aclose(self) -> None:
        await self.pool.aclose()


def guarded_client(
    allow: str | Sequence[AllowEntry] = "",
    *,
    timeout: float = 10.0,
    resolver: Resolver | None = None,
) -> httpx.AsyncClient:
    """An AsyncClient for fetches on a client's behalf: checked connections, no redirects
    followed, no proxy or credentials from the environment."""
    entries = parse_allow(allow) if isinstance(allow, str) else tuple(allow)
    return httpx.AsyncClient(
        transport=GuardedTransport(EgressPolicy(entries), resolver=resolver),
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,
    )
