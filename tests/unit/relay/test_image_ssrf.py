"""Remote image URLs cannot make the relay reach this machine, its network or a metadata
service (issue 14, SSRF): checked after DNS, on the address connected to, on every redirect hop.

Every refused URL is aimed at a real image server on 127.0.0.1 (or at an address nothing
answers), and the test checks both the uniform 400 and that no connection was even attempted:
`httpcore.AnyIOBackend.connect_tcp`, which every httpx connection goes through, is watched.
"""

from __future__ import annotations

import socket

import httpcore
import pytest

from kimrel_cli.errors import BadRequest
from kimrel_cli.hosted import egress
from kimrel_cli.hosted.images import FETCH_FAILED
from tests.support.image_server import ImageServer
from tests.unit.relay.test_image_limits import prefetch


@pytest.fixture
def server():
    running = ImageServer()
    yield running
    running.close()


@pytest.fixture
def attempts(monkeypatch):
    """Every TCP connection httpx tries, as (host, port)."""
    tried: list[tuple[str, int]] = []
    real = httpcore.AnyIOBackend.connect_tcp

    async def watched(self, host, port, *args, **kwargs):
        tried.append((host, port))
        return await real(self, host, port, *args, **kwargs)

    monkeypatch.setattr(httpcore.AnyIOBackend, "connect_tcp", watched)
    return tried


def refused(url: str, **options) -> BadRequest:
    with pytest.raises(BadRequest) as err:
        prefetch([url], **{"allow": "", "timeout": 2.0, **options})
    assert err.value.message == FETCH_FAILED
    assert err.value.wire_code == "image_fetch_failed"
    return err.value


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "localhost",
        "[::ffff:127.0.0.1]",
        "2130706433",  # 127.0.0.1 as one decimal number
        "0x7f.0.0.1",  # and in hex
        "0177.0.0.1",  # and in octal
        "127.1",
    ],
)
def test_loopback_in_any_spelling_is_refused_without_connecting(server, attempts, host):
    refused(f"http://{host}:{server.port}/a.png")
    assert attempts == []
    assert server.hosts == []


@pytest.mark.parametrize(
    "url",
    [
        "http://[::1]:9/a.png",
        "http://10.0.0.7/a.png",
        "http://172.16.3.4/a.png",
        "http://192.168.1.1/a.png",
        "http://100.64.0.1/a.png",  # CGNAT
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata (link-local)
        "http://[fd00:ec2::254]/latest/meta-data/",  # AWS metadata over IPv6 (ULA)
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://0.0.0.0:9/a.png",
        "http://224.0.0.1/a.png",  # multicast
        "http://240.0.0.1/a.png",  # reserved
        "http://[fe80::1]/a.png",
        "http://[64:ff9b::a00:1]/a.png",  # NAT64 of 10.0.0.1
        "https://[2002:7f00:1::1]/a.png",  # 6to4 of 127.0.0.1
    ],
)
def test_private_link_local_metadata_and_special_addresses_are_refused(attempts, url):
    refused(url)
    assert attempts == []


def test_a_name_that_resolves_to_loopback_is_refused(server, attempts, monkeypatch):
    async def resolve(host, port):
        return ["93.184.215.14", "127.0.0.1"]  # one public address is not enough: all are checked

    monkeypatch.setattr(egress, "resolve", resolve)
    refused(f"http://images.example.com:{server.port}/a.png")
    assert attempts == []


def test_an_allowed_address_is_fetched(server, attempts):
    images = prefetch([server.url + "/a.png"], allow="127.0.0.1")
    assert images[server.url + "/a.png"].startswith("data:image/png;base64,")
    assert attempts == [("127.0.0.1", server.port)]


def test_an_allowed_name_connects_to_the_checked_address_and_keeps_its_host_header(
    server, attempts, monkeypatch
):
    calls: list[str] = []

    async def resolve(host, port):
        calls.append(host)
        return ["127.0.0.1"]

    monkeypatch.setattr(egress, "resolve", resolve)
    url = f"http://images.internal.test:{server.port}/a.png"
    assert url in prefetch([url], allow="images.internal.test")
    assert calls == ["images.internal.test"]  # resolved once, by the relay
    assert attempts == [("127.0.0.1", server.port)]  # connected to that very address (no rebind)
    assert server.hosts == [f"images.internal.test:{server.port}"]


def test_a_redirect_from_an_allowed_server_to_another_loopback_port_is_refused(attempts):
    allowed, other = ImageServer(), ImageServer()
    try:
        refused(f"{allowed.url}/to?{other.url}/a.png", allow=f"127.0.0.1:{allowed.port}")
        assert allowed.hosts == [f"127.0.0.1:{allowed.port}"]  # the first hop was fetched
        assert other.hosts == []
        assert attempts == [("127.0.0.1", allowed.port)]
    finally:
        allowed.close()
        other.close()


def test_a_redirect_from_an_allowed_name_to_its_address_is_refused(server, attempts, monkeypatch):
    async def resolve(host, port):
        return ["127.0.0.1"]

    monkeypatch.setattr(egress, "resolve", resolve)
    url = f"http://cdn.example.test:{server.port}/to?{server.url}/a.png"
    refused(url, allow="cdn.example.test")
    assert server.hosts == [f"cdn.example.test:{server.port}"]  # only the first hop


def test_redirects_are_followed_a_bounded_number_of_times(server):
    url = f"{server.url}/a.png"
    for _ in range(6):
        url = f"{server.url}/to?{url}"
    refused(url, allow="127.0.0.1")
    assert len(server.hosts) == 6  # five redirects followed, the sixth refused
    two = f"{server.url}/to?{server.url}/to?{server.url}/a.png"
    assert two in prefetch([two], allow="127.0.0.1")


def test_a_redirect_to_another_scheme_is_refused(server):
    refused(f"{server.url}/to?file:///etc/passwd", allow="127.0.0.1")


def test_refusal_and_other_failures_read_the_same(server):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    private = refused(f"http://127.0.0.1:{server.port}/a.png")
    missing = refused(f"http://127.0.0.1:{port}/a.png", allow="127.0.0.1")
    assert (str(private), private.hint) == (str(missing), missing.hint)


@pytest.mark.parametrize(
    ("text", "host", "port", "ip", "allowed"),
    [
        ("localhost", "localhost", 80, "127.0.0.1", True),
        ("localhost", "127.0.0.1", 80, "127.0.0.1", False),
        ("10.0.0.0/8", "x", 80, "10.9.9.9", True),
        ("10.0.0.0/8", "x", 80, "11.0.0.1", False),
        ("127.0.0.1:8080", "x", 8080, "127.0.0.1", True),
        ("127.0.0.1:8080", "x", 8081, "127.0.0.1", False),
        ("[::1]:99, fd00::/8", "x", 5, "fd12::1", True),
        ("[::1]:99", "x", 99, "::1", True),
        ("127.0.0.1", "x", 1, "::ffff:127.0.0.1", True),
    ],
)
def test_allow_list_entries(text, host, port, ip, allowed):
    import ipaddress

    policy = egress.EgressPolicy(egress.parse_allow(text))
    assert policy.allowed(host, port, ipaddress.ip_address(ip)) is allowed


@pytest.mark.parametrize("text", ["x/y", "h:0", "h:abc", "[::1]x", "http://x"])
def test_bad_allow_list_entries_are_named(text):
    from kimrel_cli.config import SETTINGS_BY_KEY

    with pytest.raises(ValueError):
        egress.parse_allow(text)
    assert SETTINGS_BY_KEY["relay.image_fetch_allow"].validate(text) is not None


@pytest.mark.parametrize(
    ("ip", "public"),
    [
        ("93.184.215.14", True),
        ("2606:4700::1111", True),
        ("::1", False),
        ("::", False),
        ("::ffff:10.0.0.1", False),
        ("::ffff:8.8.8.8", True),
        ("100.127.255.254", False),
        ("198.18.0.1", False),
        ("fec0::1", False),
        ("ff02::1", False),
    ],
)
def test_public_addresses(ip, public):
    import ipaddress

    assert egress.is_public(ipaddress.ip_address(ip)) is public
