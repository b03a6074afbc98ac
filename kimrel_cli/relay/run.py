"""Running the relay: decide its config from the serve options, bind, write relay.json, serve.

`run_relay` is the foreground `kimrel serve`; `start_relay_in_thread` serves a RelayConfig on
127.0.0.1:0 in a thread (tests, benchmarks); `start_background` starts a detached `kimrel serve`
(relay/state.py's `stop_running` stops it) through relay.json.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kimrel_cli.apikey import SIMULATOR_DEMO_KEY, ApiKey
from kimrel_cli.config import Settings, load_settings
from kimrel_cli.errors import ConfigError, KimrelError
from kimrel_cli.relay import state as relay_state
from kimrel_cli.relay.context import RelayConfig, RelayContext, build_context, public_url
from kimrel_cli.relay.security import is_loopback_bind


@dataclass
class ServeOptions:
    """The options of `kimrel serve`, as given on the command line (None = not given)."""

    host: str | None = None
    port: int | None = None
    account: str | None = None
    upstream: str | None = None
    token: str | None = field(default=None, repr=False)  # the local token: a secret
    no_auth: bool = False
    simulate: bool = False
    allow_remote: bool = False
    cors_origin: str | None = None
    quiet: bool = False
    log_json: bool = False
    live: bool = False  # on a terminal: the live dashboard instead of lines (never in argv)

    def argv(self) -> list[str]:
        """The same options as `kimrel serve` arguments (for --background). Never the token:
        argv is visible to every user in `ps`; it goes through TOKEN_ENV (`env()`)."""
        args: list[str] = []
        for flag, value in (
            ("--host", self.host),
            ("--port", self.port),
            ("--account", self.account),
            ("--upstream", self.upstream),
            ("--cors-origin", self.cors_origin),
        ):
            if value is not None:
                args += [flag, str(value)]
        for flag, on in (
            ("--no-auth", self.no_auth),
            ("--simulate", self.simulate),
            ("--allow-remote", self.allow_remote),
            ("--quiet", self.quiet),
            ("--log-json", self.log_json),
        ):
            if on:
                args.append(flag)
        return args


TOKEN_ENV = "KIMREL_RELAY_TOKEN"  # `kimrel serve`'s --token, from the environment


def check_binding(host: str, *, allow_remote: bool, no_auth: bool) -> None:
    """Refuse a non-loopback bind without --allow-remote, and --no-auth with --allow-remote
    (on any host: --allow-remote turns the Host check off, so the token is all that guards)."""
    if allow_remote and no_auth:
        raise ConfigError(
            "--allow-remote and --no-auth cannot be combined",
            hint="--allow-remote turns off the Host check; remote clients must present the "
            "local token (kimrel serve token).",
        )
    if is_loopback_bind(host):
        return
    if not allow_remote:
        raise ConfigError(
            f"refusing to listen on {host}: the relay holds your API key and binds loopback only",
            hint="Use --host 127.0.0.1, or pass --allow-remote (a token is then required).",
        )


def resolve_upstream(
    opts: ServeOptions, settings: Settings, simulator_url: str | None
) -> tuple[ApiKey, str, str | None]:
    """(key, base URL, account name) for the relay's upstream."""
    if simulator_url is not None:
        return ApiKey(SIMULATOR_DEMO_KEY), simulator_url, None
    from kimrel_cli.accounts.registry import resolve_key

    resolved = resolve_key(opts.account, settings)
    base = (opts.upstream or resolved.base_url or settings.base_url).rstrip("/")
    return resolved.key, base, resolved.account


def make_config(
    opts: ServeOptions, settings: Settings, simulator_url: str | None, log: Any
) -> tuple[RelayConfig, str]:
    """The RelayConfig for these options, and the host to bind."""
    host = opts.host or settings.relay_host
    check_binding(host, allow_remote=opts.allow_remote, no_auth=opts.no_auth)
    key, base_url, account = resolve_upstream(opts, settings, simulator_url)
    token = None if opts.no_auth else (opts.token or relay_state.relay_token())
    config = RelayConfig(
        api_key=key,
        base_url=base_url,
        settings=settings,
        token=token,
        allow_remote=opts.allow_remote,
        cors_origin=opts.cors_origin,
        simulate=opts.simulate,
        account=account,
        log=log,
        ledger=_ledger_file(settings),
    )
    return config, host


def _ledger_file(settings: Settings) -> Path | None:
    """Where `kimrel serve` keeps the usage ledger; None when `usage.ledger` is off."""
    if not settings.usage_ledger:
        return None
    from kimrel_cli.usage.ledger import ledger_path

    return ledger_path()


def bind_notice(host: str, port: int) -> tuple[str, str | None]:
    """(the URL local clients use, a warning to print or None) for a relay bound to host:port.

    A wildcard bind (0.0.0.0, ::) is reached locally through loopback, but listens on every
    interface: say so, with the real bind address, instead of a banner naming 127.0.0.1 only.
    """
    shown = f"[{host}]" if ":" in host else host
    bound = f"http://{shown}:{port}"
    if is_loopback_bind(host):
        return bound, None
    local = f"http://127.0.0.1:{port}" if host in ("0.0.0.0", "::") else bound
    where = "every network interface" if host in ("0.0.0.0", "::") else host
    return local, (
        f"listening on {bound} ({where}): anyone who can reach this machine and has the local "
        "token can spend your credits; clients on this machine use " + local
    )


def bind_tcp(host: str = "127.0.0.1", port: int = 0) -> Any:
    """The relay's listening socket (servers.bind_socket: IPPROTO_TCP, so no delayed-ACK stalls)."""
    from kimrel_cli.servers import bind_socket

    return bind_socket(host, port)


@dataclass
class RunningRelay:
    url: str
    ctx: RelayContext
    server: Any

    def stop(self) -> None:
        self.server.stop()


def start_relay_in_thread(
    config: RelayConfig, host: str = "127.0.0.1", port: int = 0, limits: Any = None
) -> RunningRelay:
    """Serve a relay for `config` in a daemon thread; returns once it accepts connections.
    `limits`: a servers.ConnectionLimits (tests shorten the timeouts)."""
    from kimrel_cli.relay.app import create_app
    from kimrel_cli.servers import DEFAULT_LIMITS, start_in_thread

    ctx = build_context(config)
    server = start_in_thread(create_app(ctx), bind_tcp(host, port), limits=limits or DEFAULT_LIMITS)
    return RunningRelay(url=server.url, ctx=ctx, server=server)


def _setup_debug_logging() -> bool:
    """KIMREL_DEBUG: the relay's debug log on stderr. True if it is on."""
    import logging

    if os.environ.get("KIMREL_DEBUG", "") in ("", "0"):
        return False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    logger = logging.getLogger("kimrel")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    return True


def _reveal(key: ApiKey | str) -> str:
    return key.reveal() if isinstance(key, ApiKey) else key


def _balance(key: ApiKey, base_url: str) -> int | None:
    from kimrel_cli.hosted.client import Client

    try:
        with Client(key, base_url, max_retries=0) as client:
            data = client.credits().data
    except (KimrelError, OSError):
        return None
    value = data.get("credits_remaining") if isinstance(data, dict) else None
    return value if isinstance(value, int) else None


def run_relay(
    opts: ServeOptions, settings: Settings | None = None, simulator_url: str | None = None
) -> None:
    """`kimrel serve` in the foreground: until Ctrl-C or SIGTERM; relay.json cleared on exit.

    With --simulate, `cli/serve.py` starts the simulator (the relay never imports it) and passes
    its base URL (ending in /api) as `simulator_url`.
    """
    from kimrel_cli.relay.app import create_app
    from kimrel_cli.relay.dashboard import RequestLog, log_mode
    from kimrel_cli.servers import serve_forever

    settings = settings or load_settings()
    debug = _setup_debug_logging()  # debug lines would tear a live panel: then lines, as piped
    mode = log_mode(quiet=opts.quiet, log_json=opts.log_json, terminal=opts.live and not debug)
    log = RequestLog(mode, low_credit_warning=settings.low_credit_warning)
    if opts.simulate and simulator_url is None:
        raise ConfigError("--simulate needs the simulator's URL (internal error)")
    config, host = make_config(opts, settings, simulator_url, log)
    port = settings.relay_port if opts.port is None else opts.port
    try:
        sock = bind_tcp(host, port)
    except OSError as exc:
        owner = port_owner(port) if port else None
        reason = f"port {port} is in use by pid {owner}" if owner else (exc.strerror or str(exc))
        raise ConfigError(
            f"cannot listen on {host}:{port}: {reason}",
            hint="Another relay may be running (kimrel serve status); or pick --port.",
        ) from None
    url, notice = bind_notice(host, sock.getsockname()[1])
    ctx = build_context(config)
    balance = _balance(ApiKey(_reveal(config.api_key)), config.base_url)
    ctx.stats.credits_remaining = balance
    state = relay_state.RelayState(
        pid=os.getpid(),
        host=host,
        port=sock.getsockname()[1],
        url=url,
        upstream=public_url(config.base_url),
        simulate=opts.simulate,
        account=config.account,
        started_at=time.time(),
        token_required=config.token is not None,
        token=config.token,
    )
    relay_state.write_state(state)
    from kimrel_cli.relay.status_writer import StatusWriter

    status = StatusWriter(ctx, url).start()  # relay-status.json, for `kimrel statusline`
    _announce(log, mode, url, ctx, balance)
    if notice is not None:
        log.message(notice, level="warning")
        log.flush()
    if mode == "dashboard":
        from kimrel_cli.relay.dashboard_model import DashboardHeader

        log.start_dashboard(DashboardHeader(url, ctx.upstream_url, _who(config)), source=ctx)
    # uvicorn shuts down gracefully on SIGINT/SIGTERM and then re-raises the signal with the
    # previous handler: make that a clean exit so relay.json is cleared below.
    app = create_app(ctx)  # before the handler: nothing between it and serve_forever's own
    # SIGHUP (the terminal closed) stops the relay like SIGTERM; SIGUSR1 re-reads the token.
    previous = signal.signal(signal.SIGTERM, _exit_cleanly)
    previous_hup = signal.signal(signal.SIGHUP, _exit_cleanly) if _HUP else None
    previous_usr1 = None
    if config.token is not None and opts.token is None and _USR1:

        def reload_token(signum: int, frame: Any) -> None:  # `kimrel serve token --rotate`
            import dataclasses

            config.token = relay_state.relay_token()
            relay_state.write_state(dataclasses.replace(state, token=config.token))
            log.message("local token rotated: the old one is refused from now on")

        previous_usr1 = signal.signal(signal.SIGUSR1, reload_token)
    stopped: list[int] = []
    try:
        serve_forever(app, sock, on_shutdown=lambda: stopped.append(ctx.stop_streams()))
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        if previous_hup is not None:
            signal.signal(signal.SIGHUP, previous_hup)
        if previous_usr1 is not None:
            signal.signal(signal.SIGUSR1, previous_usr1)
        relay_state.clear_state(os.getpid())
        status.stop()
        if ctx.ledger is not None:  # rows still queued are written before the process ends
            ctx.ledger.close()
        aborted = sum(stopped)
        log.message(
            "relay stopped"
            + (
                f" ({aborted} stream{'s' if aborted != 1 else ''} in flight aborted)"
                if aborted
                else ""
            )
        )
        log.close()


def port_owner(port: int) -> int | None:
    """The pid listening on TCP `port` on this machine, where /proc says so (Linux), else None."""
    import glob

    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text(encoding="ascii").splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if (
                len(fields) > 9
                and fields[3] == "0A"
                and int(fields[1].rsplit(":", 1)[1], 16) == port
            ):
                inodes.add(fields[9])
    if not inodes:
        return None
    for fd in glob.glob("/proc/[0-9]*/fd/*"):
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in inodes:
            return int(fd.split("/")[2])
    return None


_HUP = hasattr(signal, "SIGHUP")
_USR1 = hasattr(signal, "SIGUSR1")


def _exit_cleanly(signum: int, frame: Any) -> None:
    raise SystemExit(0)


TOKEN_PLACEHOLDER = "$(kimrel serve token)"


def shown_token(token: str | None, terminal: bool) -> str | None:
    """The token as the banner shows it: itself on a terminal only. Anywhere else (relay.log of
    `serve --background`, a supervisor's log) a placeholder: the token never goes into a log."""
    if token is None or terminal:
        return token
    return TOKEN_PLACEHOLDER


def _who(config: RelayConfig) -> str:
    """Whose credits the relay spends, as the header says it."""
    if config.simulate:
        return "simulator (no account needed)"
    return config.account or "KIMREL_API_KEY"


def _announce(log: Any, mode: str, url: str, ctx: RelayContext, balance: int | None) -> None:
    from kimrel_cli.relay.dashboard import header_panel

    config = ctx.config
    if mode == "json":
        import json

        sys.stdout.write(
            json.dumps(
                {
                    "event": "started",
                    "url": url,
                    "openai_url": url + "/v1",
                    "upstream": ctx.upstream_url,
                    "simulate": config.simulate,
                    "account": config.account,
                    "balance": balance,
                }
            )
            + "\n"
        )
        sys.stdout.flush()
        return
    from rich.console import Console

    console = Console(stderr=True, highlight=False, soft_wrap=True)
    if mode == "quiet":
        console.print(f"kimrel relay on {url}")
        return
    if mode == "dashboard":  # the live panel below shows the header; the snippets stay above
        from rich.text import Text

        from kimrel_cli.relay.dashboard import usage_snippets

        token = shown_token(config.token, console.is_terminal)
        console.print(Text(usage_snippets(url, token, model=ctx.settings.default_model)))
        console.print()
        return
    console.print(
        header_panel(
            url=url,
            upstream=ctx.upstream_url,
            account=config.account,
            balance=balance,
            simulate=config.simulate,
            token=shown_token(config.token, console.is_terminal),
            model=ctx.settings.default_model,
        )
    )
    if balance is not None and balance < ctx.settings.low_credit_warning:
        log.message(f"balance is low: {balance:,} credits left", level="warning")


# ---- background ---------------------------------------------------------------------------


def start_background(opts: ServeOptions, timeout: float = 10.0) -> relay_state.RelayState:
    """Spawn a detached `kimrel serve` and wait until it answers /health."""
    from kimrel_cli import paths

    running = relay_state.read_state()
    if running is not None:
        raise KimrelError(
            f"a relay is already running on {running.url} (pid {running.pid})",
            hint="Stop it with: kimrel serve stop",
        )
    log_path = paths.ensure_dir(paths.state_dir()) / "relay.log"
    # the banner printed into the log shows the local token: keep the log private
    fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "ab") as log_file:
        offset = log_file.tell()
        proc = subprocess.Popen(
            [sys.executable, "-m", "kimrel_cli", "serve", *opts.argv()],
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=log_file,
            start_new_session=True,
            env=_background_env(opts),
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = relay_state.read_state()
        if state is not None and state.pid == proc.pid and health_ok(state.url):
            return state
        if proc.poll() is not None:
            raise _start_failure(log_path, offset, proc.returncode)
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGTERM)
    raise KimrelError(f"the relay did not answer within {timeout:.0f} s", hint=f"See {log_path}")


def _background_env(opts: ServeOptions) -> dict[str, str]:
    """The background relay's environment: the token travels here (private to this user's
    processes), not in argv (which `ps` shows to everyone)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop(TOKEN_ENV, None)
    if opts.token is not None:
        env[TOKEN_ENV] = opts.token
    return env


def _start_failure(log_path: Any, offset: int, returncode: int) -> KimrelError:
    """The error a background relay printed before exiting, as our own (reason inline)."""
    try:
        with open(log_path, "rb") as handle:
            handle.seek(offset)
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        text = ""
    message = hint = None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("error:"):
            message, hint = line[len("error:") :].strip(), None
        elif line.startswith("hint:") and message is not None:
            hint = line[len("hint:") :].strip()
    if message is None:
        return KimrelError(f"the relay exited at start (code {returncode})", hint=f"See {log_path}")
    code = "port-in-use" if message.startswith("cannot listen on") else "relay-start-failed"
    return KimrelError(
        f"the relay could not start: {message}",
        hint=(hint + " " if hint else "") + f"(log: {log_path})",
        code=code,
    )


def health_ok(url: str, timeout: float = 1.0) -> bool:
    return relay_state.health_ok(url, timeout)
