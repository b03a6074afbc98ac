"""Usage-ledger overhead: the same requests through a relay with the ledger off and one with it on.

    python3 benchmarks/ledger_overhead.py [--rounds 10] [--n 40] [--concurrency 4] [--seconds 2]

One simulator and two relays, each in its own process on 127.0.0.1 (the ledger's writer thread
runs in the "on" relay's process, as under `kimrel serve`), measured side by side in one run:
rounds alternate off/on and on/off (ABBA) so drift in the machine's load hits both alike. Prints
non-stream latency p50/p95, streaming time to first byte and total, and throughput with a few
concurrent clients, then the on-off difference of the per-round medians with its spread
(mean ± 2 standard errors): the ledger costs nothing measurable when that interval holds 0.
Afterwards it checks that the "on" relay wrote one row per request it was sent.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from relay_latency import (  # the sibling benchmark's measuring helpers
    KEY,
    TOKEN,
    chat_body,
    client,
    messages_body,
    nonstream,
    pct,
    streaming,
    throughput,
)

ROOT = Path(__file__).resolve().parents[1]


def serve_simulator() -> None:
    from kimrel_cli.relay.run import bind_tcp
    from kimrel_cli.servers import serve_forever, url_of
    from kimrel_cli.simulator.app import SimulatorSettings, create_app

    sock = bind_tcp("127.0.0.1", 0)
    print(url_of(sock) + "/api", flush=True)
    serve_forever(create_app(SimulatorSettings(keys={KEY: 10**9}, rate_window_scale=1e-9)), sock)


def serve_relay(upstream: str, ledger: str) -> None:
    from kimrel_cli.relay.app import create_app
    from kimrel_cli.relay.context import RelayConfig, build_context
    from kimrel_cli.relay.run import bind_tcp
    from kimrel_cli.servers import serve_forever, url_of

    sock = bind_tcp("127.0.0.1", 0)
    print(url_of(sock), flush=True)
    config = RelayConfig(
        api_key=KEY, base_url=upstream, token=TOKEN, ledger=Path(ledger) if ledger else None
    )
    ctx = build_context(config)
    try:
        serve_forever(create_app(ctx), sock)
    finally:
        if ctx.ledger is not None:
            ctx.ledger.close()


def spawn(*args: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, __file__, *args],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            httpx.get(url.removesuffix("/api") + "/health", timeout=0.5)
            break
        except httpx.HTTPError:
            time.sleep(0.05)
    return proc, url


def ms(x: float) -> str:
    return f"{x * 1000:7.2f} ms"


def measure(c: httpx.Client, base: str, n: int) -> dict[str, list[float]]:
    """One round on one relay: chat and messages, whole and streamed."""
    out: dict[str, list[float]] = {}
    for route, make in (("/v1/chat/completions", chat_body), ("/v1/messages", messages_body)):
        out.setdefault("latency", []).extend(nonstream(c, base + route, make(False), n))
        ttfb, total = streaming(c, base + route, make(True), n // 2)
        out.setdefault("ttfb", []).extend(ttfb)
        out.setdefault("stream", []).extend(total)
    return out


def spread(diffs: list[float]) -> str:
    mean = statistics.fmean(diffs)
    se = statistics.stdev(diffs) / len(diffs) ** 0.5 if len(diffs) > 1 else float("nan")
    verdict = "within noise" if abs(mean) <= 2 * se else "measurable"
    return f"{mean * 1000:+7.3f} ms ± {2 * se * 1000:.3f} ({verdict})"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--n", type=int, default=40, help="non-stream requests per route a round")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()

    folder = tempfile.mkdtemp(prefix="kimrel-ledger-bench-")
    ledger = str(Path(folder) / "usage.sqlite3")
    sim, sim_url = spawn("--serve-simulator")
    off, off_url = spawn("--serve-relay", sim_url, "")
    on, on_url = spawn("--serve-relay", sim_url, ledger)
    headers = {"authorization": f"Bearer {TOKEN}", "anthropic-version": "2023-06-01"}
    data: dict[str, dict[str, list[float]]] = {"off": {}, "on": {}}
    per_round: dict[str, dict[str, list[float]]] = {"off": {}, "on": {}}
    rps: dict[str, list[float]] = {"off": [], "on": []}
    sent_on = 0
    try:
        with client(headers) as c:
            for url in (off_url, on_url):
                nonstream(c, url + "/v1/chat/completions", chat_body(False), 20)  # warm up
            sent_on += 20
            for r in range(args.rounds):
                order = ("off", "on") if r % 2 == 0 else ("on", "off")
                for name in order:
                    got = measure(c, off_url if name == "off" else on_url, args.n)
                    if name == "on":
                        sent_on += 2 * (args.n + args.n // 2)
                    for key, values in got.items():
                        data[name].setdefault(key, []).extend(values)
                        per_round[name].setdefault(key, []).append(statistics.median(values))
        for r in range(2):
            for name in ("off", "on") if r % 2 == 0 else ("on", "off"):
                url = (off_url if name == "off" else on_url) + "/v1/chat/completions"
                start = time.monotonic()
                rate = throughput(url, headers, chat_body(False), args.concurrency, args.seconds)
                if name == "on":
                    sent_on += round(rate * (time.monotonic() - start))
                rps[name].append(rate)
    finally:
        for proc in (on, off, sim):
            proc.terminate()
            proc.wait(10)

    print(f"{'':10} {'p50':>10} {'p95':>10} {'TTFB p50':>10} {'stream p50':>11} {'req/s':>8}")
    for name in ("off", "on"):
        d = data[name]
        print(
            f"ledger {name:3} {ms(statistics.median(d['latency'])):>10} "
            f"{ms(pct(d['latency'], 0.95)):>10} {ms(statistics.median(d['ttfb'])):>10} "
            f"{ms(statistics.median(d['stream'])):>11} {statistics.fmean(rps[name]):8.1f}"
        )
    print("\non - off, per-round medians (mean ± 2 standard errors):")
    for key, label in (("latency", "latency p50"), ("ttfb", "TTFB p50"), ("stream", "stream p50")):
        diffs = [a - b for a, b in zip(per_round["on"][key], per_round["off"][key], strict=True)]
        print(f"  {label:12} {spread(diffs)}")

    from kimrel_cli.usage.ledger import open_readonly

    conn = open_readonly(Path(ledger))
    written = conn.execute("SELECT COUNT(*) FROM requests").fetchone()[0] if conn else 0
    if conn is not None:
        conn.close()
    print(f"\nrows the ledger-on relay wrote: {written} (about {sent_on} requests sent)")
    summary = {
        "rounds": args.rounds,
        "n": args.n,
        "p50_ms": {k: statistics.median(data[k]["latency"]) * 1000 for k in data},
        "rps": {k: statistics.fmean(v) for k, v in rps.items()},
        "rows": written,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--serve-simulator":
        serve_simulator()
    elif len(sys.argv) > 3 and sys.argv[1] == "--serve-relay":
        serve_relay(sys.argv[2], sys.argv[3])
    else:
        main()
