"""Helpers for the real-Codex tests: a simulator that records what the model received, a relay in
front of it, and `codex` run with exactly the `-c` overrides `kimrel launch codex` passes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kimrel_cli.relay.app import create_app as create_relay
from kimrel_cli.relay.context import RelayConfig, build_context
from kimrel_cli.servers import RunningServer, bind_socket, start_in_thread
from kimrel_cli.setup.tools import CODEX_TOKEN_ENV, codex_overrides
from kimrel_cli.simulator.app import SimulatorSettings
from kimrel_cli.simulator.app import create_app as create_simulator
from tests.support.recorder import Recorder

CODEX = shutil.which("codex")
TMUX = shutil.which("tmux")
TOKEN = "kr-local-codex-test"


@dataclass
class Stack:
    """Simulator (recorded) ← relay (recorded); stop() ends both."""

    relay_url: str
    upstream: Recorder
    relay: Recorder
    servers: list[RunningServer] = field(default_factory=list)

    def stop(self) -> None:
        for server in self.servers:
            server.stop()

    def chat_bodies(self) -> list[dict[str, Any]]:
        """What the simulated model received: one Chat Completions body per upstream request."""
        return self.upstream.bodies("/chat/completions")

    def env(self) -> dict[str, str]:
        if os.environ.get("CODEX_HOME"):
            Path(os.environ["CODEX_HOME"]).mkdir(parents=True, exist_ok=True)
        return {**os.environ, CODEX_TOKEN_ENV: TOKEN, "NO_COLOR": "1"}

    def codex_args(self, model: str = "kimi-k2.6") -> list[str]:
        assert CODEX is not None
        return [CODEX, *codex_overrides(self.relay_url, model=model)]

    def codex_exec(
        self, cwd: Path, *args: str, model: str = "kimi-k2.6"
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.codex_args(model), "exec", "--skip-git-repo-check", "--json", *args],
            cwd=cwd,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )


def start_stack(token: str = TOKEN, **simulator: Any) -> Stack:
    upstream = Recorder(create_simulator(SimulatorSettings(**simulator)))
    sim = start_in_thread(upstream, bind_socket())
    config = RelayConfig(api_key="sk-sim-demo", base_url=sim.url + "/api", token=token)
    relay = Recorder(create_relay(build_context(config)))
    front = start_in_thread(relay, bind_socket())
    return Stack(front.url, upstream, relay, [front, sim])


def advertise(stack: Stack) -> None:
    """Write the relay state file so `kimrel launch` (a subprocess) uses this recorded relay;
    its pid is the test's own. Undo with kimrel_cli.relay.state.clear_state()."""
    import time
    from urllib.parse import urlsplit

    from kimrel_cli.relay.state import RelayState, write_state

    parts = urlsplit(stack.relay_url)
    write_state(
        RelayState(
            pid=os.getpid(),
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 0,
            url=stack.relay_url,
            upstream="simulator",
            simulate=True,
            account=None,
            started_at=time.time(),
        )
    )


def events(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def completed(items: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [
        e["item"] for e in items if e.get("type") == "item.completed" and e["item"]["type"] == kind
    ]


def stack_fixture() -> Iterator[Stack]:
    stack = start_stack()
    try:
        yield stack
    finally:
        stack.stop()
