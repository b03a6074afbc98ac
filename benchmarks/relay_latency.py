"""Relay overhead: the same requests straight to the simulator and through `kimrel serve`, in one run.

    python3 benchmarks/relay_latency.py [--n 200] [--concurrency 4] [--seconds 3]

The simulator and the relay each run in their own process on 127.0.0.1 (so the client's GIL
does not slow the servers). Prints, for direct and relayed: non-stream latency p50/p95,
streaming time to first byte and total, throughput with a few concurrent clients; then the
ratios relay/direct. Messages (translated) is measured through the relay against direct chat.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from kimrel_cli.simulator import DEMO_KEY

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "kr-local-bench"
KEY = DEMO_KEY
PROMPT = "Benchmark prompt: say something of moderate length please."


def serve_simulator() -> None:
    from kimrel_cli.relay.run import bind_tcp
    from kimrel_cli.servers import serve_forever, url_of
    from kimrel_cli.simulator.app import SimulatorSettings, create_app

    sock = bind_tcp("127.0.0.1", 0)
    print(url_of(sock) + "/api", flush=True)
    serve_forever(create_app(SimulatorSettings(keys={KEY: 10**9}, rate_window_scale=1e-9)), sock)


def serve_relay(upstream: str) -> None:
    from kimrel_cli.relay.app import create_app
    from kimrel_cli.relay.context import RelayConfig
    from kimrel_cli.relay.run import bind_tcp
    from kimrel_cli.servers import serve_forever, url_of

    sock = bind_tcp("127.0.0.1", 0)
    print(url_of(sock), flush=True)
    serve_forever(create_app(RelayConfig(api_key=KEY, base_url=upstream, token=TOKEN)), sock)


def spawn(*args: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, __file__, *args],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), **__import__("os").environ},
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


def client(headers: dict) -> httpx.Client:
    """A client with TCP_NODELAY, so Nagle + delayed ACK (about 40 ms) does not hide the relay."""
    transport = httpx.HTTPTransport(socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])
    return httpx.Client(headers=headers, timeout=30, transport=transport)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def chat_body(stream: bool) -> dict:
    return {
        "model": "kimi-k2",
        "messages": [{"role": "user", "content": PROMPT}],
        "stream": stream,
    }


def messages_body(stream: bool) -> dict:
    return {
        "model": "kimi-k2",
        "max_tokens": 200,
        "messages": [{"role": "user", "content": PROMPT}],
        "stream": stream,
    }


def nonstream(c: httpx.Client, url: str, body: dict, n: int) -> list[float]:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        r = c.post(url, json=body)
        r.raise_for_status()
        times.append(time.perf_counter() - t)
    return times


def streaming(c: httpx.Client, url: str, body: dict, n: int) -> tuple[list[float], list[float]]:
    ttfb, total = [], []
    for _ in range(n):
        t = time.perf_counter()
        with c.stream("POST", url, json=body) as r:
            r.raise_for_status()
            first = None
            for chunk in r.iter_raw():
                if first is None and chunk:
                    first = time.perf_counter() - t
        total.append(time.perf_counter() - t)
        ttfb.append(first or total[-1])
    return ttfb, total


def throughput(url: str, headers: dict, body: dict, concurrency: int, seconds: float) -> float:
    count = [0] * concurrency
    stop = time.monotonic() + seconds

    def worker(i: int) -> None:
        with client(headers) as c:
            while time.monotonic() < stop:
                c.post(url, json=body).raise_for_status()
                count[i] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(count) / (time.monotonic() - start)


def ms(x: float) -> str:
    return f"{x * 1000:7.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()

    sim, sim_url = spawn("--serve-simulator")
    relay, relay_url = spawn("--serve-relay", sim_url)
    try:
        direct_h = {"authorization": f"Bearer {KEY}"}
        relay_h = {"authorization": f"Bearer {TOKEN}", "anthropic-version": "2023-06-01"}
        d_chat = sim_url + "/v1/chat/completions"
        r_chat = relay_url + "/v1/chat/completions"
        r_msgs = relay_url + "/v1/messages"
        results: dict[str, dict[str, float]] = {}
        with (
            httpx.Client(headers=direct_h, timeout=30) as dc,
            httpx.Client(headers=relay_h, timeout=30) as rc,
        ):
            for c, url, body in (
                (dc, d_chat, chat_body(False)),
                (rc, r_chat, chat_body(False)),
                (rc, r_msgs, messages_body(False)),
            ):
                nonstream(c, url, body, 20)  # warm up
            rows = {
                "direct chat": (dc, d_chat, chat_body),
                "relay chat": (rc, r_chat, chat_body),
                "relay messages": (rc, r_msgs, messages_body),
            }
            for name, (c, url, make) in rows.items():
                lat = nonstream(c, url, make(False), args.n)
                ttfb, total = streaming(c, url, make(True), args.n // 2)
                results[name] = {
                    "p50": statistics.median(lat),
                    "p95": pct(lat, 0.95),
                    "ttfb50": statistics.median(ttfb),
                    "stream50": statistics.median(total),
                }
        results["direct chat"]["rps"] = throughput(
            d_chat, direct_h, chat_body(False), args.concurrency, args.seconds
        )
        results["relay chat"]["rps"] = throughput(
            r_chat, relay_h, chat_body(False), args.concurrency, args.seconds
        )
        results["relay messages"]["rps"] = throughput(
            r_msgs, relay_h, messages_body(False), args.concurrency, args.seconds
        )
    finally:
        for proc in (relay, sim):
            proc.terminate()
            proc.wait(5)

    print(f"{'':16} {'p50':>10} {'p95':>10} {'stream TTFB':>12} {'stream total':>13} {'req/s':>8}")
    for name, r in results.items():
        print(
            f"{name:16} {ms(r['p50']):>10} {ms(r['p95']):>10} {ms(r['ttfb50']):>12} {ms(r['stream50']):>13} {r['rps']:8.1f}"
        )
    base = results["direct chat"]
    print("\nratios relay/direct (latency: lower is better; throughput: higher is better)")
    for name in ("relay chat", "relay messages"):
        r = results[name]
        print(
            f"{name:16} p50 x{r['p50'] / base['p50']:.2f}  p95 x{r['p95'] / base['p95']:.2f}  "
            f"TTFB x{r['ttfb50'] / base['ttfb50']:.2f}  stream x{r['stream50'] / base['stream50']:.2f}  "
            f"req/s x{r['rps'] / base['rps']:.2f}"
        )
    print(
        json.dumps(
            {"n": args.n, "concurrency": args.concurrency, "results": results}, default=float
        )
    )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--serve-simulator":
        serve_simulator()
    elif len(sys.argv) > 2 and sys.argv[1] == "--serve-relay":
        serve_relay(sys.argv[2])
    else:
        main()
