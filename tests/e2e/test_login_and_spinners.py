"""`kimrel login`, `status`, `credits` and `chat -m` through the installed console script: keys
piped in, the keyring checked before the key is asked for, and spinners only on a terminal."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pexpect
import pytest


def command() -> list[str]:
    script = shutil.which("kimrel", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "kimrel_cli"]


def kimrel(*args: str, stdin: str = "", **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*command(), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, **env},
    )


def spawn(*args: str, **env: str) -> pexpect.spawn:
    full = command()
    return pexpect.spawn(
        full[0],
        [*full[1:], *args],
        env={**os.environ, "TERM": "xterm-256color", **env},
        encoding="utf-8",
        timeout=15,
        dimensions=(30, 100),
    )


@pytest.fixture
def slow_api(make_simulator, monkeypatch):
    """A simulator whose every answer waits 1.5 s, so a spinner has time to show."""
    url = make_simulator(fault="delay=1.5")
    monkeypatch.setenv("KIMREL_BASE_URL", url)
    return url


def test_echo_piped_key_logs_in_without_a_whitespace_warning(simulator):
    result = kimrel(
        "login",
        "--with-token",
        "--insecure-storage",
        stdin="sk-sim-demo\n",
        KIMREL_BASE_URL=simulator,
    )
    assert result.returncode == 0, result.stderr
    assert "logged in as default" in result.stderr
    assert "removed" not in result.stderr and "warning: removed" not in result.stderr


def test_odd_whitespace_around_a_key_is_still_reported(simulator):
    result = kimrel(
        "login",
        "--with-token",
        "--insecure-storage",
        stdin="  sk-sim-demo \n\n",
        KIMREL_BASE_URL=simulator,
    )
    assert result.returncode == 0, result.stderr
    assert "removed spaces or extra line breaks around the key" in result.stderr


def test_a_key_piped_without_with_token_is_read_without_getpass_warnings(simulator):
    result = kimrel("login", "--insecure-storage", stdin="sk-sim-demo\n", KIMREL_BASE_URL=simulator)
    assert result.returncode == 0, result.stderr
    assert "GetPassWarning" not in result.stderr and "Warning:" not in result.stderr
    assert "reading the key from standard input" in result.stderr
    empty = kimrel("login", "--insecure-storage", stdin="", KIMREL_BASE_URL=simulator)
    assert empty.returncode == 1 and "no key on standard input" in empty.stderr
    assert "--with-token" in empty.stderr


def test_no_keyring_is_reported_before_the_key_is_asked_for(simulator):
    child = spawn(
        "login", KIMREL_BASE_URL=simulator, PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring"
    )
    assert child.expect(["Paste your", "no usable OS keyring"]) == 1
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 1


def test_status_and_credits_spin_on_a_terminal_and_stay_quiet_in_pipes(slow_api):
    assert kimrel("login", "--insecure-storage", stdin="sk-sim-demo\n").returncode == 0
    child = spawn("status")
    child.expect("asking the API for balances")
    child.expect("1,000")
    child.expect(pexpect.EOF)
    piped = kimrel("credits")
    assert piped.returncode == 0 and "1,000 credits left" in piped.stdout
    assert piped.stderr == ""
    child = spawn("credits")
    child.expect("asking the API for your balance")
    child.expect("1,000 credits.*left")
    child.expect(pexpect.EOF)


def test_chat_one_shot_spins_until_the_answer_starts():
    child = spawn(
        "chat", "--simulate", "--model", "kimi-k2", "--simulate-fault", "delay=1", "-m", "hi there"
    )
    child.expect("waiting for kimi-k2")
    child.expect("Simulated reply to: hi there")
    child.expect(pexpect.EOF)
    piped = kimrel(
        "chat", "--simulate", "--model", "kimi-k2", "--simulate-fault", "delay=1", "-m", "hi"
    )
    assert piped.stdout.startswith("Simulated reply to: hi") and "waiting" not in piped.stderr
