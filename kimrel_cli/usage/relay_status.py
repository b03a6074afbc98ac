"""The relay's status file: what `kimrel statusline` shows without asking the network.

`relay-status.json` in the state dir (0600), written atomically by the running relay
(relay/status_writer.py): at start, within a quarter of a second of a change (the balance after
an answer, the pacing or budget state), every HEARTBEAT seconds while nothing changes, and once
more at stop with `"running": false` (the last balance stays readable). The status line reads it
on every refresh, so reading is stdlib-only and never raises.

Fields (every one optional to a reader):

| field | what |
| --- | --- |
| `pid`, `url`, `account`, `running` | the relay process, where it listens, its account, false once stopped |
| `updated_at` | epoch seconds of the last write (the heartbeat keeps it fresh) |
| `credits_remaining` | the balance the last answer reported (`X-Credits-Remaining`) |
| `routing` | `main_model`, `small_model`, `aliases`, `limits`: the settings the relay maps names with |
| `pacing` | `ctx.pacer.snapshot()` when the relay has a pacer |
| `budgets` | `ctx.budgets.snapshot()` when the relay has budgets |

"Relay up" = `running`, the pid alive, and `updated_at` within FRESH_FOR seconds.
"""

from __future__ import annotations

import os
import time

TYPE_CHECKING = False  # the status line imports this module: no typing/pathlib at run time
if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path
    from typing import Any

    PathArg = str | os.PathLike[str]

FILE_NAME = "relay-status.json"
HEARTBEAT = 10.0  # seconds between writes when nothing changes
FRESH_FOR = 3 * HEARTBEAT + 5.0  # a status older than this is stale: the relay is hung or gone


def status_path(state_dir: PathArg | None = None) -> Path:
    from pathlib import Path

    if state_dir is None:
        from kimrel_cli import paths

        state_dir = paths.state_dir()
    return Path(state_dir) / FILE_NAME


def write_status(data: Mapping[str, Any], path: PathArg | None = None) -> None:
    """Write the status atomically (temp file beside it, then rename), mode 0600."""
    import contextlib
    import json
    from pathlib import Path

    from kimrel_cli.paths import make_private_dirs

    path = status_path() if path is None else Path(path)
    make_private_dirs(path.parent)
    text = json.dumps(dict(data), separators=(",", ":"), default=str)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read_status(path: PathArg | None = None) -> dict[str, Any] | None:
    """The status as written, or None (missing, unreadable, not a JSON object)."""
    from kimrel_cli.usage.lightjson import loads  # json's parser without json's imports

    try:
        path = status_path() if path is None else path
        with open(path, "rb") as handle:
            data = loads(handle.read())
    except (OSError, ValueError, ImportError):
        return None
    return data if isinstance(data, dict) else None


def mark_down(pid: int, path: PathArg | None = None) -> None:
    """At relay stop: keep the last figures, say it stopped (only if the file is this pid's)."""
    data = read_status(path)
    if data is None or data.get("pid") != pid:
        return
    data.update(running=False, updated_at=time.time(), pacing=None)
    try:
        write_status(data, path)
    except OSError:
        pass


def pid_alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            stat = handle.read()
    except OSError:
        return True  # no /proc (macOS): signal 0 is all there is
    return stat.rsplit(")", 1)[-1].split()[:1] != ["Z"]  # a zombie has exited


def relay_up(status: Mapping[str, Any] | None, now: float | None = None) -> bool:
    """True when the status says running, its pid is alive and it was written recently."""
    if not status or status.get("running") is False:
        return False
    updated = status.get("updated_at")
    if not isinstance(updated, (int, float)):
        return False
    now = time.time() if now is None else now
    return now - updated <= FRESH_FOR and pid_alive(status.get("pid"))
