"""`kimrel simulate`: the offline simulator of the hosted API, in the foreground."""

from __future__ import annotations

from pathlib import Path

import typer

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def read_keys(path: Path) -> dict[str, int]:
    """Key → starting balance from a TOML file's `[keys]` table; ConfigError names path/line/column."""
    import tomlkit
    from tomlkit.exceptions import ParseError

    from kimrel_cli.errors import ConfigError

    example = 'Example:\n[keys]\n"sk-test-1" = 500'
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ConfigError(f"cannot read {path}: {reason}", path=str(path)) from None
    try:
        doc = tomlkit.parse(text).unwrap()
    except ParseError as exc:
        raise ConfigError(
            f"{path} line {exc.line}, column {exc.col}: {exc.args[0] if exc.args else exc}",
            hint=example,
            path=str(path),
            line=exc.line,
            column=exc.col,
        ) from None
    keys = doc.get("keys")
    if not isinstance(keys, dict) or not keys:
        raise ConfigError(f"{path}: needs a non-empty [keys] table", hint=example, path=str(path))
    out: dict[str, int] = {}
    for key, balance in keys.items():
        if isinstance(balance, bool) or not isinstance(balance, int) or balance < 0:
            raise ConfigError(
                f"{path}: the balance of {key!r} must be a whole number of credits, 0 or more",
                hint=example,
                path=str(path),
            )
        out[str(key)] = balance
    return out


def simulate(
    host: str = typer.Option(
        "127.0.0.1", metavar="HOST", help="Address to bind (loopback unless --allow-remote)."
    ),
    port: int = typer.Option(8724, metavar="PORT", help="Port (0: any free port)."),
    keys: Path | None = typer.Option(
        None,
        "--keys",
        metavar="FILE",
        help='TOML file with a \\[keys] table of "sk-…" = balance (default: the demo keys).',
    ),
    fault: str | None = typer.Option(
        None,
        metavar="SPEC",
        help="Fault for every request, e.g. 'status=503,times=2' (see docs/simulator.md).",
    ),
    rate_window_scale: float = typer.Option(
        1.0,
        metavar="FACTOR",
        help="Shrink the rate-limit windows (0.01: a 'minute' lasts 0.6 s).",
    ),
    allow_remote: bool = typer.Option(False, "--allow-remote", help="Allow a non-loopback --host."),
) -> None:
    """Run the offline simulator of the kimrel.com API (no account, no network, no credits spent).

    Examples:
      kimrel simulate
      kimrel simulate --port 0 --keys keys.toml --fault 'status=503,times=2'
    Then, in another terminal:
      export KIMREL_BASE_URL=http://127.0.0.1:8724/api KIMREL_API_KEY=sk-sim-demo
      kimrel models
    """
    from kimrel_cli.cli.output import err
    from kimrel_cli.errors import KimrelError
    from kimrel_cli.wording import count

    if host not in LOOPBACK and not allow_remote:
        raise KimrelError(
            f"refusing to bind {host}: the simulator is for this machine",
            hint="Pass --allow-remote if you mean it.",
        )
    if not rate_window_scale > 0:
        raise KimrelError(
            f"--rate-window-scale must be above 0, not {rate_window_scale}",
            hint="1 = real minutes; 0.01 makes a minute last 0.6 s.",
        )
    from kimrel_cli.servers import bind_socket, serve_forever, url_of
    from kimrel_cli.simulator.app import DEMO_KEYS, SimulatorSettings, create_app
    from kimrel_cli.simulator.faults import FaultSpecError, parse_fault

    if fault:
        try:
            parse_fault(fault)
        except FaultSpecError as exc:
            raise KimrelError(
                str(exc), hint="See docs/simulator.md for the fault grammar."
            ) from None

    balances = read_keys(keys) if keys else dict(DEMO_KEYS)
    settings = SimulatorSettings(keys=balances, fault=fault, rate_window_scale=rate_window_scale)
    app = create_app(settings)
    try:
        sock = bind_socket(host, port)
    except OSError as exc:
        raise KimrelError(
            f"cannot listen on {host}:{port}: {exc.strerror}",
            hint="Pick another --port (0 = any free port).",
        ) from None
    base = url_of(sock) + "/api"
    err().print(f"[bold]kimrel simulator[/bold] at {base}")
    for key, balance in balances.items():
        err().print(f"  key {key}: {count(balance, 'credit')}")
    first = next(iter(balances))
    err().print(f"\n  export KIMREL_BASE_URL={base} KIMREL_API_KEY={first}")
    err().print(f"  OpenAI SDK base_url={base}/v1   Anthropic SDK base_url={base}\n")
    serve_forever(app, sock)


def register(app: typer.Typer) -> None:
    app.command()(simulate)
