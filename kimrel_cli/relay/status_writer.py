"""Keeps the relay's status file (usage/relay_status.py) up to date for `kimrel statusline`.

A daemon thread looks at the relay's counters every `interval` seconds and rewrites the file
when what it would say has changed (the balance after an answer, the pacing or budget state),
and every `heartbeat` seconds regardless, so a reader can tell a live relay from a hung one.
Nothing runs on the event loop: a route never waits for the disk, and a burst of answers costs
at most one write per interval. `stop` writes the file once more with `running: false`.

The pacing and budget state come from `ctx.pacer.snapshot()` and `ctx.budgets.snapshot()` when
the context has them (JSON-able mappings); a snapshot that raises is left out of that write. The
pacer's `resets_in` is written as `resets_at` (epoch seconds), so a countdown alone does not
make the file change four times a second.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from pathlib import Path
from typing import Any

from kimrel_cli.catalogue import MODELS, get_model
from kimrel_cli.relay.context import RelayContext
from kimrel_cli.usage import relay_status


def _snapshot_of(owner: Any, name: str) -> Any:
    """`owner.<name>.snapshot()` when there is one, else None (never raises)."""
    part = getattr(owner, name, None)
    snapshot = getattr(part, "snapshot", None)
    if snapshot is None:
        return None
    try:
        return snapshot()
    except Exception:  # another thread's state mid-change: the next tick has it
        return None


def _steady(pacing: Any, now: float) -> Any:
    """The pacer's `resets_in` (seconds from now, different at every look) as `resets_at` (epoch
    seconds, whole): the same until the window changes, so it is not a change to write."""
    if not isinstance(pacing, dict) or not isinstance(pacing.get("resets_in"), (int, float)):
        return pacing
    steady = {k: v for k, v in pacing.items() if k != "resets_in"}
    steady["resets_at"] = round(now + pacing["resets_in"])
    return steady


class StatusWriter:
    """Writes `relay-status.json` for one relay: at start, on change, on heartbeat, at stop."""

    def __init__(
        self,
        ctx: RelayContext,
        url: str,
        *,
        path: Path | None = None,
        interval: float = 0.25,
        heartbeat: float = relay_status.HEARTBEAT,
    ) -> None:
        self.ctx = ctx
        self.url = url
        self.path = path or relay_status.status_path()
        self.interval = interval
        self.heartbeat = heartbeat
        self.pid = os.getpid()
        self.writes = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last: dict[str, Any] | None = None
        self._last_at = float("-inf")
        self._warned = False

    def payload(self, now: float | None = None) -> dict[str, Any]:
        """What the file should say at `now` (epoch seconds), without `updated_at`."""
        now = time.time() if now is None else now
        ctx = self.ctx
        settings = ctx.settings
        return {
            "pid": self.pid,
            "url": self.url,
            "running": True,
            "account": ctx.config.account,
            "simulate": ctx.config.simulate,
            "credits_remaining": ctx.stats.credits_remaining,
            "routing": {
                "main_model": settings.default_model,
                "small_model": settings.small_model,
                "aliases": dict(settings.aliases),
                "limits": {k: dict(v) for k, v in settings.limits.items()},
                "windows": {
                    model: info.context_window
                    for model in MODELS
                    if (info := get_model(model, settings.limits)) is not None
                },
            },
            "pacing": _steady(_snapshot_of(ctx, "pacer"), now),
            "budgets": _snapshot_of(ctx, "budgets"),
        }

    def tick(self, now: float | None = None) -> bool:
        """Write if something changed or the heartbeat is due; True when it wrote."""
        now = time.time() if now is None else now
        try:
            current = self.payload(now)
        except Exception:  # settings unreadable mid-reload: try again next tick
            return False
        if current == self._last and now - self._last_at < self.heartbeat:
            return False
        try:
            relay_status.write_status({**current, "updated_at": now}, self.path)
        except (OSError, TypeError, ValueError) as exc:
            if not self._warned:
                self._warned = True
                self.ctx.log.message(f"status line file not written: {exc}", level="warning")
            return False
        self._last, self._last_at = current, now
        self.writes += 1
        return True

    def start(self) -> StatusWriter:
        self.tick()
        self._thread = threading.Thread(target=self._run, name="kimrel-relay-status", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.tick()

    def stop(self) -> None:
        """Stop the thread and leave the file saying the relay is down (last figures kept)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)
        with contextlib.suppress(Exception):
            self.tick()  # the last balance
        relay_status.mark_down(self.pid, self.path)
