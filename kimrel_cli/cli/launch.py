"""`kimrel launch PROGRAM [ARGS…]`: run a tool through the relay without editing its config.

One subcommand per tool setup in setup/registry.py. Whatever `kimrel setup` (or the user) wrote
in the tools' own config files, launch wins: each target's `launch` gives the arguments and
environment for one run (setup/claude_code.py: a private `--settings` file, 0600, removed when
Claude Code exits, that outranks every settings.json and blanks `apiKeyHelper`; setup/codex.py:
its own provider name, `kimrel-launch`, so nothing merges with the provider setup wrote).

The token sent is the one the running relay accepts (relay.json), and the relay reused must
match the mode asked for: launch never sends simulator traffic to a real account or the other way.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import typer

from kimrel_cli.setup.registry import TARGETS, names
from kimrel_cli.setup.target import SetupTarget

launch_app = typer.Typer(
    help=f"Run {names([t.title for t in TARGETS.values()])} through the relay (started in the "
    "background if needed). No config file is edited.",
    no_args_is_help=True,
)
PASS = {
    "allow_extra_args": True,
    "ignore_unknown_options": True,
    # one name only: click lists several help names in set order, which changes from run to run
    # (and docs/cli.md with it); the old `--kimrel-help` is gone now that --help is kimrel's own
    "help_option_names": ["--help"],
}


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


def _run(target: SetupTarget, args: list[str], env_extra: dict[str, str]) -> int:
    import os
    import subprocess

    from kimrel_cli.errors import KimrelError
    from kimrel_cli.setup.tools import find_tool

    tool = find_tool(target.program)
    if not tool.installed:
        raise KimrelError(
            f"{target.program} is not installed", hint=f"Install it with: {target.install_hint}"
        )
    assert tool.path is not None
    try:
        return subprocess.run([tool.path, *args], env={**os.environ, **env_extra}).returncode
    except KeyboardInterrupt:
        return 130


def _check_tool(target: SetupTarget) -> None:
    import shutil

    from kimrel_cli.errors import KimrelError

    if shutil.which(target.program) is None:
        raise KimrelError(
            f"{target.program} is not installed", hint=f"Install it with: {target.install_hint}"
        )


def _launch(
    target: SetupTarget, args: list[str], simulate: bool, account: str | None, model: str | None
) -> int:
    """`kimrel launch PROGRAM` for any target: the relay, the target's plan, the run."""
    import os
    import tempfile

    from kimrel_cli import paths
    from kimrel_cli.config import load_settings
    from kimrel_cli.relay.state import running_token
    from kimrel_cli.setup.target import LaunchContext

    _check_tool(target)
    settings = load_settings()
    state, started = _relay(simulate, account)
    private: list[str] = []

    def private_file(text: str, suffix: str) -> str:
        folder = paths.ensure_dir(paths.state_dir())
        fd, name = tempfile.mkstemp(prefix=f"launch-{target.program}-", suffix=suffix, dir=folder)
        private.append(name)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:  # mkstemp: mode 0600
            handle.write(text)
        return name

    try:
        project = os.path.basename(os.getcwd()) or None  # usage by project (docs/usage.md)
        plan = target.launch(
            LaunchContext(
                state.url, running_token(state), model, settings, private_file, project=project
            )
        )
        code = _run(target, [*plan.args, *args], plan.env)
    finally:
        for name in private:
            os.unlink(name)
    if started:
        _left_running(state)
    return code


TOOL_HELP = "\n\nThe tool's own help: kimrel launch {tool} -- --help"


def _launch_command(target: SetupTarget) -> Callable[..., None]:
    def command(
        ctx: typer.Context,
        simulate: bool = typer.Option(
            False, "--simulate", help="Use the built-in simulator (no account needed)."
        ),
        account: str | None = typer.Option(
            None, "--account", help="Account whose key the relay uses."
        ),
        model: str | None = typer.Option(
            None, "--model", help="Model (default: settings' default_model)."
        ),
    ) -> None:
        raise typer.Exit(_launch(target, ctx.args, simulate, account, model))

    command.__doc__ = inspect.cleandoc(target.launch_help)
    return command


for _target in TARGETS.values():
    launch_app.command(
        _target.program,
        context_settings=PASS,
        epilog=TOOL_HELP.format(tool=_target.program),
        options_metavar=f"[OPTIONS] [{_target.program.upper()} ARGS]...",
    )(_launch_command(_target))


def register(app: typer.Typer) -> None:
    app.add_typer(launch_app, name="launch")
