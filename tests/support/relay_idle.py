"""Wait for a relay to finish every request it is handling.

A client can have its whole answer (or have hung up) before the relay closes the stream, and the
relay records a request (log line, ledger row, budget settlement) only then.
"""

from __future__ import annotations

import time
from typing import Any


def wait_until_idle(ctx: Any, timeout: float = 10.0) -> bool:
    """Poll the RelayContext until no request is in flight; False if `timeout` passed first."""
    deadline = time.monotonic() + timeout
    while ctx.stats.in_flight:
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)
    return True


def settle(ctx: Any, timeout: float = 10.0) -> None:
    """Wait until the relay has recorded every request it took, then until its log and ledger
    have written them: what a test must do before it reads either."""
    assert wait_until_idle(ctx, timeout), "the relay still has a request in flight"
    if ctx.ledger is not None:
        assert ctx.ledger.flush(timeout), "the usage ledger did not write its rows"
    ctx.log.flush(timeout)
