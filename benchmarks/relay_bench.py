"""The relay's cost, in one run: the same requests straight to a local upstream ("direct"),
through `kimrel serve` ("kimrel") and through LiteLLM's proxy ("litellm"), with ratios against
direct.

    python3 benchmarks/relay_bench.py            # the full run (~10 min on a 2-core machine)
    python3 benchmarks/relay_bench.py --quick    # a sanity run (< 1 min, no LiteLLM)
    bash benchmarks/setup_litellm.sh             # once, to compare with LiteLLM's proxy

Every server is a real process on 127.0.0.1 (ephemeral ports): the upstream is
benchmarks/upstream.py (one "fast" port answering at once, one "realistic" port answering after
~1 s, streams of 50 chunks over ~2 s), the relay is `kimrel serve --upstream …` as a user runs it
(its request log printing, to /dev/null), LiteLLM is `litellm --config …` from
benchmarks/.venv-litellm. The load comes from a small asyncio HTTP/1.1 client in this process
(keep-alive, one connection per simulated client), cheaper than httpx so that the client is not
what is measured.

Measured:
- CPU: each proxy's own CPU time (utime+stime from /proc/PID/stat) over a scenario, per request;
  per streamed chunk = (CPU per stream - CPU per non-streaming request) / chunks.
- 1 client, fast upstream: latency p50/p99 (non-streaming), time to first body byte p50/p99
  (streaming); "added" = proxy minus direct.
- 1/8/64 clients, fast and realistic upstream: throughput, p99 latency / TTFB, CPU per request.
- memory: the relay's RSS over --requests requests (a mix of chat and Messages, streaming and
  not), growth after the first 10 %.
- `kimrel --help` wall and CPU time against `python3 -c pass` (median of --cli-runs).

Numbers on a shared machine are noisy: compare ratios within one run, not across runs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
LITELLM_VENV = HERE / ".venv-litellm"
TOKEN = "kr-local-bench-token"
KEY = "sk-bench-upstream-key"
LITELLM_KEY = "sk-" + os.urandom(32).hex()
PROMPT = "Benchmark prompt: say something of moderate length please."
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
HIDE_SNIFFIO = False  # --hide-sniffio
SOURCE_PATH: list[str] = []  # what_if.py: run the relay from another copy of kimrel_cli


# ---- process figures ------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (its threads included), from /proc/PID/stat."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_mb(pid: int) -> float:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE / 2**20


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---- a small HTTP/1.1 client ----------------------------------------------------------------


@dataclass
class Target:
    name: str
    host: str
    port: int
    headers: dict[str, str]
    model: str = "kimi-k2"
    pid: int | None = None  # the proxy process (None: direct)

    def request(
        self, path: str, body: dict[str, Any], extra: dict[str, str] | None = None
    ) -> bytes:
        data = json.dumps(body, separators=(",", ":")).encode()
        headers = {
            "host": f"{self.host}:{self.port}",
            "content-type": "application/json",
            "content-length": str(len(data)),
            **self.headers,
            **(extra or {}),
        }
        head = f"POST {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        return head.encode() + b"\r\n" + data


class Connection:
    """One keep-alive connection; `send` returns (status, seconds to first body byte, total)."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def send(self, raw: bytes) -> tuple[int, float, float, int]:
        for attempt in (0, 1):
            if self.writer is None:
                self.reader, self.writer = await asyncio.open_connection(
                    self.target.host, self.target.port
                )
            try:
                return await self._exchange(raw)
            except (ConnectionError, asyncio.IncompleteReadError):
                await self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    async def _exchange(self, raw: bytes) -> tuple[int, float, float, int]:
        assert self.reader is not None and self.writer is not None
        reader = self.reader
        started = time.perf_counter()
        self.writer.write(raw)
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length, chunked, close = None, False, False
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding" and "chunked" in value:
                chunked = True
            elif name == "connection" and value == "close":
                close = True
        first = None
        size = 0
        if chunked:
            while True:
                line = await reader.readuntil(b"\r\n")
                n = int(line.split(b";")[0], 16)
                if n == 0:
                    await reader.readuntil(b"\r\n")
                    break
                await reader.readexactly(n + 2)
                if first is None:
                    first = time.perf_counter() - started
                size += n
        elif length is not None:
            await reader.readexactly(length)
            size = length
        else:
            size = len(await reader.read())
            close = True
        total = time.perf_counter() - started
        if close:
            await self.close()
        return status, total if first is None else first, total, size

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()
        self.reader = self.writer = None


def chat_body(target: Target, stream: bool) -> dict[str, Any]:
    return {
        "model": target.model,
        "messages": [{"role": "user", "content": PROMPT}],
        "stream": stream,
    }


def messages_body(target: Target, stream: bool) -> dict[str, Any]:
    return {
        "model": target.model,
        "max_tokens": 200,
        "messages": [{"role": "user", "content": PROMPT}],
        "stream": stream,
    }


@dataclass
class Sample:
    ok: int = 0
    errors: int = 0
    latency: list[float] = field(default_factory=list)
    ttfb: list[float] = field(default_factory=list)
    seconds: float = 0.0
    cpu: float = float("nan")  # the proxy's CPU seconds over the scenario

    @property
    def rps(self) -> float:
        return self.ok / self.seconds if self.seconds else float("nan")

    def cpu_per_request(self) -> float:
        return self.cpu / self.ok if self.ok else float("nan")


async def load(
    target: Target,
    raw: Callable[[int], bytes],
    *,
    clients: int,
    count: int | None = None,
    seconds: float | None = None,
) -> Sample:
    """`clients` connections sending requests back to back, `count` in all or for `seconds`."""
    sample = Sample()
    sent = 0
    cpu0 = cpu_seconds(target.pid) if target.pid else float("nan")
    started = time.perf_counter()
    stop = started + seconds if seconds is not None else float("inf")

    async def client() -> None:
        nonlocal sent
        conn = Connection(target)
        try:
            while time.perf_counter() < stop and (count is None or sent < count):
                i = sent
                sent += 1
                try:
                    status, first, total, _ = await conn.send(raw(i))
                except (OSError, asyncio.IncompleteReadError, ValueError):
                    sample.errors += 1
                    await conn.close()
                    continue
                if status == 200:
                    sample.ok += 1
                    sample.latency.append(total)
                    sample.ttfb.append(first)
                else:
                    sample.errors += 1
        finally:
            await conn.close()

    await asyncio.gather(*(client() for _ in range(clients)))
    sample.seconds = time.perf_counter() - started
    if target.pid:
        sample.cpu = cpu_seconds(target.pid) - cpu0
    return sample


def run(coro: Any) -> Any:
    return asyncio.run(coro)


# ---- the processes --------------------------------------------------------------------------


@dataclass
class Procs:
    upstream: subprocess.Popen[str]
    fast_url: str
    slow_url: str
    relays: dict[str, tuple[subprocess.Popen[bytes], int]] = field(default_factory=dict)
    litellm: tuple[subprocess.Popen[bytes], int] | None = None
    litellm_note: str = ""
    tmp: str = ""


def start_upstream(args: argparse.Namespace) -> tuple[subprocess.Popen[str], str, str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            str(HERE / "upstream.py"),
            "0",
            str(args.slow_delay),
            str(args.slow_ttfb),
            str(args.slow_stream_seconds),
            str(args.chunks),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip(), proc.stdout.readline().strip()


def kimrel_command() -> list[str]:
    found = shutil.which("kimrel", path=str(Path(sys.executable).parent)) or shutil.which("kimrel")
    return [found] if found else [sys.executable, "-m", "kimrel_cli"]


def wait_http(
    port: int, proc: subprocess.Popen[Any], timeout: float, path: str = "/health"
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"exited with code {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(f"GET {path} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n\r\n".encode())
                if s.recv(64).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"no answer on port {port} within {timeout:.0f} s")


def start_relay(
    upstream: str, tmp: str, name: str, extra: list[str]
) -> tuple[subprocess.Popen[bytes], int]:
    state = Path(tmp) / name
    # Rate-limit pacing counts every request but holds none: one run sends more requests than
    # the top tier allows in an hour (15,000), so a holding relay would measure its own hold.
    (state / "config").mkdir(parents=True, exist_ok=True)
    (state / "config" / "config.toml").write_text("[relay]\npace_max_wait = 0\n")
    env = {
        **os.environ,
        "KIMREL_API_KEY": KEY,
        "KIMREL_RELAY_TOKEN": TOKEN,
        "KIMREL_CONFIG_DIR": str(state / "config"),
        "KIMREL_STATE_DIR": str(state / "state"),
        "HOME": str(state),
    }
    paths = [*SOURCE_PATH, str(HERE / "what_if" / "no_sniffio")] if HIDE_SNIFFIO else SOURCE_PATH
    if paths:
        env["PYTHONPATH"] = os.pathsep.join([*paths, *filter(None, [env.get("PYTHONPATH")])])
    proc = subprocess.Popen(
        [*kimrel_command(), "serve", "--port", "0", "--upstream", upstream, *extra],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    relay_json = state / "state" / "relay.json"
    deadline = time.monotonic() + 30
    while not relay_json.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("kimrel serve did not start")
        time.sleep(0.05)
    for _ in range(100):
        with contextlib.suppress(ValueError, OSError):
            port = int(json.loads(relay_json.read_text())["port"])
            break
        time.sleep(0.05)
    wait_http(port, proc, 30)
    return proc, port


def litellm_status() -> tuple[Path | None, str]:
    exe = LITELLM_VENV / "bin" / "litellm"
    if not exe.exists():
        return None, f"not installed (run: bash {HERE.relative_to(ROOT)}/setup_litellm.sh)"
    try:
        version = subprocess.run(
            [
                str(LITELLM_VENV / "bin" / "python"),
                "-c",
                "from importlib.metadata import version; print(version('litellm'))",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"not usable ({exc})"
    return exe, version


def start_litellm(exe: Path, fast: str, slow: str, tmp: str) -> tuple[subprocess.Popen[bytes], int]:
    config = Path(tmp) / "litellm.yaml"
    models = "".join(
        f"  - model_name: kimi-k2-{name}\n"
        f"    litellm_params:\n"
        f"      model: openai/kimi-k2\n"
        f"      api_base: {url}/v1\n"
        f"      api_key: {KEY}\n"
        for name, url in (("fast", fast), ("slow", slow))
    )
    config.write_text(
        "model_list:\n" + models + "litellm_settings:\n  telemetry: false\n  num_retries: 0\n"
        "  request_timeout: 600\n"
    )
    port = free_port()
    env = {
        **os.environ,
        "LITELLM_MASTER_KEY": LITELLM_KEY,  # it refuses to start without one
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_LOG": "ERROR",
        "HOME": tmp,
    }
    env.pop("PYTHONPATH", None)
    log = open(Path(tmp) / "litellm.log", "wb")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        [
            str(exe),
            "--config",
            str(config),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--num_workers",
            "1",
        ],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
        env=env,
        cwd=tmp,
    )
    wait_http(port, proc, 120, "/health/liveliness")
    return proc, port


def stop(proc: subprocess.Popen[Any] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


@contextlib.contextmanager
def processes(args: argparse.Namespace) -> Iterator[Procs]:
    tmp = tempfile.mkdtemp(prefix="kimrel-bench-")
    upstream, fast, slow = start_upstream(args)
    procs = Procs(upstream=upstream, fast_url=fast, slow_url=slow, tmp=tmp)
    try:
        extra = args.relay_arg or []
        procs.relays["fast"] = start_relay(fast, tmp, "fast", extra)
        procs.relays["slow"] = start_relay(slow, tmp, "slow", extra)
        if args.no_litellm or args.quick:
            procs.litellm_note = "skipped (--quick)" if args.quick else "skipped (--no-litellm)"
        else:
            exe, note = litellm_status()
            procs.litellm_note = note
            if exe is not None:
                try:
                    procs.litellm = start_litellm(exe, fast, slow, tmp)
                except RuntimeError as exc:
                    procs.litellm_note = f"did not start ({exc}; see {tmp}/litellm.log)"
        yield procs
    finally:
        for proc, _ in procs.relays.values():
            stop(proc)
        if procs.litellm is not None:
            stop(procs.litellm[0])
        stop(upstream)
        if not procs.litellm_note.startswith("did not start"):
            shutil.rmtree(tmp, ignore_errors=True)


def targets(procs: Procs, speed: str) -> list[Target]:
    base = procs.fast_url if speed == "fast" else procs.slow_url
    port = int(base.rsplit(":", 1)[1])
    out = [Target("direct", "127.0.0.1", port, {"authorization": f"Bearer {KEY}"})]
    relay, relay_port = procs.relays[speed]
    out.append(
        Target(
            "kimrel", "127.0.0.1", relay_port, {"authorization": f"Bearer {TOKEN}"}, pid=relay.pid
        )
    )
    if procs.litellm is not None:
        proc, lport = procs.litellm
        out.append(
            Target(
                "litellm",
                "127.0.0.1",
                lport,
                {"authorization": f"Bearer {LITELLM_KEY}"},
                model=f"kimi-k2-{speed}",
                pid=proc.pid,
            )
        )
    return out


# ---- scenarios ------------------------------------------------------------------------------

CHAT = "/v1/chat/completions"


def chat(target: Target, stream: bool) -> Callable[[int], bytes]:
    raw = target.request(CHAT, chat_body(target, stream))
    return lambda i: raw


def messages(target: Target, stream: bool) -> Callable[[int], bytes]:
    raw = target.request("/v1/messages", messages_body(target, stream), ANTHROPIC)
    return lambda i: raw


ANTHROPIC = {"anthropic-version": "2023-06-01"}


def mixed(target: Target) -> Callable[[int], bytes]:
    """chat and Messages, streaming and not, in turn (the memory run)."""
    anthropic = ANTHROPIC
    raws = [
        target.request(CHAT, chat_body(target, False)),
        target.request(CHAT, chat_body(target, True)),
        target.request("/v1/messages", messages_body(target, False), anthropic),
        target.request("/v1/messages", messages_body(target, True), anthropic),
    ]
    return lambda i: raws[i % len(raws)]


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def bench(args: argparse.Namespace, procs: Procs) -> dict[str, Any]:
    out: dict[str, Any] = {"fast": {}, "slow": {}}
    fast = targets(procs, "fast")
    slow = targets(procs, "slow")
    for t in fast:  # warm up: connections, imports, caches
        run(load(t, chat(t, False), clients=4, count=100))
        run(load(t, chat(t, True), clients=4, count=40))

    # 1 client, fast upstream: CPU per request and per stream, added latency and TTFB
    for rep in range(args.repeat):
        for t in fast:
            log(f"1 client, fast upstream: {t.name} (round {rep + 1})")
            ns = run(load(t, chat(t, False), clients=1, count=args.n))
            st = run(load(t, chat(t, True), clients=1, count=args.n // 2))
            row = out["fast"].setdefault(t.name, {"ns": [], "st": []})
            row["ns"].append(ns)
            row["st"].append(st)
    if procs.relays:
        t = Target("kimrel messages", fast[1].host, fast[1].port, fast[1].headers, pid=fast[1].pid)
        log("1 client, fast upstream: kimrel /v1/messages")
        ns = run(load(t, messages(t, False), clients=1, count=args.n))
        st = run(load(t, messages(t, True), clients=1, count=args.n // 2))
        out["fast"]["kimrel messages"] = {"ns": [ns], "st": [st]}

    # 1/8/64 clients
    out["load"] = {}
    for speed, group in (("fast", fast), ("slow", slow)):
        for clients in args.clients:
            for stream in (False, True):
                for t in group:
                    log(
                        f"{clients} clients, {speed} upstream, {'stream' if stream else 'chat'}: {t.name}"
                    )
                    seconds = args.seconds if speed == "fast" else args.slow_seconds
                    s = run(load(t, chat(t, stream), clients=clients, seconds=seconds))
                    out["load"][(speed, clients, stream, t.name)] = s

    # memory
    if args.requests and procs.relays:
        relay, port = procs.relays["fast"]
        t = Target("kimrel", "127.0.0.1", port, {"authorization": f"Bearer {TOKEN}"}, pid=relay.pid)
        warm = max(1, args.requests // 10)
        log(f"memory: {args.requests} requests through the relay")
        run(load(t, mixed(t), clients=8, count=warm))
        points = [(warm, rss_mb(relay.pid))]
        step = max(1, (args.requests - warm) // 9)
        done = warm
        while done < args.requests:
            n = min(step, args.requests - done)
            s = run(load(t, mixed(t), clients=8, count=n))
            if s.errors:
                log(f"  {s.errors} errors")
            done += n
            points.append((done, rss_mb(relay.pid)))
        out["memory"] = points

    if args.cli_runs:
        log(f"CLI: kimrel --help vs python3 -c pass, {args.cli_runs} runs each")
        out["cli"] = cli_times(args.cli_runs)
    return out


def cli_times(runs: int) -> dict[str, tuple[float, float]]:
    """Median (wall, CPU) seconds of each command, run in turn."""
    commands = {
        "python3 -c pass": [sys.executable, "-c", "pass"],
        "kimrel --help": [*kimrel_command(), "--help"],
        "bare Typer app --help": [sys.executable, str(HERE / "typer_floor.py"), "--help"],
    }
    # as installed from a wheel: with bytecode (PYTHONDONTWRITEBYTECODE, set on some machines,
    # would have every run compile kimrel's modules from source, ~150 ms more)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for i in range(runs + 2):
        for name, argv in commands.items():
            started = time.perf_counter()
            proc = subprocess.Popen(
                argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
            )
            _, _, usage = os.wait4(proc.pid, 0)
            proc.returncode = 0
            if i >= 2:  # two warm-up rounds: bytecode written, files in the page cache
                times[name].append((time.perf_counter() - started, usage.ru_utime + usage.ru_stime))
    return {
        name: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v))
        for name, v in times.items()
    }


# ---- the report -----------------------------------------------------------------------------


def us(x: float) -> str:
    return "n/a" if x != x else f"{x * 1e6:,.0f} µs"


def msf(x: float) -> str:
    return "n/a" if x != x else f"{x * 1000:.2f} ms"


def merged(samples: list[Sample]) -> Sample:
    m = Sample()
    for s in samples:
        m.ok += s.ok
        m.errors += s.errors
        m.latency += s.latency
        m.ttfb += s.ttfb
        m.seconds += s.seconds
        m.cpu = (0.0 if m.cpu != m.cpu else m.cpu) + s.cpu
    return m


def report(args: argparse.Namespace, procs: Procs, res: dict[str, Any]) -> None:
    p = print
    p(
        f"\n## relay_bench ({'quick' if args.quick else 'full'} run, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f})"
    )
    p(
        f"\nLiteLLM: {procs.litellm_note if procs.litellm is None else 'litellm ' + procs.litellm_note}"
    )
    p(
        f"stream: {args.chunks} chunks; realistic upstream: answer after {args.slow_delay:g} s, "
        f"stream first chunk after {args.slow_ttfb:g} s then over {args.slow_stream_seconds:g} s"
    )

    fast = {name: (merged(v["ns"]), merged(v["st"])) for name, v in res["fast"].items()}
    d_ns, d_st = fast["direct"]
    p(
        f"\n### 1 client, fast upstream (n={args.n} non-streaming, {args.n // 2} streams, x{args.repeat})\n"
    )
    p(
        "| | p50 | p99 | added p50 | added p99 | TTFB p50 | TTFB p99 | added TTFB p50 | CPU/request | CPU/stream | CPU/chunk |"
    )
    p("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, (ns, st) in fast.items():
        l50, l99 = statistics.median(ns.latency), pct(ns.latency, 0.99)
        t50, t99 = statistics.median(st.ttfb), pct(st.ttfb, 0.99)
        per_req = ns.cpu_per_request()
        per_stream = st.cpu_per_request()
        per_chunk = (per_stream - per_req) / args.chunks
        direct = name == "direct"
        p(
            f"| {name} | {msf(l50)} | {msf(l99)} | "
            f"{'' if direct else msf(l50 - statistics.median(d_ns.latency))} | "
            f"{'' if direct else msf(l99 - pct(d_ns.latency, 0.99))} | {msf(t50)} | {msf(t99)} | "
            f"{'' if direct else msf(t50 - statistics.median(d_st.ttfb))} | "
            f"{'' if direct else us(per_req)} | {'' if direct else msf(per_stream)} | "
            f"{'' if direct else us(per_chunk)} |"
        )

    for speed, title in (("fast", "fast upstream"), ("slow", "realistic upstream")):
        p(
            f"\n### {title}: 1/8/64 clients ({args.seconds if speed == 'fast' else args.slow_seconds:g} s each)\n"
        )
        p(
            "| clients | | req/s | vs direct | p99 | CPU/request | streams/s | vs direct | TTFB p99 | added TTFB p99 | CPU/stream | errors |"
        )
        p("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for clients in args.clients:
            names = [k[3] for k in res["load"] if k[0] == speed and k[1] == clients and not k[2]]
            base_ns = res["load"][(speed, clients, False, "direct")]
            base_st = res["load"][(speed, clients, True, "direct")]
            for name in names:
                ns = res["load"][(speed, clients, False, name)]
                st = res["load"][(speed, clients, True, name)]
                direct = name == "direct"
                p(
                    f"| {clients} | {name} | {ns.rps:,.1f} | "
                    f"{'' if direct else f'{ns.rps / base_ns.rps:.2f}x'} | {msf(pct(ns.latency, 0.99))} | "
                    f"{'' if direct else us(ns.cpu_per_request())} | {st.rps:,.1f} | "
                    f"{'' if direct else f'{st.rps / base_st.rps:.2f}x'} | {msf(pct(st.ttfb, 0.99))} | "
                    f"{'' if direct else msf(pct(st.ttfb, 0.99) - pct(base_st.ttfb, 0.99))} | "
                    f"{'' if direct else msf(st.cpu_per_request())} | {ns.errors + st.errors} |"
                )

    if "memory" in res:
        points = res["memory"]
        warm = points[0][1]
        p(
            f"\n### memory: kimrel relay RSS over {points[-1][0]:,} requests (8 clients, chat + Messages, streaming and not)\n"
        )
        p("| requests | " + " | ".join(f"{n:,}" for n, _ in points) + " |")
        p("|---|" + "---|" * len(points))
        p("| RSS MB | " + " | ".join(f"{mb:.1f}" for _, mb in points) + " |")
        p(
            f"\ngrowth after warm-up: {points[-1][1] - warm:+.1f} MB (max {max(mb for _, mb in points) - warm:+.1f} MB)"
        )

    if "cli" in res:
        cli = res["cli"]
        base_w, _base_c = cli["python3 -c pass"]
        p(f"\n### start-up (median of {args.cli_runs})\n")
        p("| command | wall | CPU | wall over python3 -c pass |")
        p("|---|---|---|---|")
        for name, (w, c) in cli.items():
            p(f"| `{name}` | {msf(w)} | {msf(c)} | {'' if w == base_w else msf(w - base_w)} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a sanity run: small N, no LiteLLM")
    parser.add_argument("--n", type=int, default=600, help="requests at 1 client (streams: n/2)")
    parser.add_argument(
        "--repeat", type=int, default=2, help="rounds of the 1-client runs, interleaved"
    )
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 64])
    parser.add_argument("--seconds", type=float, default=5.0, help="per load run, fast upstream")
    parser.add_argument(
        "--slow-seconds", type=float, default=12.0, help="per load run, realistic upstream"
    )
    parser.add_argument("--requests", type=int, default=50_000, help="the memory run (0: skip)")
    parser.add_argument("--cli-runs", type=int, default=21, help="start-up timing runs (0: skip)")
    parser.add_argument("--chunks", type=int, default=50)
    parser.add_argument("--slow-delay", type=float, default=1.0)
    parser.add_argument("--slow-ttfb", type=float, default=0.3)
    parser.add_argument("--slow-stream-seconds", type=float, default=2.0)
    parser.add_argument("--no-litellm", action="store_true")
    parser.add_argument(
        "--relay-arg",
        action="append",
        help="an extra `kimrel serve` argument (repeatable), e.g. --relay-arg=--quiet",
    )
    parser.add_argument(
        "--hide-sniffio",
        action="store_true",
        help="run the relay as if sniffio were not installed (benchmarks/what_if/no_sniffio)",
    )
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    args = parser.parse_args()
    global HIDE_SNIFFIO
    HIDE_SNIFFIO = args.hide_sniffio
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the servers on the way out
    if args.quick:
        args.n, args.repeat, args.seconds, args.slow_seconds = 100, 1, 0.5, 2.4
        args.requests, args.cli_runs = min(args.requests, 600), min(args.cli_runs, 3)
    with processes(args) as procs:
        res = bench(args, procs)
    report(args, procs, res)
    if args.json:
        res["load"] = {"/".join(map(str, k)): v for k, v in res["load"].items()}
        args.json.write_text(json.dumps(res, default=lambda o: o.__dict__))


if __name__ == "__main__":
    main()
