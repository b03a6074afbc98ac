"""`kimrel serve`, `serve token`, `serve status`, `serve stop`, `serve --background`."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time

from typer.testing import CliRunner

from kimrel_cli.cli.app import app
from kimrel_cli.relay.state import read_state, state_file, token_file
from tests.support import loopback

runner = CliRunner()


def kimrel(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kimrel_cli", *args],
        capture_output=True,
        text=True,
        timeout=30,
        env=dict(os.environ),
    )


def test_serve_refuses_a_non_loopback_host_without_allow_remote():
    result = runner.invoke(app, ["serve", "--host", "0.0.0.0", "--port", "0", "--simulate"])
    assert result.exit_code == 1
    assert "refusing to listen on 0.0.0.0" in result.output
    assert "--allow-remote" in result.output
    assert "Traceback" not in result.output


def test_serve_refuses_no_auth_with_allow_remote():
    result = runner.invoke(
        app, ["serve", "--host", "0.0.0.0", "--allow-remote", "--no-auth", "--simulate"]
    )
    assert result.exit_code == 1
    assert "--allow-remote and --no-auth cannot be combined" in result.output


def test_serve_token_prints_the_same_private_token_every_time():
    first = runner.invoke(app, ["serve", "token"])
    second = runner.invoke(app, ["serve", "token"])
    assert first.exit_code == 0
    assert first.output == second.output
    assert first.output.startswith("kr-local-")
    assert stat.S_IMODE(token_file().stat().st_mode) == 0o600


def test_serve_status_and_stop_speak_on_stdout():
    status = runner.invoke(app, ["serve", "status"])
    assert status.exit_code == 1 and "no relay is running" in status.stdout
    stop = runner.invoke(app, ["serve", "stop"])
    assert stop.exit_code == 0 and "no relay is running" in stop.stdout


def test_serve_status_without_a_relay_exits_1():
    result = runner.invoke(app, ["serve", "status", "--json"])
    assert result.exit_code == 1
    assert json.loads(result.output)["running"] is False


def test_serve_stop_without_a_relay_says_so():
    result = runner.invoke(app, ["serve", "stop"])
    assert result.exit_code == 0
    assert "no relay is running" in result.output


def test_background_relay_starts_answers_and_stops():
    started = kimrel("serve", "--simulate", "--port", "0", "--background", "--quiet")
    try:
        assert started.returncode == 0, started.stderr
        url = started.stdout.strip()
        assert url.startswith("http://127.0.0.1:")
        state = read_state()
        assert state is not None and state.url == url and state.simulate
        health = loopback.get(url + "/health").json()
        assert health["simulate"] is True
        status = kimrel("serve", "status", "--json")
        assert status.returncode == 0
        assert json.loads(status.stdout)["answering"] is True
        token = kimrel("serve", "token").stdout.strip()
        answer = loopback.post(
            url + "/v1/chat/completions",
            headers={"Authorization": f"Bearer {token}"},
            json={"model": "kimi-k2", "messages": [{"role": "user", "content": "hi"}]},
            timeout=10,
        )
        assert answer.status_code == 200
        assert answer.json()["choices"][0]["message"]["content"] == "Simulated reply to: hi"
        again = kimrel("serve", "--simulate", "--port", "0", "--background")
        assert again.returncode == 1
        assert "already running" in again.stderr
    finally:
        stopped = kimrel("serve", "stop")
    assert stopped.returncode == 0
    assert "stopped the relay" in stopped.stdout, "human output of serve stop is on stdout"
    assert not state_file().exists()


def _spawn_serve(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "kimrel_cli", "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )


def test_foreground_log_json_reports_start_and_requests_then_clears_state_on_sigterm():
    proc = _spawn_serve("--simulate", "--port", "0", "--log-json", "--no-auth")
    try:
        assert proc.stdout is not None
        started = json.loads(proc.stdout.readline())
        assert started["event"] == "started"
        assert started["simulate"] is True
        url = started["url"]
        assert started["openai_url"] == url + "/v1"
        assert read_state() is not None
        answer = loopback.post(
            url + "/v1/messages",
            json={
                "model": "kimi-k2",
                "max_tokens": 20,
                "messages": [{"role": "user", "content": "hi"}],
            },
            timeout=10,
        )
        assert answer.status_code == 200
        line = json.loads(proc.stdout.readline())
        assert line["event"] == "request"
        assert line["route"] == "/v1/messages"
        assert line["status"] == 200
        assert line["model"] == "kimi-k2"
        assert isinstance(line["credits_left"], int)
    finally:
        proc.terminate()
        proc.wait(10)
    with proc.stdout, proc.stderr:
        errors = proc.stderr.read()
    assert proc.returncode == 0
    assert not state_file().exists()
    assert "sk-sim-demo" not in errors


def test_foreground_header_prints_urls_and_snippets_with_a_token_placeholder_off_a_terminal():
    import select

    proc = _spawn_serve("--simulate", "--port", "0", "--token", "kr-local-shown")
    text = ""
    try:
        deadline = time.monotonic() + 15
        # wait for the banner itself (the state file is written just before it is printed)
        fd = proc.stderr.fileno()
        while "openai.OpenAI(" not in text and time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.1)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                text += chunk.decode("utf-8", "replace")
        url = read_state().url
    finally:
        proc.terminate()
        proc.wait(10)
    with proc.stdout, proc.stderr:
        text += proc.stderr.read()
    assert f"Anthropic base URL: {url}" in text
    assert f"OpenAI base URL:    {url}/v1" in text
    # stderr is a pipe here (a log, a supervisor): the token itself is never written there
    assert "ANTHROPIC_AUTH_TOKEN=$(kimrel serve token)" in text
    assert "kr-local-shown" not in text
    assert "simulator" in text
    assert "balance   1,000 credits" in text
