"""Run the real Claude Code (`claude -p`) and Codex (`codex exec`) against a relay in front of a
simulator, counting the requests the simulator saw. Used by the real-client error tests.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kimrel_cli.relay.app import create_app
from kimrel_cli.relay.context import RelayConfig, build_context
from kimrel_cli.servers import bind_socket, start_in_thread
from kimrel_cli.setup.tools import CODEX_TOKEN_ENV, claude_env, codex_overrides
from kimrel_cli.simulator.app import SimulatorSettings
from kimrel_cli.simulator.app import create_app as create_simulator

CLAUDE = shutil.which("claude")
CODEX = shutil.which("codex")
TOKEN = "kr-local-errors-test"
MODEL_PATHS = ("/api/v1/chat/completions", "/api/v1/messages")


class Counter:
    """ASGI wrapper that counts the model requests (POST chat completions / messages) it passes."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.model_requests = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] in MODEL_PATHS:
            self.model_requests += 1
        await self.app(scope, receive, send)


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    upstream_requests: int
    relay_url: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@dataclass
class Stack:
    relay_url: str
    counter: Counter


@contextmanager
def relay_stack(
    *,
    key: str = "sk-sim-demo",
    keys: dict[str, int] | None = None,
    fault: str | None = None,
    **relay: Any,
) -> Iterator[Stack]:
    """A simulator (counted) and a relay in front of it, both on 127.0.0.1:0."""
    settings = SimulatorSettings(fault=fault)
    if keys is not None:
        settings.keys = dict(keys)
    counter = Counter(create_simulator(settings))
    sim = start_in_thread(counter, bind_socket())
    config = RelayConfig(api_key=key, base_url=sim.url + "/api", token=TOKEN, **relay)
    server = start_in_thread(create_app(build_context(config)), bind_socket())
    try:
        yield Stack(server.url, counter)
    finally:
        server.stop()
        sim.stop()


def run_claude(stack: Stack, prompt: str, cwd: Path, *, timeout: float = 120) -> Run:
    assert CLAUDE is not None
    env = {
        **os.environ,
        **claude_env(stack.relay_url, TOKEN, model="kimi-k2.5", small_model="kimi-k2"),
        "DISABLE_AUTOUPDATER": "1",
    }
    before = stack.counter.model_requests
    started = time.monotonic()
    proc = subprocess.run(
        [CLAUDE, "-p", prompt],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    return Run(
        proc.returncode,
        proc.stdout,
        proc.stderr,
        time.monotonic() - started,
        stack.counter.model_requests - before,
        stack.relay_url,
    )


def run_codex(stack: Stack, prompt: str, cwd: Path, *, timeout: float = 120) -> Run:
    assert CODEX is not None
    env = {**os.environ, CODEX_TOKEN_ENV: TOKEN}
    Path(env.get("CODEX_HOME", cwd / ".codex")).mkdir(parents=True, exist_ok=True)
    before = stack.counter.model_requests
    started = time.monotonic()
    proc = subprocess.run(
        [
            CODEX,
            *codex_overrides(stack.relay_url, model="kimi-k2.5"),
            "exec",
            "--skip-git-repo-check",
            prompt,
        ],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    return Run(
        proc.returncode,
        proc.stdout,
        proc.stderr,
        time.monotonic() - started,
        stack.counter.model_requests - before,
        stack.relay_url,
    )
