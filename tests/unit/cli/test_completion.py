"""Shell completion: the completion functions, and one completion through the console script."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from kimrel_cli.catalogue import MODELS
from kimrel_cli.cli.app import app
from kimrel_cli.cli.completion import complete_account, complete_model, complete_tool


def two_accounts(simulator):
    runner = CliRunner()
    for name in ("work", "personal"):
        result = runner.invoke(
            app,
            ["login", "--account", name, "--with-token", "--base-url", simulator],
            input="sk-sim-demo\n",
        )
        assert result.exit_code == 0, result.output


def complete(words: str, cword: int) -> list[str]:
    """What bash would offer: the console script run as bash's completion function runs it."""
    script = shutil.which("kimrel", path=str(Path(sys.executable).parent))
    command = [script] if script else [sys.executable, "-m", "kimrel_cli"]
    env = {**os.environ, "_KIMREL_COMPLETE": "complete_bash", "COMP_WORDS": words}
    env["COMP_CWORD"] = str(cword)
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=30)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_accounts_complete_from_the_settings_with_the_default_marked(simulator):
    assert complete_account("") == []
    two_accounts(simulator)
    assert complete_account("") == [("personal", "account"), ("work", "default account")]
    assert complete_account("p") == [("personal", "account")]


def test_accounts_complete_nothing_when_the_settings_are_broken(sandbox):
    config = sandbox / "kimrel-config" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text("[accounts\n")
    assert complete_account("") == []


def test_models_and_tools_complete_from_the_catalogue():
    assert [m for m, _ in complete_model("")] == list(MODELS)
    assert [m for m, _ in complete_model("kimi-k2.")] == ["kimi-k2.5", "kimi-k2.6"]
    assert all(text for _, text in complete_model(""))
    assert [t for t, _ in complete_tool("c")] == ["claude-code", "codex"]


def test_bash_completion_through_the_console_script(simulator):
    two_accounts(simulator)
    assert complete("kimrel chat --model kimi-k2.", 3) == ["kimi-k2.5", "kimi-k2.6"]
    assert complete("kimrel serve --account w", 3) == ["work"]
    assert complete("kimrel accounts use ", 3) == ["personal", "work"]
    assert complete("kimrel setup undo co", 3) == ["codex"]
