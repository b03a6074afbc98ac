"""Shared fixtures: a sandbox for every test, an in-memory keyring, simulators on 127.0.0.1:0.

Every test runs with HOME, XDG dirs, KIMREL_CONFIG_DIR, KIMREL_STATE_DIR, CLAUDE_CONFIG_DIR and
CODEX_HOME pointed at a temporary directory, with kimrel/Anthropic/OpenAI variables and proxies
removed. Nothing touches the real home directory or the network beyond loopback.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from tests.support.memkeyring import MemoryKeyring

settings.register_profile(
    "kimrel", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "kimrel"))

_STRIP_PREFIXES = ("KIMREL_", "ANTHROPIC_", "OPENAI_", "CLAUDE_", "CODEX_")
_STRIP_EXACT = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


@pytest.fixture(autouse=True)
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point every directory kimrel or a tool could touch at tmp_path; clear secrets from env."""
    for name in list(os.environ):
        if name.startswith(_STRIP_PREFIXES) or name in _STRIP_EXACT:
            monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / ".local" / "state"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("KIMREL_CONFIG_DIR", str(tmp_path / "kimrel-config"))
    monkeypatch.setenv("KIMREL_STATE_DIR", str(tmp_path / "kimrel-state"))
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(home / ".claude"))
    monkeypatch.setenv("CODEX_HOME", str(home / ".codex"))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)  # project-scoped files (.claude/, kimrel-chat.md) land in the sandbox
    return tmp_path


@pytest.fixture(autouse=True)
def memory_keyring(request: pytest.FixtureRequest) -> Iterator[MemoryKeyring | None]:
    """An in-memory keyring for every test, except those marked keyring_real."""
    import keyring

    if request.node.get_closest_marker("keyring_real"):
        yield None
        return
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)


@pytest.fixture(autouse=True, scope="session")
def close_loopback_client() -> Iterator[None]:
    """Close the shared client of tests.support.loopback after the last test."""
    from tests.support import loopback

    yield
    loopback.close()


@pytest.fixture(autouse=True)
def close_sdk_clients() -> Iterator[None]:
    """Close the SDK clients the test made with tests.support.sdk (their pooled sockets)."""
    from tests.support import sdk

    yield
    sdk.close_all()


SimulatorFactory = Callable[..., str]


@pytest.fixture
def make_simulator() -> Iterator[SimulatorFactory]:
    """Start simulators on 127.0.0.1:0; returns their base URL (ends in /api). Stopped after the test.

    Keyword arguments go to SimulatorSettings (keys={...}, rate_window_scale=..., fault=...).
    """
    from kimrel_cli.servers import bind_socket, start_in_thread
    from kimrel_cli.simulator.app import SimulatorSettings, create_app

    running: list[Any] = []

    def start(**kwargs: Any) -> str:
        server = start_in_thread(create_app(SimulatorSettings(**kwargs)), bind_socket())
        running.append(server)
        return server.url + "/api"

    yield start
    for server in running:
        server.stop()


@pytest.fixture
def simulator(make_simulator: SimulatorFactory) -> str:
    """A fresh simulator with the demo keys (sk-sim-demo: 1,000 credits; sk-sim-empty: 0)."""
    return make_simulator()


@pytest.fixture
def older_claude(sandbox: Path) -> Iterator[Path]:
    """A stand-in `claude` 2.1.100 first on PATH, so `setup claude-code --via direct` is served."""
    from tests.support.older_claude import older_claude_on_path

    with older_claude_on_path(sandbox) as script:
        yield script
