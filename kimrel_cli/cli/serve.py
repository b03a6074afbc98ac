"""`kimrel serve`: run the local relay; `serve stop`, `serve status`, `serve token`.

Thin: options are parsed here and handed to `kimrel_cli.relay.run`, imported lazily so that
`kimrel --help` loads neither starlette nor uvicorn nor httpx.
"""

from __future__ import annotations

from typing import Any

import typer

serve_app = typer.Typer(
    help="Run the local relay (Anthropic Messages, Chat Completions, Responses) on 127.0.0.1.",
    invoke_without_command=True,
    no_args_is_help=False,
    rich_markup_mode="rich",
)


@serve_app.callback()
def serve(
    ctx: typer.Context,
    host: str | None = typer.Option(
        None, "--host", help="Address to bind (default relay.host, 127.0.0.1)."
    ),
    port: int | None = typer.Option(
        None, "--port", help="Port (default relay.port, 8723; 0 = any free port)."
    ),
    account: str | None = typer.Option(None, "--account", help="Account whose key to use."),
    upstream: str | None = typer.Option(
        None, "--upstream", help="Hosted API root to forward to (default base_url)."
    ),
    token: str | None = typer.Option(
        None,
        "--token",
        envvar="KIMREL_RELAY_TOKEN",
        show_envvar=True,
        help="Local token clients must present (default: the stored one).",
    ),
    no_auth: bool = typer.Option(
        False, "--no-auth", help="Require no local token (loopback only)."
    ),
    simulate: bool = typer.Option(
        False, "--simulate", help="Start the offline simulator too and relay to it (no account)."
    ),
    allow_remote: bool = typer.Option(
        False, "--allow-remote", help="Allow a non-loopback --host (a token is then required)."
    ),
    cors_origin: str | None = typer.Option(
        None, "--cors-origin", help="Send CORS headers for this one origin."
    ),
    quiet: bool = typer.Option(
        False, "--quiet", "-q", help="No live dashboard and no per-request lines."
    ),
    log_json: bool = typer.Option(
        False, "--log-json", help="One JSON object per line on stdout (for supervisors)."
    ),
    background: bool = typer.Option(
        False, "--background", help="Start detached; stop with `kimrel serve stop`."
    ),
) -> None:
    """Run the local relay. See docs/relay.md."""
    if ctx.invoked_subcommand is not None:
        return
    import os

    from kimrel_cli.relay.run import TOKEN_ENV, ServeOptions

    # read the variable ourselves as well: typer 0.26 with click 8.5 ignores `envvar=`, and a
    # background relay gets its token only this way (argv would show it in `ps`)
    token = token or os.environ.get(TOKEN_ENV) or None
    opts = ServeOptions(
        host=host,
        port=port,
        account=account,
        upstream=upstream,
        token=token,
        no_auth=no_auth,
        simulate=simulate,
        allow_remote=allow_remote,
        cors_origin=cors_origin,
        quiet=quiet,
        log_json=log_json,
        live=_on_a_terminal(),
    )
    if background:
        from kimrel_cli.cli.output import print_raw, success
        from kimrel_cli.relay.run import start_background

        state = start_background(opts)
        success(
            f"relay running in the background (pid {state.pid}); stop it with: kimrel serve stop"
        )
        print_raw(state.url + "\n")
        return
    from kimrel_cli.relay.run import check_binding, run_relay

    check_binding(host or _settings().relay_host, allow_remote=allow_remote, no_auth=no_auth)
    if not simulate:
        run_relay(opts)
        return
    simulator = _start_simulator()
    try:
        run_relay(opts, simulator_url=simulator.url + "/api")
    finally:
        simulator.stop()


def _on_a_terminal() -> bool:
    """The live dashboard needs a terminal on stdout and on stderr (where it draws); piped or
    redirected, serve keeps one line per request."""
    import sys

    return sys.stdout.isatty() and sys.stderr.isatty()


def _settings() -> Any:
    from kimrel_cli.config import load_settings

    return load_settings()


def _start_simulator() -> Any:
    """The offline simulator on 127.0.0.1:<any port>, in a thread of this process."""
    from kimrel_cli.relay.run import bind_tcp
    from kimrel_cli.servers import start_in_thread
    from kimrel_cli.simulator.app import create_app

    return start_in_thread(create_app(), bind_tcp("127.0.0.1", 0))


@serve_app.command("stop")
def stop() -> None:
    """Stop the relay started with --background (or any running `kimrel serve`)."""
    from kimrel_cli.cli.output import out
    from kimrel_cli.relay.state import stop_running

    state = stop_running()
    if state is None:
        out().print("no relay is running")
        return
    out().print(f"[green]✓[/green] stopped the relay on {state.url} (pid {state.pid})")


@serve_app.command("status")
def status(json_out: bool = typer.Option(False, "--json", help="Print JSON on stdout.")) -> None:
    """Is a relay running, where, and does it answer?"""
    from dataclasses import asdict

    from kimrel_cli.cli.output import out, print_json
    from kimrel_cli.relay.state import health_ok, read_state

    state = read_state()
    answering = state is not None and health_ok(state.url)
    if json_out:
        print_json(
            {
                "running": state is not None,
                "answering": answering,
                **({k: v for k, v in asdict(state).items() if k != "token"} if state else {}),
            }
        )
    elif state is None:
        out().print(
            "no relay is running (start one with: kimrel serve, or kimrel serve --background)"
        )
    else:
        mode = "simulator" if state.simulate else (state.account or "KIMREL_API_KEY")
        health = "answering" if answering else "NOT answering"
        from kimrel_cli.apikey import redact

        out().print(
            f"relay on {state.url} (pid {state.pid}), upstream {redact(state.upstream)} "
            f"[{mode}], {health}",
            markup=False,
        )
    if state is None:
        raise typer.Exit(1)


@serve_app.command("token")
def token(
    rotate: bool = typer.Option(
        False, "--rotate", help="Store a new token; a running relay switches to it at once."
    ),
) -> None:
    """Print the running relay's local token, else the stored one (Codex's auth.command, scripts)."""
    from kimrel_cli.cli.output import print_raw
    from kimrel_cli.relay.state import rotate_token, running_token

    if rotate:
        import sys

        new, what = rotate_token()
        print_raw(new + "\n")
        sys.stderr.write(f"new local token stored; {what}\n")
        return
    print_raw(running_token() + "\n")


def register(app: typer.Typer) -> None:
    """Add `kimrel serve` (and its subcommands) to the root app."""
    app.add_typer(serve_app, name="serve")
