"""Relay variants side by side, interleaved, on the fast local upstream: CPU per request and per
stream, and p50 latency, for each variant (a what-if: is an idea worth it?).

    python3 benchmarks/what_if.py --variant base= --variant no-sniffio=hide-sniffio \\
        --variant quiet=--quiet [--rounds 5] [--n 300] [--clients 1 8 64]

A variant is NAME=ARGS: ARGS are extra `kimrel serve` arguments separated by commas; the word
`hide-sniffio` runs that relay as if sniffio were not installed (what_if/no_sniffio), and
`src=DIR` runs it from another copy of the source (e.g. `git archive main | tar -x -C DIR`).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import relay_bench as rb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", action="append", required=True)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 64])
    parser.add_argument("--chunks", type=int, default=50)
    args = parser.parse_args()
    ns = argparse.Namespace(
        slow_delay=1.0, slow_ttfb=0.3, slow_stream_seconds=2.0, chunks=args.chunks
    )
    upstream, fast, _ = rb.start_upstream(ns)
    tmp = tempfile.mkdtemp(prefix="kimrel-whatif-")
    relays = {}
    try:
        for spec in args.variant:
            name, _, rest = spec.partition("=")
            extra = [a for a in rest.split(",") if a]
            rb.HIDE_SNIFFIO = "hide-sniffio" in extra
            rb.SOURCE_PATH = [a[4:] for a in extra if a.startswith("src=")]
            extra = [a for a in extra if a != "hide-sniffio" and not a.startswith("src=")]
            relays[name] = rb.start_relay(fast, tmp, name, extra)
        rb.HIDE_SNIFFIO, rb.SOURCE_PATH = False, []
        results: dict[tuple[str, int, bool], list[rb.Sample]] = {}
        targets = {
            name: rb.Target(
                name, "127.0.0.1", port, {"authorization": f"Bearer {rb.TOKEN}"}, pid=proc.pid
            )
            for name, (proc, port) in relays.items()
        }
        for t in targets.values():
            rb.run(rb.load(t, rb.chat(t, False), clients=4, count=200))
            rb.run(rb.load(t, rb.chat(t, True), clients=4, count=50))
        for r in range(args.rounds):
            print(f"round {r + 1}/{args.rounds}", file=sys.stderr, flush=True)
            for clients in args.clients:
                for stream in (False, True):
                    for name, t in targets.items():
                        n = args.n if not stream else args.n // 2
                        s = rb.run(
                            rb.load(
                                t, rb.chat(t, stream), clients=clients, count=max(n, clients * 4)
                            )
                        )
                        results.setdefault((name, clients, stream), []).append(s)
        print(
            "\n| variant | clients | CPU/request | CPU/stream | CPU/chunk | p50 | stream TTFB p50 | errors |"
        )
        print("|---|---|---|---|---|---|---|---|")
        for clients in args.clients:
            for name in targets:
                ns_ = rb.merged(results[(name, clients, False)])
                st = rb.merged(results[(name, clients, True)])
                # the median round's CPU figure is steadier than the total on a shared machine
                per_req = statistics.median(
                    s.cpu_per_request() for s in results[(name, clients, False)]
                )
                per_st = statistics.median(
                    s.cpu_per_request() for s in results[(name, clients, True)]
                )
                print(
                    f"| {name} | {clients} | {rb.us(per_req)} | {rb.msf(per_st)} | "
                    f"{rb.us((per_st - per_req) / args.chunks)} | {rb.msf(statistics.median(ns_.latency))} | "
                    f"{rb.msf(statistics.median(st.ttfb))} | {ns_.errors + st.errors} |"
                )
    finally:
        for proc, _ in relays.values():
            rb.stop(proc)
        rb.stop(upstream)


if __name__ == "__main__":
    main()
