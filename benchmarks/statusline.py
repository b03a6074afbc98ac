"""`kimrel statusline` wall time from process start, against `python3 -c pass`, in one run.

    python3 benchmarks/statusline.py [--n 40] [--rows 20000]

Sets up what a real refresh reads, in a temporary state dir: a usage ledger of `--rows` rows
(one Claude Code session among many), a fresh relay status file naming a live pid, and the
captured Claude Code 2.1.197 stdin (tests/fixtures/claude_code_statusline_stdin.json). Then
times each command from fork to exit (median and p95 of `--n` runs, after 3 warm-up runs):

- `python3 -c pass` (the python3 on PATH) and this interpreter's `-c pass` and `-S -c pass`:
  the floor any Python command pays here;
- the `kimrel-statusline` console script beside this interpreter;
- the form `kimrel setup claude-code --statusline` installs: `python -S …/statusline/__main__.py
  --state-dir DIR` (no site-packages scan: on this machine a `.pth` in site-packages imports
  certifi at every start, which alone costs more than the rest of the status line).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "claude_code_statusline_stdin.json"


def prepare(state: Path, rows: int) -> None:
    import json

    from kimrel_cli.catalogue import MODELS
    from kimrel_cli.usage import ledger, relay_status

    data = json.loads(FIXTURE.read_text())
    conn = ledger.open_ledger(state / ledger.FILE_NAME)
    now = time.time()
    ledger.insert_rows(
        conn,
        (
            ledger.UsageRow(
                ts=now - i,
                protocol="anthropic",
                client="claude-code",
                status=200,
                stream=True,
                credits_charged=2,
                model="kimi-k2.5",
                session_id=data["session_id"] if i % 50 == 0 else f"other-{i % 97}",
            )
            for i in range(rows)
        ),
    )
    conn.close()
    relay_status.write_status(
        {
            "pid": os.getpid(),
            "url": "http://127.0.0.1:8723",
            "running": True,
            "updated_at": now + 3600,  # stays fresh for the whole run
            "credits_remaining": 997,
            "routing": {  # as relay/status_writer.py writes it
                "main_model": "kimi-k2.5",
                "small_model": "kimi-k2",
                "aliases": {},
                "limits": {},
                "windows": {model: info.context_window for model, info in MODELS.items()},
            },
        },
        state / relay_status.FILE_NAME,
    )


def time_command(
    argv: list[str], stdin: bytes, env: dict[str, str], n: int
) -> tuple[list[float], list[float]]:
    """(wall ms, CPU ms = user + system of the child) of `n` runs after 3 warm-up runs."""
    import resource

    walls: list[float] = []
    cpus: list[float] = []
    for i in range(n + 3):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        proc = subprocess.run(argv, input=stdin, capture_output=True, env=env, check=False)
        elapsed = (time.perf_counter() - started) * 1000.0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if proc.returncode != 0:
            raise SystemExit(f"{argv} failed: {proc.stderr.decode()}")
        if i >= 3:
            walls.append(elapsed)
            cpus.append(
                (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000.0
            )
    return walls, cpus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=40)
    parser.add_argument("--rows", type=int, default=20_000)
    args = parser.parse_args()
    stdin = FIXTURE.read_bytes()
    script = Path(sys.executable).parent / "kimrel-statusline"
    module = ROOT / "kimrel_cli" / "statusline" / "__main__.py"
    # pip compiles an installed package's .pyc files; here PYTHONDONTWRITEBYTECODE may be set,
    # and then every start would compile kimrel_cli's modules again: compile them once, as
    # an install does.
    import compileall

    compileall.compile_dir(ROOT / "kimrel_cli", quiet=1)
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "state"
        prepare(state, args.rows)
        env = {**os.environ, "KIMREL_STATE_DIR": str(state)}
        commands: list[tuple[str, list[str]]] = [
            ("python3 -c pass", [shutil.which("python3") or "python3", "-c", "pass"]),
            ("python -c pass", [sys.executable, "-c", "pass"]),
            ("python -S -c pass", [sys.executable, "-S", "-c", "pass"]),
        ]
        if script.exists():
            commands.append(("kimrel-statusline (console script)", [str(script)]))
        commands.append(
            (
                "python -S statusline/__main__.py (setup)",
                [sys.executable, "-S", str(module), "--state-dir", str(state)],
            )
        )
        line = subprocess.run(
            commands[-1][1], input=stdin, capture_output=True, env=env, check=True
        ).stdout.decode()
        print(f"output: {line.strip()}")
        print(f"n={args.n} runs each, ledger of {args.rows} rows, load average {os.getloadavg()}")
        print(
            f"{'command':38} {'wall median':>11} {'wall p95':>9} {'wall min':>9} {'CPU median':>11}"
        )
        for name, argv in commands:
            walls, cpus = time_command(argv, stdin, env, args.n)
            walls.sort()
            p95 = walls[min(len(walls) - 1, int(len(walls) * 0.95))]
            print(
                f"{name:42} {statistics.median(walls):11.1f} {p95:9.1f} {walls[0]:9.1f} "
                f"{statistics.median(cpus):11.1f}"
            )
        print("(milliseconds, from fork to exit)")


if __name__ == "__main__":
    main()
