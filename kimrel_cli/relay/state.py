"""The relay's state file (where it listens, its pid) and its local token, in the state dir.

`kimrel serve` writes `relay.json` (0600) when it starts and removes it when it stops; `launch`,
`setup`, `status` and `serve status` read it, and take the token to present from it
(`running_token`), so a relay started with `--token T` is usable too. The local token (`relay-token`, mode 0600) is what
clients present to the relay instead of the real key; it is created once and reused.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from dataclasses import asdict, dataclass, field
from pathlib import Path

from kimrel_cli import paths
from kimrel_cli.files import atomic_write_text


@dataclass(frozen=True)
class RelayState:
    pid: int
    host: str
    port: int
    url: str
    upstream: str
    simulate: bool
    account: str | None
    started_at: float
    token_required: bool = True
    token: str | None = field(default=None, repr=False)  # the token it accepts (relay.json: 0600)


def state_file() -> Path:
    return paths.state_dir() / "relay.json"


def token_file() -> Path:
    return paths.state_dir() / "relay-token"


def relay_token() -> str:
    """The relay's local token: read it, or create and store it (0600) on first use."""
    path = token_file()
    with contextlib.suppress(FileNotFoundError):
        token = path.read_text(encoding="utf-8").strip()
        if token:
            return token
    token = "kr-local-" + secrets.token_urlsafe(24)
    paths.ensure_dir(path.parent)
    atomic_write_text(path, token + "\n", mode=0o600)
    return token


def rotate_token(timeout: float = 5.0) -> tuple[str, str]:
    """Store a new local token; a running relay that uses the stored one is told (SIGUSR1: it
    re-reads the token file and rewrites relay.json). Returns (new token, what happened)."""
    import signal
    import time

    old = None
    with contextlib.suppress(FileNotFoundError):
        old = token_file().read_text(encoding="utf-8").strip() or None
    new = "kr-local-" + secrets.token_urlsafe(24)
    paths.ensure_dir(token_file().parent)
    atomic_write_text(token_file(), new + "\n", mode=0o600)
    state = read_state()
    if state is None:
        return new, "no relay is running"
    if not state.token_required or state.token != old:
        return new, "the running relay uses its own --token (or none) and keeps it"
    with contextlib.suppress(ProcessLookupError):
        os.kill(state.pid, signal.SIGUSR1)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        current = read_state()
        if current is None or current.token == new:
            return new, f"the running relay (pid {state.pid}) now accepts only the new token"
        time.sleep(0.02)
    return new, f"the running relay (pid {state.pid}) did not confirm; restart it"


def running_token(state: RelayState | None = None) -> str:
    """The token the running relay accepts (`serve --token T` included), else the stored one."""
    state = state if state is not None else read_state()
    if state is not None and state.token:
        return state.token
    return relay_token()


def write_state(state: RelayState) -> None:
    paths.ensure_dir(state_file().parent)
    atomic_write_text(state_file(), json.dumps(asdict(state), indent=2) + "\n", mode=0o600)


def clear_state(pid: int | None = None) -> None:
    """Remove the state file (only if it names `pid`, when given)."""
    current = read_state(check_alive=False)
    if current is not None and pid is not None and current.pid != pid:
        return
    with contextlib.suppress(FileNotFoundError):
        state_file().unlink()


def pid_alive(pid: int) -> bool:
    """True while `pid` runs. A zombie (exited, not yet reaped by its parent or init) is dead:
    some inits reap orphans seconds late, and `serve stop` would wait for that."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return True  # no /proc (macOS): signal 0 is all we have
    return stat.rsplit(")", 1)[-1].split()[:1] != ["Z"]


def read_state(*, check_alive: bool = True) -> RelayState | None:
    """The running relay's state, or None (no file, unreadable, or its process is gone)."""
    try:
        data = json.loads(state_file().read_text(encoding="utf-8"))
        state = RelayState(**data)
    except (FileNotFoundError, ValueError, TypeError):
        return None
    if check_alive and not pid_alive(state.pid):
        return None
    return state


def health_ok(url: str, timeout: float = 1.0) -> bool:
    """Does the relay at `url` answer GET /health with 200? (stdlib only: `serve status`,
    `serve stop` and `setup` stay fast by not importing httpx.)"""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        return False
    connection = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
    try:
        connection.request("GET", "/health")
        return connection.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


def stop_running(timeout: float = 10.0) -> RelayState | None:
    """SIGTERM the relay named in relay.json, wait for it to stop serving, clear the file.

    The relay clears relay.json itself once it has stopped serving (port closed, in-flight
    requests done); waiting for that, not for the process to be gone and reaped, keeps
    `serve stop` well under a second. SIGKILL only if it does neither within `timeout`.
    """
    import signal
    import time

    state = read_state()
    if state is None:
        clear_state()
        return None
    with contextlib.suppress(ProcessLookupError):
        os.kill(state.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout

    def serving() -> bool:
        current = read_state(check_alive=False)
        return current is not None and current.pid == state.pid

    while time.monotonic() < deadline and pid_alive(state.pid) and serving():
        with contextlib.suppress(ChildProcessError):
            os.waitpid(state.pid, os.WNOHANG)  # reap it if it is our own child
        time.sleep(0.02)
    if pid_alive(state.pid) and serving():
        with contextlib.suppress(ProcessLookupError):
            os.kill(state.pid, signal.SIGKILL)
    clear_state(state.pid)
    return state
