"""`kimrel setup claude-code --statusline`: installs the fast status line, chains one the user
already has (same stdin, ours appended), and `setup undo` gives theirs back byte for byte."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from kimrel_cli.cli.app import app
from kimrel_cli.setup import claude_code

runner = CliRunner()
FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "claude_code_statusline_stdin.json"


def _settings(sandbox: Path) -> Path:
    path = sandbox / "home" / ".claude" / "settings.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _run_status_line(command: str) -> subprocess.CompletedProcess[bytes]:
    """As Claude Code runs it: through the shell, the captured stdin in, without our env."""
    env = {k: v for k, v in os.environ.items() if k != "KIMREL_STATE_DIR"}
    return subprocess.run(
        command, shell=True, input=FIXTURE.read_bytes(), capture_output=True, env=env, timeout=20
    )


def test_setup_installs_the_fast_entry_point_by_absolute_path(sandbox):
    path = _settings(sandbox)
    result = runner.invoke(app, ["setup", "claude-code", "--statusline", "--yes"])
    assert result.exit_code == 0, result.stderr
    line = json.loads(path.read_text())["statusLine"]
    assert line["type"] == "command"
    words = shlex.split(line["command"])
    assert words[:2] == [sys.executable, "-S"] and words[2].endswith(
        "kimrel_cli/statusline/__main__.py"
    )
    assert Path(words[2]).is_file() and words[3:] == ["--state-dir", str(sandbox / "kimrel-state")]
    done = _run_status_line(line["command"])
    assert done.returncode == 0 and done.stderr == b""
    assert done.stdout.decode() == "kimi-k2.5 · ctx 23K/256K 9% · session 0 · relay down\n"


def test_an_existing_status_line_is_chained_and_undo_restores_it(sandbox):
    path = _settings(sandbox)
    original = (
        b'{\n  "statusLine": {"type": "command", "command": "printf \'%s\' mine", "padding": 1},\n'
        b'  "theme": "dark"\n}\n'
    )
    path.write_bytes(original)
    assert runner.invoke(app, ["setup", "claude-code", "--statusline", "--yes"]).exit_code == 0
    line = json.loads(path.read_text())["statusLine"]
    assert line["padding"] == 1, "their other keys stay"
    assert claude_code.chained_command(line["command"]) == "printf '%s' mine"
    done = _run_status_line(line["command"])
    assert done.stdout.decode().startswith("mine │ kimi-k2.5 · ")
    second = runner.invoke(app, ["setup", "claude-code", "--statusline", "--yes"])
    assert "nothing changed" in second.stderr, "ours is recognised, not chained to itself"
    assert runner.invoke(app, ["setup", "undo", "claude-code"]).exit_code == 0
    assert path.read_bytes() == original


def test_undo_gives_theirs_back_even_after_claude_code_changed_other_keys(sandbox):
    path = _settings(sandbox)
    path.write_text('{"statusLine": {"type": "command", "command": "echo mine"}}\n')
    assert runner.invoke(app, ["setup", "claude-code", "--statusline", "--yes"]).exit_code == 0
    data = json.loads(path.read_text())
    data["model"] = "sonnet"  # a /model pick Claude Code saved meanwhile
    path.write_text(json.dumps(data, indent=2) + "\n")
    assert runner.invoke(app, ["setup", "undo", "claude-code"]).exit_code == 0
    after = json.loads(path.read_text())
    assert after == {"statusLine": {"type": "command", "command": "echo mine"}, "model": "sonnet"}


def test_dry_run_shows_the_status_line_diff_and_writes_nothing(sandbox):
    path = _settings(sandbox)
    path.write_text('{"statusLine": {"type": "command", "command": "echo mine"}}\n')
    result = runner.invoke(app, ["setup", "claude-code", "--statusline", "--dry-run"])
    assert result.exit_code == 0 and "--chain 'echo mine'" in result.stdout
    assert path.read_text() == '{"statusLine": {"type": "command", "command": "echo mine"}}\n'


def test_without_the_option_setup_leaves_a_status_line_alone(sandbox):
    path = _settings(sandbox)
    path.write_text('{"statusLine": {"type": "command", "command": "echo mine"}}\n')
    assert runner.invoke(app, ["setup", "claude-code", "--yes"]).exit_code == 0
    assert json.loads(path.read_text())["statusLine"]["command"] == "echo mine"


def test_setup_status_reports_a_status_line_whose_kimrel_moved(sandbox):
    path = _settings(sandbox)
    path.write_text(
        json.dumps(
            {
                "env": {"ANTHROPIC_AUTH_TOKEN": "kr-local-x"},
                "statusLine": {"type": "command", "command": "/gone/bin/kimrel-statusline"},
            }
        )
    )
    result = runner.invoke(app, ["setup", "status"])
    assert "/gone/bin/kimrel-statusline no longer exists" in result.stdout + result.stderr


def test_which_commands_are_kimrels():
    ours = [
        "/v/bin/kimrel-statusline",
        "/v/bin/python -S /v/lib/kimrel_cli/statusline/__main__.py --state-dir /s",
        "/v/bin/python -S /v/lib/kimrel_cli/statusline.py --state-dir /s",
        "python -m kimrel_cli.statusline",
        "kimrel statusline --chain 'x y'",
    ]
    theirs = ["echo kimrel", "~/.claude/statusline.sh", "npx ccstatusline", "'unclosed", None, 3]
    assert all(claude_code.is_our_statusline(c) for c in ours)
    assert not any(claude_code.is_our_statusline(c) for c in theirs)
