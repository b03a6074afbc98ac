"""`kimrel serve --simulate` on a real terminal (tmux): the live dashboard, read off the screen.

The openai SDK sends requests; `tmux capture-pane` reads the panel (balance, its change, the
per-model and per-client counts, the last requests). With stdout piped (`| cat`), the same
relay keeps one line per request. Skipped where tmux is missing.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import openai
import pytest

from kimrel_cli.relay.state import read_state
from tests.support.console import kimrel_script

TMUX = shutil.which("tmux")

pytestmark = pytest.mark.skipif(TMUX is None, reason="tmux is not installed")


class Pane:
    """One tmux session on a private socket, running one command."""

    def __init__(self, socket: Path) -> None:
        self.socket = socket

    def tmux(self, *args: str) -> str:
        proc = subprocess.run(
            [TMUX or "tmux", "-u", "-S", str(self.socket), *args],
            capture_output=True,
            text=True,
            timeout=10,
        )
        return proc.stdout

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-J", "-t", "kr")

    def wait_for(self, check: Callable[[str], bool], what: str, timeout: float = 15) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if check(screen):
                return screen
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}; screen:\n{self.screen()}")


@pytest.fixture
def serve_in_tmux(tmp_path: Path) -> Iterator[Callable[[str], Pane]]:
    """Start `kimrel serve --simulate --port 0 <tail>` in a 140×45 tmux pane."""
    panes: list[Pane] = []

    def start(tail: str = "") -> Pane:
        env = {
            name: value
            for name, value in os.environ.items()
            if name in ("HOME", "PATH", "NO_PROXY", "no_proxy")
            or name.startswith(("KIMREL_", "XDG_"))
        }
        env.update({"TERM": "xterm-256color", "LANG": "C.UTF-8", "COLUMNS": "", "LINES": ""})
        assignments = [shlex.quote(f"{k}={v}") for k, v in env.items() if v]
        serve = shlex.join([kimrel_script(), "serve", "--simulate", "--port", "0"])
        # the pane stays open after the relay exits, so its last screen can be read
        command = " ".join(["env", "-i", *assignments, serve, tail, "; sleep 30"])
        pane = Pane(tmp_path / f"tmux-{len(panes)}.sock")
        panes.append(pane)
        pane.tmux("new-session", "-d", "-s", "kr", "-x", "140", "-y", "45", command)
        deadline = time.monotonic() + 15
        while read_state() is None:
            assert time.monotonic() < deadline, f"the relay did not start:\n{pane.screen()}"
            time.sleep(0.1)
        return pane

    yield start
    for pane in panes:
        pane.tmux("send-keys", "-t", "kr", "C-c")
    # stop a relay that outlived its pane (a closed terminal's SIGHUP stops it; belt and braces)
    deadline = time.monotonic() + 10
    while (state := read_state()) is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    if state is not None:
        os.kill(state.pid, signal.SIGTERM)
    for pane in panes:
        pane.tmux("kill-server")


def _client() -> openai.OpenAI:
    state = read_state()
    assert state is not None and state.token
    return openai.OpenAI(base_url=state.url + "/v1", api_key=state.token, max_retries=0)


def _requests(client: openai.OpenAI) -> None:
    """Two kimi-k2.6 answers (3 credits each), one streamed kimi-k2 (1 credit), one rejection."""
    for _ in range(2):
        client.chat.completions.create(
            model="kimi-k2.6", messages=[{"role": "user", "content": "hi"}]
        )
    stream = client.chat.completions.create(
        model="kimi-k2", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    for _ in stream:
        pass
    with pytest.raises(openai.NotFoundError):
        client.get("/nope", cast_to=object)


def _row(screen: str, first: str) -> list[str]:
    for line in screen.splitlines():
        cells = line.strip("│ ").split()
        if cells and cells[0] == first:
            return cells
    raise AssertionError(f"no row {first!r}:\n{screen}")


def test_on_a_terminal_serve_shows_the_live_dashboard(serve_in_tmux):
    pane = serve_in_tmux("")
    pane.wait_for(lambda s: "balance 1,000 credits" in s, "the panel with the starting balance")
    _requests(_client())
    # the balance is read live, the records arrive through the log's writer (a stream's when
    # the relay closes it, which can be after the client's next request): wait for all of them
    screen = pane.wait_for(
        lambda s: "balance 993 credits" in s and "charged by 4 requests" in s,
        "the balance after 7 credits and all four requests",
    )
    assert "−7 since start" in screen
    assert "7 credits charged by 4 requests, 1 failed" in screen
    # per model (left) and per client (right) share lines: name, requests, credits (each
    # record carries what the request really cost, so no figure is a ≈ price-table guess)
    assert _row(screen, "kimi-k2.6")[:3] == ["kimi-k2.6", "2", "6"]
    assert _row(screen, "kimi-k2.6")[3:] == ["openai-sdk", "4", "1", "7"]
    assert _row(screen, "kimi-k2")[:3] == ["kimi-k2", "1", "1"]
    assert "3/min of 60" in screen and "tier 101-1,000" in screen
    assert "GET /v1/nope" in screen and "404" in screen
    # the panel replaces the line log: no request line printed above it
    assert "credits 993" not in screen
    pane.tmux("send-keys", "-t", "kr", "C-c")
    final = pane.wait_for(lambda s: "relay stopped" in s, "the relay to stop")
    assert final.count("╭─ kimrel relay") == 1  # the last panel stays, drawn once
    assert read_state() is None


def test_with_stdout_piped_serve_keeps_one_line_per_request(serve_in_tmux):
    pane = serve_in_tmux("| cat")
    pane.wait_for(lambda s: "OpenAI base URL" in s, "the start header")
    _requests(_client())
    screen = pane.wait_for(
        lambda s: s.count("/v1/chat/completions") == 3 and "GET /v1/nope" in s,
        "the request lines, all four",
    )
    lines = [line for line in screen.splitlines() if "/v1/chat/completions" in line]
    assert len(lines) == 3 and all(" 200 " in line for line in lines)
    assert "GET /v1/nope" in screen
    assert "╭─ kimrel relay" not in screen and "since start" not in screen
