"""`kimrel launch claude|codex [ARGS…]`: run a tool through the relay without editing its config.

Whatever `kimrel setup` (or the user) wrote in the tools' own config files, launch wins:

- Claude Code gets the relay's URL and token in a private `--settings` file (0600, removed when
  Claude Code exits). Flag settings outrank user, project and local settings.json, whose `env`
  would otherwise override launch's environment; `apiKeyHelper` is blanked there so a direct-mode
  helper never runs and the real key never goes to the relay.
- Codex gets its own provider name (`kimrel-launch`), so nothing merges with the `kimrel`
  provider `setup codex` wrote (whose `auth.command` cannot be combined with `env_key`).

The token sent is the one the running relay accepts (relay.json), and the relay reused must
match the mode asked for: launch never sends simulator traffic to a real account or the other way.
"""

from __future__ import annotations

from typing import Any

import typer

launch_app = typer.Typer(
    help="Run Claude Code or Codex through the relay (started in the background if needed). "
    "No config file is edited.",
    no_args_is_help=True,
)
PASS = {
    "allow_extra_args": True,
    "ignore_unknown_options": True,
    "help_option_names": ["--help", "--kimrel-help"],
}
LAUNCH_PROVIDER = "kimrel-launch"


def _describe(state: Any) -> str:
    if state.simulate:
        return "the simulator"
    return f"account {state.account}" if state.account else "KIMREL_API_KEY"


def _relay(simulate: bool, account: str | None) -> tuple[Any, bool]:
    """(the relay state to use, whether this launch started it)."""
    from kimrel_cli.cli.output import info
    from kimrel_cli.errors import KimrelError
    from kimrel_cli.relay.run import ServeOptions, start_background
    from kimrel_cli.relay.state import read_state

    state = read_state()
    if state is not None:
        running = _describe(state)
        if simulate and not state.simulate:
            raise KimrelError(
                f"a relay using {running} (real credits) is already running on {state.url}; "
                "--simulate will not send anything to it",
                hint="Stop it first (kimrel serve stop), or launch without --simulate.",
                code="relay-mode-mismatch",
            )
        if not simulate and state.simulate:
            raise KimrelError(
                f"the relay running on {state.url} is the simulator, not your account",
                hint="Add --simulate to use it, or stop it first (kimrel serve stop).",
                code="relay-mode-mismatch",
            )
        if account is not None and not simulate and account != state.account:
            raise KimrelError(
                f"the relay running on {state.url} uses {running}, not account {account}",
                hint="Stop it first (kimrel serve stop), or launch without --account.",
                code="relay-account-mismatch",
            )
        info(f"using the relay already running on {state.url} ({running}, pid {state.pid})")
        return state, False
    info("starting the relay in the background" + (" on the simulator" if simulate else "") + "…")
    opts = ServeOptions(simulate=simulate, account=account, quiet=True)
    try:
        return start_background(opts), True
    except KimrelError as exc:
        if exc.code != "port-in-use":
            raise
        info(f"{exc.message}; using a free port instead")
        opts.port = 0
        return start_background(opts), True


def _left_running(state: Any) -> None:
    from kimrel_cli.cli.output import info

    info(
        f"the relay this launch started is still running on {state.url} (pid {state.pid}); "
        "stop it with: kimrel serve stop"
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


def claude_flag_settings(env: dict[str, str]) -> dict[str, Any]:
    """Claude Code `--settings` content: launch's env, above every settings.json, and no other
    credential (no key helper, no ANTHROPIC_API_KEY from a settings file or the shell), so only
    the relay's token goes to the relay."""
    return {"env": {**env, "ANTHROPIC_API_KEY": ""}, "apiKeyHelper": ""}


def launch_codex_overrides(overrides: list[str]) -> list[str]:
    """`codex_overrides` with the provider renamed to LAUNCH_PROVIDER (nothing merges with setup's)."""
    renamed = []
    for arg in overrides:
        if arg.startswith("model_providers.kimrel="):
            arg = f"model_providers.{LAUNCH_PROVIDER}=" + arg.split("=", 1)[1]
        elif arg in ("model_provider=kimrel", 'model_provider="kimrel"'):
            arg = f'model_provider="{LAUNCH_PROVIDER}"'
        renamed.append(arg)
    return renamed


def _check_tool(name: str) -> None:
    import shutil

    from kimrel_cli.errors import KimrelError
    from kimrel_cli.setup.tools import INSTALL

    if shutil.which(name) is None:
        raise KimrelError(f"{name} is not installed", hint=f"Install it with: {INSTALL[name]}")


TOOL_HELP = "\n\nThe tool's own help: kimrel launch {tool} -- --help"


@launch_app.command(
    "claude",
    context_settings=PASS,
    epilog=TOOL_HELP.format(tool="claude"),
    options_metavar="[OPTIONS] [CLAUDE ARGS]...",
)
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
      kimrel launch claude --simulate -p "list the files here"\n
      kimrel launch claude --resume SESSION_ID
    """
    import json
    import os
    import tempfile

    from kimrel_cli import paths
    from kimrel_cli.config import load_settings
    from kimrel_cli.relay.state import running_token
    from kimrel_cli.setup.tools import claude_env

    _check_tool("claude")
    settings = load_settings()
    state, started = _relay(simulate, account)
    env = claude_env(
        state.url,
        running_token(state),
        model=model or settings.default_model,
        small_model=settings.small_model,
        pinned=model is not None,
    )
    folder = paths.ensure_dir(paths.state_dir())
    fd, name = tempfile.mkstemp(prefix="launch-claude-", suffix=".json", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:  # mkstemp: mode 0600
            json.dump(claude_flag_settings(env), handle)
        code = _run("claude", ["--settings", name, *ctx.args], {**env, "ANTHROPIC_API_KEY": ""})
    finally:
        os.unlink(name)
    if started:
        _left_running(state)
    raise typer.Exit(code)


@launch_app.command(
    "codex",
    context_settings=PASS,
    epilog=TOOL_HELP.format(tool="codex"),
    options_metavar="[OPTIONS] [CODEX ARGS]...",
)
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
    from kimrel_cli.relay.state import running_token
    from kimrel_cli.setup.tools import CODEX_TOKEN_ENV, codex_overrides

    _check_tool("codex")
    settings = load_settings()
    state, started = _relay(simulate, account)
    overrides = launch_codex_overrides(
        codex_overrides(state.url, model=model or settings.default_model)
    )
    code = _run("codex", [*overrides, *ctx.args], {CODEX_TOKEN_ENV: running_token(state)})
    if started:
        _left_running(state)
    raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    app.add_typer(launch_app, name="launch")
