"""`kimrel simulate`: the banner, serving in the foreground, and refusing bad input."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest
from typer.testing import CliRunner

from kimrel_cli.cli.app import app
from kimrel_cli.cli.simulate import read_keys
from kimrel_cli.errors import ConfigError
from tests.support import loopback

runner = CliRunner()


def start(*args: str) -> tuple[subprocess.Popen[str], str, list[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "kimrel_cli", "simulate", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    lines: list[str] = []
    deadline = time.monotonic() + 15
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "Anthropic SDK" in line:
            break
    match = re.search(r"export KIMREL_BASE_URL=(\S+)", "".join(lines))
    assert match, "".join(lines)
    return proc, match.group(1), lines


def stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
    finally:
        proc.stdout.close()


def test_simulate_prints_its_url_keys_and_serves(tmp_path):
    keys = tmp_path / "keys.toml"
    keys.write_text('# mine\n[keys]\n"sk-test-1" = 500\n"sk-test-2" = 0\n')
    proc, base, lines = start("--keys", str(keys))
    try:
        text = "".join(lines)
        assert "sk-test-1: 500 credits" in text and "sk-test-2: 0 credits" in text
        assert f"export KIMREL_BASE_URL={base} KIMREL_API_KEY=sk-test-1" in text
        assert base.startswith("http://127.0.0.1:") and base.endswith("/api")
        r = loopback.get(base + "/user/credits", headers={"X-API-Key": "sk-test-1"})
        assert r.json()["credits_remaining"] == 500
    finally:
        stop(proc)


def test_simulate_defaults_to_the_demo_keys_and_applies_a_fault():
    proc, base, lines = start("--fault", "status=503,times=1")
    try:
        assert "sk-sim-demo: 1,000 credits" in "".join(lines)
        headers = {"Authorization": "Bearer sk-sim-demo"}
        assert loopback.get(base + "/v1/models", headers=headers).status_code == 503
        assert loopback.get(base + "/v1/models", headers=headers).status_code == 200
    finally:
        stop(proc)


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[keys\n", "line 1"),
        ("[other]\nx = 1\n", "needs a non-empty [keys] table"),
        ('[keys]\n"sk-a" = "lots"\n', "'sk-a' must be a whole number"),
        ('[keys]\n"sk-a" = -5\n', "'sk-a' must be a whole number"),
    ],
)
def test_a_bad_keys_file_is_a_config_error_naming_the_problem(tmp_path, text, named):
    path = tmp_path / "keys.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=re.escape(named)):
        read_keys(path)
    result = runner.invoke(app, ["simulate", "--keys", str(path), "--port", "0"])
    assert result.exit_code == 1 and "Traceback" not in result.output


def test_a_bad_fault_spec_or_remote_host_is_refused_before_serving():
    result = runner.invoke(app, ["simulate", "--fault", "boom=1", "--port", "0"])
    assert result.exit_code == 1 and "unknown key 'boom'" in result.stderr
    result = runner.invoke(app, ["simulate", "--host", "0.0.0.0", "--port", "0"])
    assert result.exit_code == 1 and "--allow-remote" in result.stderr
