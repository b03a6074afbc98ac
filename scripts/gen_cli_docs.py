"""Write docs/cli.md: every `kimrel` command's --help, as the app renders it at 80 columns.

    python scripts/gen_cli_docs.py          # rewrite docs/cli.md
    python scripts/gen_cli_docs.py --check  # exit 1 if docs/cli.md is out of date

tests/unit/cli/test_cli_docs.py runs the same rendering, so the page cannot drift from the app.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "cli.md"
WIDTH = 80

HEADER = """\
# kimrel command reference

Every command's `--help`, as kimrel prints it in an 80-column terminal. Generated from the app by
`python scripts/gen_cli_docs.py`; a test fails when this page and the app disagree, so edit the
help texts in `kimrel_cli/cli/`, not this page.

Rendered with {versions}.
"""


def versions() -> str:
    """The libraries that shape the help's layout (the page is compared only under these)."""
    from importlib.metadata import version

    return f"typer {version('typer')} and rich {version('rich')}"


def _plain_environment() -> None:
    """80 columns, no colour, whatever the caller's terminal or CI says (set before typer loads)."""
    for name in ("FORCE_COLOR", "PY_COLORS", "GITHUB_ACTIONS", "CLICOLOR_FORCE", "TTY_COMPATIBLE"):
        os.environ.pop(name, None)
    os.environ.update(
        COLUMNS=str(WIDTH),
        TERMINAL_WIDTH=str(WIDTH),
        NO_COLOR="1",
        TERM="dumb",
        _TYPER_FORCE_DISABLE_TERMINAL="1",
    )


def _walk(command: Any, path: list[str]) -> list[tuple[list[str], Any]]:
    """(path, command) for a command and every visible subcommand, depth first, in help order."""
    found = [(path, command)]
    for name in getattr(command, "commands", {}):
        sub = command.commands[name]
        if not sub.hidden:
            found += _walk(sub, [*path, name])
    return found


def render_cli_docs() -> str:
    _plain_environment()
    import typer
    from typer.testing import CliRunner

    sys.path.insert(0, str(ROOT))
    from kimrel_cli.cli.app import app

    root = typer.main.get_command(app)
    runner = CliRunner()
    sections = [HEADER.format(versions=versions())]
    for path, command in _walk(root, []):
        names = (command.context_settings or {}).get("help_option_names") or ["--help"]
        result = runner.invoke(app, [*path, names[-1]], prog_name="kimrel", terminal_width=WIDTH)
        if result.exit_code != 0:
            raise SystemExit(f"kimrel {' '.join(path)} --help failed:\n{result.output}")
        title = " ".join(["kimrel", *path])
        body = "\n".join(line.rstrip() for line in result.output.splitlines()).strip("\n")
        sections.append(f"## {title}\n\n```text\n{body}\n```\n")
    return "\n".join(sections)


def main(argv: list[str]) -> int:
    text = render_cli_docs()
    if "--check" in argv:
        current = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
        if current != text:
            sys.stderr.write("docs/cli.md is out of date: run python scripts/gen_cli_docs.py\n")
            return 1
        return 0
    DOC.write_text(text, encoding="utf-8")
    sys.stdout.write(f"wrote {DOC.relative_to(ROOT)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
