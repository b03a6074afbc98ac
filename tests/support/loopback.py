"""One shared httpx client for the tests' plain HTTP requests to their 127.0.0.1 servers.

`httpx.get(...)` builds a new client, and its TLS context, for every call: ~0.1-0.2 s each, paid
by every request a test sends. These functions take the same arguments and reuse one client
(trust_env off: only loopback is ever asked). conftest closes it at the end of the session.
"""

from __future__ import annotations

from typing import Any

import httpx

_client: httpx.Client | None = None


def client() -> httpx.Client:
    global _client
    if _client is None:
        _client = httpx.Client(trust_env=False)
    return _client


def get(url: str, **kwargs: Any) -> httpx.Response:
    return client().get(url, **kwargs)


def post(url: str, **kwargs: Any) -> httpx.Response:
    return client().post(url, **kwargs)


def request(method: str, url: str, **kwargs: Any) -> httpx.Response:
    return client().request(method, url, **kwargs)


def stream(method: str, url: str, **kwargs: Any) -> Any:
    return client().stream(method, url, **kwargs)


def close() -> None:
    global _client
    if _client is not None:
        _client.close()
        _client = None
