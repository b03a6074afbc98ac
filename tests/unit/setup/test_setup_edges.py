"""Setup's file edge cases: edits during the prompt, symlinks, read-only files, kill -9, numbers."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

from typer.testing import CliRunner

from kimrel_cli.cli.app import app

runner = CliRunner()


def _settings(sandbox: Path) -> Path:
    path = sandbox / "home" / ".claude" / "settings.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _start_at_prompt(args: list[str]) -> tuple[subprocess.Popen[bytes], int]:
    """`kimrel ARGS` on a pseudo-terminal, returned once it shows the confirmation prompt."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "kimrel_cli", *args],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env={**os.environ, "COLUMNS": "200"},
    )
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + 30
    while b"Write these changes?" not in seen:
        assert time.monotonic() < deadline, seen.decode(errors="replace")
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            seen += os.read(master, 65536)
    return proc, master


def _finish(proc: subprocess.Popen[bytes], master: int) -> str:
    seen = b""
    deadline = time.monotonic() + 30
    while proc.poll() is None or select.select([master], [], [], 0.1)[0]:
        assert time.monotonic() < deadline
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                seen += os.read(master, 65536)
            except OSError:
                break
    os.close(master)
    proc.wait(timeout=30)
    return seen.decode(errors="replace")


def test_an_edit_made_while_the_prompt_is_open_is_kept_and_setup_refuses(sandbox):
    path = _settings(sandbox)
    path.write_text('{\n  "theme": "light"\n}\n')
    proc, master = _start_at_prompt(["setup", "claude-code"])
    edited = '{\n  "theme": "dark",\n  "mine": true\n}\n'
    path.write_text(edited)
    os.write(master, b"y\r")
    output = _finish(proc, master)
    assert proc.returncode == 1, output
    assert "changed while kimrel was waiting" in output and "Traceback" not in output
    assert path.read_text() == edited
    assert "no backups" in runner.invoke(app, ["setup", "undo", "claude-code"]).stderr


def test_kill_9_at_the_prompt_leaves_undo_working(sandbox):
    path = _settings(sandbox)
    path.write_text('{"theme": "light"}\n')
    proc, master = _start_at_prompt(["setup", "claude-code"])
    proc.send_signal(signal.SIGKILL)
    _finish(proc, master)
    assert path.read_text() == '{"theme": "light"}\n'
    assert runner.invoke(app, ["setup", "claude-code", "--yes"]).exit_code == 0
    undo = runner.invoke(app, ["setup", "undo", "claude-code"])
    assert undo.exit_code == 0, undo.stderr
    assert path.read_text() == '{"theme": "light"}\n'


# Run setup in a subprocess that is SIGKILLed by the OS-level rename of settings.json: the
# backup is on disk, the file not yet written (what `kill -9` mid-write leaves behind).
_KILLED_MID_WRITE = """
import os, signal, sys
real_replace = os.replace
def replace(src, dst, *a, **k):
    if str(dst).endswith("settings.json"):
        os.kill(os.getpid(), signal.SIGKILL)
    return real_replace(src, dst, *a, **k)
os.replace = replace
from kimrel_cli.cli.app import main
sys.argv = ["kimrel", "setup", "claude-code", "--yes"]
main()
"""


def test_kill_9_mid_write_does_not_make_undo_claim_a_hand_edit(sandbox):
    path = _settings(sandbox)
    for original in (None, b'{\n  "theme": "light"\n}\n'):
        if original is not None:
            path.write_bytes(original)
        proc = subprocess.run(
            [sys.executable, "-c", _KILLED_MID_WRITE], capture_output=True, timeout=60
        )
        assert proc.returncode == -signal.SIGKILL, proc.stderr
        assert (None if not path.exists() else path.read_bytes()) == original
        undo = runner.invoke(app, ["setup", "undo", "claude-code"])
        assert "by hand" not in undo.stderr, undo.stderr
        # the chain still works: set up for real, then undo back to the original bytes
        assert runner.invoke(app, ["setup", "claude-code", "--yes"]).exit_code == 0
        assert runner.invoke(app, ["setup", "undo", "claude-code"]).exit_code == 0
        assert (None if not path.exists() else path.read_bytes()) == original


def test_two_concurrent_setups_keep_an_undo_chain_back_to_the_original(sandbox):
    path = _settings(sandbox)
    original = b'{\n  "theme": "light"\n}\n'
    path.write_bytes(original)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "kimrel_cli", "setup", "claude-code", "--yes", *extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for extra in ([], ["--model", "kimi-k2.6"])
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=60)
        assert b"Traceback" not in err
    for _ in range(2):
        if path.read_bytes() == original:
            break
        undo = runner.invoke(app, ["setup", "undo", "claude-code"])
        assert undo.exit_code == 0, undo.stderr
    assert path.read_bytes() == original


def test_a_symlinked_settings_file_is_written_through_and_stays_a_link(sandbox):
    path = _settings(sandbox)
    dotfiles = sandbox / "dotfiles"
    dotfiles.mkdir()
    target = dotfiles / "claude-settings.json"
    original = b'{\n  "theme": "light"\n}\n'
    target.write_bytes(original)
    path.symlink_to(target)
    assert runner.invoke(app, ["setup", "claude-code", "--yes"]).exit_code == 0
    assert path.is_symlink() and os.readlink(path) == str(target)
    assert "ANTHROPIC_BASE_URL" in target.read_text()
    assert runner.invoke(app, ["setup", "undo", "claude-code"]).exit_code == 0
    assert path.is_symlink() and os.readlink(path) == str(target)
    assert target.read_bytes() == original


def test_a_read_only_file_is_refused_and_left_alone(sandbox):
    path = _settings(sandbox)
    path.write_text('{"theme": "light"}\n')
    path.chmod(0o444)
    result = runner.invoke(app, ["setup", "claude-code", "--yes"])
    assert result.exit_code == 1 and "read-only" in result.stderr
    assert "chmod u+w" in result.stderr
    assert path.read_text() == '{"theme": "light"}\n'
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    assert "no backups" in runner.invoke(app, ["setup", "undo", "claude-code"]).stderr


def test_numbers_are_written_back_as_they_were_written(sandbox):
    path = _settings(sandbox)
    path.write_text('{\n  "huge": 1e999,\n  "exact": 1.10,\n  "neg": -0.0\n}\n')
    assert runner.invoke(app, ["setup", "claude-code", "--yes"]).exit_code == 0
    text = path.read_text()
    assert '"huge": 1e999' in text and '"exact": 1.10' in text and '"neg": -0.0' in text
    assert "Infinity" not in text
    json.loads(text)


def test_a_lone_surrogate_is_a_clear_error_naming_the_file(sandbox):
    path = _settings(sandbox)
    text = '{"name": "\\ud800"}\n'
    path.write_text(text)
    result = runner.invoke(app, ["setup", "claude-code", "--yes"])
    assert result.exit_code == 1, result.stderr
    assert str(path) in result.stderr and "surrogate" in result.stderr
    assert path.read_text() == text


def test_a_dangling_link_gets_its_target_written_and_undo_keeps_the_link(sandbox):
    path = _settings(sandbox)
    target = sandbox / "dotfiles" / "claude-settings.json"
    target.parent.mkdir()
    path.symlink_to(target)
    assert runner.invoke(app, ["setup", "claude-code", "--yes"]).exit_code == 0
    assert path.is_symlink() and "ANTHROPIC_BASE_URL" in target.read_text()
    assert runner.invoke(app, ["setup", "undo", "claude-code"]).exit_code == 0
    assert path.is_symlink() and not target.exists()
