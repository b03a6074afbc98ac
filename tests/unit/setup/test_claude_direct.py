"""`kimrel setup claude-code --via direct` (issue 11.2): refused for Claude Code versions the hosted
/v1/messages cannot serve, and written with the account's own base URL where it can."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kimrel_cli.setup.claude_code import account_base_url, direct_mode_refusal


@pytest.mark.parametrize(
    ("version", "refused"),
    [(None, False), ("1.0.0", False), ("2.1.153", False), ("2.1.154", True), ("2.1.197", True)],
)
def test_direct_mode_is_refused_from_the_version_that_sends_system_messages(version, refused):
    refusal = direct_mode_refusal(version)
    assert (refusal is not None) == refused
    if refusal is not None:
        assert "role" in refusal.message and "kimrel setup claude-code" in (refusal.hint or "")


def test_account_base_url_prefers_the_accounts_own():
    accounts = {"work": {"base_url": "http://127.0.0.1:9/api/"}, "old": {}}
    assert account_base_url(accounts, "work", "https://kimrel.com/api") == "http://127.0.0.1:9/api"
    assert account_base_url(accounts, "old", "https://kimrel.com/api") == "https://kimrel.com/api"
    assert account_base_url(accounts, None, "https://kimrel.com/api") == "https://kimrel.com/api"


def _kimrel(args: list[str], path: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kimrel_cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PATH": path, "NO_COLOR": "1", "COLUMNS": "200"},
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.skipif(
    shutil.which("claude") is None, reason="Claude Code (`claude`) is not installed"
)
def test_setup_direct_says_plainly_it_cannot_serve_the_installed_claude_code(sandbox):
    result = _kimrel(["setup", "claude-code", "--via", "direct", "--yes"], os.environ["PATH"])
    assert result.returncode != 0
    text = " ".join((result.stdout + result.stderr).split())
    assert "direct mode cannot serve Claude Code 2.1." in text, text
    assert "kimrel setup claude-code" in text and "Traceback" not in text
    assert not (Path(os.environ["CLAUDE_CONFIG_DIR"]) / "settings.json").exists()


def test_setup_direct_writes_the_accounts_base_url_and_the_output_cap(sandbox):
    """An older Claude Code (a stand-in script answering --version) can still use direct mode."""
    config = Path(os.environ["KIMREL_CONFIG_DIR"])
    config.mkdir(parents=True, exist_ok=True)
    (config / "config.toml").write_text(
        'default_account = "work"\n\n[accounts.work]\n'
        'base_url = "http://127.0.0.1:9/api"\nstorage = "keyring"\nlast4 = "abcd"\n'
    )
    bin_dir = sandbox / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "claude"
    fake.write_text("#!/bin/sh\necho '2.1.100 (Claude Code)'\n")
    fake.chmod(0o755)
    result = _kimrel(
        ["setup", "claude-code", "--via", "direct", "--yes"],
        f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
    )
    assert result.returncode == 0, result.stderr
    settings = json.loads((Path(os.environ["CLAUDE_CONFIG_DIR"]) / "settings.json").read_text())
    assert settings["env"]["ANTHROPIC_BASE_URL"] == "http://127.0.0.1:9/api"
    assert settings["env"]["CLAUDE_CODE_MAX_OUTPUT_TOKENS"] == "8192"
    assert settings["apiKeyHelper"].endswith("--account work")
