"""Every --help at 80 columns, and docs/cli.md, which is generated from the app and must match it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "cli.md"


def kimrel(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The installed console script (python -m kimrel_cli where it is not on PATH)."""
    script = shutil.which("kimrel", path=str(Path(sys.executable).parent))
    command = [script] if script else [sys.executable, "-m", "kimrel_cli"]
    return subprocess.run(
        [*command, *args],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "NO_COLOR": "1", "TERM": "dumb", **env},
    )


def test_docs_cli_md_is_what_the_app_prints():
    rendered_with = f"typer {version('typer')} and rich {version('rich')}"
    if rendered_with not in DOC.read_text(encoding="utf-8"):
        pytest.skip(f"docs/cli.md was rendered with other versions than {rendered_with}")
    check = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_cli_docs.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert check.returncode == 0, check.stderr


def help_blocks() -> dict[str, str]:
    text = DOC.read_text(encoding="utf-8")
    return dict(re.findall(r"^## (kimrel[^\n]*)\n\n```text\n(.*?)\n```", text, re.S | re.M))


def test_docs_cli_md_lists_every_command():
    blocks = help_blocks()
    for command in (
        "kimrel",
        "kimrel login",
        "kimrel accounts rename",
        "kimrel simulate",
        "kimrel setup undo",
        "kimrel serve status",
        "kimrel launch codex",
    ):
        assert command in blocks


@pytest.mark.parametrize("command", sorted(help_blocks()))
def test_help_fits_80_columns_with_plain_labels(command):
    text = help_blocks()[command]
    assert max(len(line) for line in text.splitlines()) <= 80
    for noise in ("<bool>", "<str>", "<int>", "<float>", "<path>", "[default: default]"):
        assert noise not in text, f"{command} --help shows {noise}"


def test_simulate_help_through_the_console_script_keeps_brackets_and_labels():
    result = kimrel("simulate", "--help", COLUMNS="80")
    assert result.returncode == 0
    assert "[keys] table" in result.stdout
    assert re.search(r"--keys +FILE ", result.stdout)
    assert re.search(r"--allow-remote +Allow", result.stdout)  # a flag: no type label
    assert max(len(line) for line in result.stdout.splitlines()) <= 80
