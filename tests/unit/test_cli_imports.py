"""`kimrel --help` stays fast: structural checks (which modules load), never timings.

The CLI's command modules import only typer, the standard library and light kimrel modules at
their top (cli/app.py: COMMAND_MODULES); a help screen does not load markdown-it or pygments
(typer.rich_utils imports them for markup and tracebacks kimrel does not use).
"""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("rich", "httpx", "httpcore", "starlette", "uvicorn", "keyring", "anyio", "prompt_toolkit")
HELP_HEAVY = ("pygments", "markdown_it", "rich.markdown", "rich.syntax", "rich.traceback")


def _modules_after(code: str) -> set[str]:
    script = f"{code}\nimport json, sys\nsys.__stdout__.write('\\nMODULES=' + json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    return set(json.loads(out.rsplit("MODULES=", 1)[1]))


def _loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return [n for n in names if any(m == n or m.startswith(n + ".") for m in modules)]


def test_importing_the_cli_loads_nothing_heavy():
    modules = _modules_after("import kimrel_cli.cli.app")
    assert _loaded(modules, HEAVY) == []


def test_the_help_screen_loads_neither_markdown_nor_pygments():
    code = (
        "import sys\n"
        "sys.argv = ['kimrel', '--help']\n"
        "from kimrel_cli.cli.app import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
    )
    modules = _modules_after(code)
    assert "typer.rich_utils" in modules  # the help was drawn by rich
    assert _loaded(modules, HELP_HEAVY) == []


def test_the_stand_ins_give_way_to_the_real_rich_classes():
    code = (
        "from kimrel_cli.cli.fasthelp import light_help_renderer\n"
        "light_help_renderer()\n"
        "import typer.rich_utils as ru\n"
        "from rich.markdown import Markdown\n"
        "from rich.traceback import Traceback\n"
        "md = ru.Markdown('# hi')\n"  # typer's reference: a stand-in, making the real thing
        "assert type(md) is Markdown, type(md)\n"
        "assert ru.Traceback.from_exception is not None\n"
        "assert Markdown.__module__ == 'rich.markdown'\n"
    )
    modules = _modules_after(code)
    assert "rich.markdown" in modules


def test_every_command_module_is_registered():
    from pathlib import Path

    from kimrel_cli.cli import app

    here = Path(app.__file__).parent
    commands = {p.stem for p in here.glob("*.py") if "def register(" in p.read_text()}
    assert commands == set(app.COMMAND_MODULES)
