"""CPU the rate-limit pacer's bookkeeping costs per request, at several request rates.

    python3 benchmarks/pacer_cost.py [--seconds 90]

Drives `PaceState` as the relay does for one request (the hold check twice, release, the
answer's headers, finish) at 8, 100 and 300 requests a second of simulated time, for
`--seconds` of it, with the top tier's limit of 500 a minute and nothing held (as with
`relay.pace_max_wait = 0`, which the relay benchmark uses: the minute window then holds every
request of the last minute). Prints CPU µs per request, and for scale the CPU of one
`json.dumps` + `json.loads` of a small chat body measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kimrel_cli.catalogue import TIERS
from kimrel_cli.relay.pacing import PaceState

BODY = {"model": "kimi-k2", "messages": [{"role": "user", "content": "hello " * 20}]}


def pacer_us(rate: int, seconds: float) -> tuple[float, int]:
    state = PaceState(header_limit=TIERS[-1].per_minute, tier=TIERS[-1])
    now = 1_800_000_000.0
    n = int(rate * seconds)
    started = time.process_time()
    for _ in range(n):
        now += 1 / rate
        state.wait(now)
        state.wait(now, sure=True)
        seq = state.release(now)
        state.observe(seq, limit=TIERS[-1].per_minute, remaining=None, reset=None, now=now + 0.002)
        state.finish(seq, now + 0.002)
    return (time.process_time() - started) / n * 1e6, state.counted


def json_us(n: int = 20_000) -> float:
    started = time.process_time()
    for _ in range(n):
        json.loads(json.dumps(BODY))
    return (time.process_time() - started) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=90.0)
    args = parser.parse_args()
    base = json_us()
    print(f"json dumps+loads of a small chat body: {base:.1f} µs (for scale)")
    for rate in (8, 100, 300):
        us, counted = pacer_us(rate, args.seconds)
        print(
            f"{rate:>4} requests/s: pacer {us:6.1f} µs per request"
            f" ({us / base:.1f}× the json round trip), minute window holds {counted}"
        )


if __name__ == "__main__":
    main()
