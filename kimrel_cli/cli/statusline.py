"""`kimrel statusline`: Claude Code's status line, the same as the fast `kimrel-statusline`.

Claude Code's settings should run the fast entry point (`kimrel setup claude-code --statusline`
installs it); this command exists so the status line can be tried by hand. See
docs/statusline.md.
"""

from __future__ import annotations

import typer


def statusline(
    state_dir: str | None = typer.Option(
        None, "--state-dir", help="kimrel's state dir (default: KIMREL_STATE_DIR or the usual)."
    ),
    chain: str | None = typer.Option(
        None, "--chain", help="Run this status line command first and append ours to its line."
    ),
) -> None:
    """Print Claude Code's status line from the JSON on stdin: routed model, context, credits.

    Reads only local files (the usage ledger, the relay's status file), never the network.
    Always one line, exit 0. See docs/statusline.md.

    Examples:\n
      kimrel statusline < claude-code-stdin.json\n
      kimrel setup claude-code --statusline   (installs the faster form for Claude Code)
    """
    from kimrel_cli.statusline.line import main

    argv = (["--state-dir", state_dir] if state_dir else []) + (["--chain", chain] if chain else [])
    raise typer.Exit(main(argv))


def register(app: typer.Typer) -> None:
    app.command()(statusline)
