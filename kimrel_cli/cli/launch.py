"""`kimrel launch claude|codex [ARGS…]`: run a tool through the relay without editing its config."""

from __future__ import annotations

from typing import Any

import typer

launch_app = typer.Typer(
    help="Run Claude Code or Codex through the relay (started in the background if needed). No config file is edited.",
    no_args_is_help=True,
)
PASS = {
    "allow_extra_args": True,
    "ignore_unknown_options": True,
    "help_option_names": ["--kimrel-help"],
}


def _relay(simulate: bool, account: str | None) -> Any:
    from kimrel_cli.cli.output import info, warn
    from kimrel_cli.errors import KimrelError
    from kimrel_cli.relay.run import ServeOptions, start_background
    from kimrel_cli.relay.state import read_state

    state = read_state()
    if state is not None:
        if simulate and not state.simulate:
            warn(f"using the relay already running on {state.url} (it is not in simulate mode)")
        return state
    info("starting the relay in the background" + (" on the simulator" if simulate else "") + "…")
    try:
        return start_background(ServeOptions(simulate=simulate, account=account, quiet=True))
    except KimrelError:
        return start_background(
            ServeOptions(simulate=simulate, account=account, quiet=True, port=0)
        )


def _run(tool_name: str, args: list[str], env_extra: dict[str, str]) -> int:
    import os
    import subprocess

    from kimrel_cli.errors import KimrelError
    from kimrel_cli.setup.tools import INSTALL, find_tool

    tool = find_tool(tool_name)
    if not tool.installed:
        raise KimrelError(
            f"{tool_name} is not installed", hint=f"Install it with: {INSTALL[tool_name]}"
        )
    assert tool.path is not None
    try:
        return subprocess.run([tool.path, *args], env={**os.environ, **env_extra}).returncode
    except KeyboardInterrupt:
        return 130


@launch_app.command("claude", context_settings=PASS)
def claude(
    ctx: typer.Context,
    simulate: bool = typer.Option(
        False, "--simulate", help="Use the built-in simulator (no account needed)."
    ),
    account: str | None = typer.Option(None, "--account", help="Account whose key the relay uses."),
    model: str | None = typer.Option(
        None, "--model", help="Main model (default: settings' default_model)."
    ),
) -> None:
    """Run Claude Code through the relay; every other argument goes to `claude` untouched.

    Examples:\n
      kimrel launch claude\n
      kimrel launch claude --simulate -p "list the files here"
    """
    from kimrel_cli.config import load_settings
    from kimrel_cli.relay.state import relay_token
    from kimrel_cli.setup.tools import claude_env

    settings = load_settings()
    state = _relay(simulate, account)
    env = claude_env(
        state.url,
        relay_token(),
        model=model or settings.default_model,
        small_model=settings.small_model,
        pinned=model is not None,
    )
    raise typer.Exit(_run("claude", list(ctx.args), env))


@launch_app.command("codex", context_settings=PASS)
def codex(
    ctx: typer.Context,
    simulate: bool = typer.Option(
        False, "--simulate", help="Use the built-in simulator (no account needed)."
    ),
    account: str | None = typer.Option(None, "--account", help="Account whose key the relay uses."),
    model: str | None = typer.Option(
        None, "--model", help="Model (default: settings' default_model)."
    ),
) -> None:
    """Run Codex through the relay's Responses bridge; other arguments go to `codex` untouched.

    Examples:\n
      kimrel launch codex\n
      kimrel launch codex --simulate exec --skip-git-repo-check "say hello"
    """
    from kimrel_cli.config import load_settings
    from kimrel_cli.relay.state import relay_token
    from kimrel_cli.setup.tools import CODEX_TOKEN_ENV, codex_overrides

    settings = load_settings()
    state = _relay(simulate, account)
    overrides = codex_overrides(state.url, model=model or settings.default_model)
    raise typer.Exit(_run("codex", [*overrides, *ctx.args], {CODEX_TOKEN_ENV: relay_token()}))


def register(app: typer.Typer) -> None:
    app.add_typer(launch_app, name="launch")
