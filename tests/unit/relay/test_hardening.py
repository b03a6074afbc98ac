"""Issue 14's security points, against a real relay on 127.0.0.1:0 (and the simulator)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from kimrel_cli import paths
from kimrel_cli.cli.app import app
from kimrel_cli.files import atomic_write_text
from kimrel_cli.relay.context import RelayConfig
from kimrel_cli.relay.run import RunningRelay, bind_notice, start_relay_in_thread
from kimrel_cli.relay.state import read_state, token_file
from tests.support import loopback

runner = CliRunner()
CHAT = {"model": "kimi-k2", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}


@pytest.fixture
def open_relay(simulator: str) -> Iterator[RunningRelay]:
    """A relay with no token (`--no-auth`), relaying to the simulator."""
    relay = start_relay_in_thread(
        RelayConfig(api_key="sk-sim-demo", base_url=simulator, token=None)
    )
    yield relay
    relay.stop()


def post(url: str, path: str, **kwargs: Any) -> httpx.Response:
    with httpx.Client(trust_env=False, timeout=10) as client:
        return client.post(url + path, **kwargs)


def test_allow_remote_with_no_auth_is_refused_on_the_default_loopback_host():
    result = runner.invoke(app, ["serve", "--allow-remote", "--no-auth", "--port", "0"])
    assert result.exit_code == 1
    assert "--allow-remote and --no-auth cannot be combined" in result.output
    assert "Traceback" not in result.output


def test_no_auth_refuses_a_cross_site_text_plain_post(open_relay: RunningRelay):
    answer = post(
        open_relay.url,
        "/v1/chat/completions",
        content=json.dumps(CHAT),
        headers={"content-type": "text/plain", "origin": "https://evil.example"},
    )
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "forbidden_origin"


def test_no_auth_refuses_text_plain_without_origin_in_the_route_shape(open_relay: RunningRelay):
    answer = post(
        open_relay.url,
        "/v1/messages",
        content=json.dumps(CHAT),
        headers={"content-type": "text/plain"},
    )
    assert answer.status_code == 415
    assert answer.json()["type"] == "error"  # Anthropic's shape on /v1/messages


def test_no_auth_refuses_a_foreign_origin_even_with_json(open_relay: RunningRelay):
    answer = post(
        open_relay.url, "/v1/responses", json=CHAT, headers={"origin": "http://localhost:9999"}
    )
    assert answer.status_code == 403
    assert "error" in answer.json()


def test_no_auth_still_serves_json_from_tools(open_relay: RunningRelay):
    answer = post(open_relay.url, "/v1/chat/completions", json=CHAT)
    assert answer.status_code == 200, answer.text
    assert answer.json()["choices"][0]["message"]["content"]


def test_a_wildcard_bind_is_announced_with_its_real_address_and_a_warning():
    url, notice = bind_notice("0.0.0.0", 8861)
    assert url == "http://127.0.0.1:8861"  # what local clients use
    assert notice is not None and "http://0.0.0.0:8861" in notice
    assert "every network interface" in notice
    url, notice = bind_notice("::", 8861)
    assert notice is not None and "http://[::]:8861" in notice


def test_a_lan_bind_is_announced_with_its_address():
    url, notice = bind_notice("192.168.1.20", 8861)
    assert url == "http://192.168.1.20:8861"
    assert notice is not None and "192.168.1.20" in notice


def test_a_loopback_bind_needs_no_warning():
    assert bind_notice("127.0.0.1", 8861) == ("http://127.0.0.1:8861", None)


def kimrel(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kimrel_cli", *args],
        capture_output=True,
        text=True,
        timeout=30,
        env=dict(os.environ),
    )


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_background_token_stays_out_of_ps_and_the_log_and_files_are_private():
    secret = "kr-local-argv-secret-7d1c"
    started = kimrel("serve", "--simulate", "--port", "0", "--background", "--token", secret)
    try:
        assert started.returncode == 0, started.stderr
        state = read_state()
        assert state is not None
        cmdline = Path(f"/proc/{state.pid}/cmdline").read_bytes()
        assert secret.encode() not in cmdline  # `ps` shows argv to every user
        answer = loopback.post(
            state.url + "/v1/chat/completions",
            headers={"Authorization": f"Bearer {secret}"},
            json=CHAT,
            timeout=10,
        )
        assert answer.status_code == 200
        assert kimrel("serve", "token").stdout.strip() == secret
    finally:
        assert kimrel("serve", "stop").returncode == 0
    log = paths.state_dir() / "relay.log"
    text = log.read_text()
    assert "kimrel relay" in text  # the banner is there...
    assert secret not in text  # ...but not the token
    assert mode(log) == 0o600
    assert mode(paths.state_dir()) == 0o700


def test_the_stored_token_is_not_written_to_the_background_log():
    started = kimrel("serve", "--simulate", "--port", "0", "--background")
    try:
        assert started.returncode == 0, started.stderr
    finally:
        kimrel("serve", "stop")
    token = token_file().read_text().strip()
    assert token not in (paths.state_dir() / "relay.log").read_text()


def test_dirs_made_by_a_file_write_are_private(tmp_path: Path):
    previous = os.umask(0o022)
    target = tmp_path / "fresh" / "deeper" / "relay-token"
    try:
        atomic_write_text(target, "x\n")
    finally:
        os.umask(previous)
    assert mode(target) == 0o600
    assert mode(tmp_path / "fresh") == 0o700
    assert mode(tmp_path / "fresh" / "deeper") == 0o700


def test_ensure_dir_narrows_an_open_state_dir(tmp_path: Path):
    loose = tmp_path / "state"
    loose.mkdir(mode=0o755)
    os.chmod(loose, 0o755)
    paths.ensure_dir(loose)
    assert mode(loose) == 0o700


def test_token_rotate_switches_a_running_relay_to_the_new_token():
    started = kimrel("serve", "--simulate", "--port", "0", "--background")
    try:
        assert started.returncode == 0, started.stderr
        url = started.stdout.strip()
        old = kimrel("serve", "token").stdout.strip()
        auth = lambda token: {"Authorization": f"Bearer {token}"}  # noqa: E731
        assert (
            loopback.post(
                url + "/v1/chat/completions", headers=auth(old), json=CHAT, timeout=10
            ).status_code
            == 200
        )
        rotated = kimrel("serve", "token", "--rotate")
        assert rotated.returncode == 0, rotated.stderr
        new = rotated.stdout.strip()
        assert new.startswith("kr-local-") and new != old
        assert "now accepts only the new token" in rotated.stderr
        assert token_file().read_text().strip() == new
        assert mode(token_file()) == 0o600
        assert kimrel("serve", "token").stdout.strip() == new
        refused = loopback.post(
            url + "/v1/chat/completions", headers=auth(old), json=CHAT, timeout=10
        )
        assert refused.status_code == 401
        assert (
            loopback.post(
                url + "/v1/chat/completions", headers=auth(new), json=CHAT, timeout=10
            ).status_code
            == 200
        )
    finally:
        assert kimrel("serve", "stop").returncode == 0
    assert new not in (paths.state_dir() / "relay.log").read_text()


def test_token_rotate_without_a_relay_stores_a_new_token():
    old = kimrel("serve", "token").stdout.strip()
    rotated = kimrel("serve", "token", "--rotate")
    assert rotated.returncode == 0
    assert rotated.stdout.strip() != old
    assert "no relay is running" in rotated.stderr


def test_a_foreground_relay_stops_when_its_terminal_hangs_up():
    """SIGHUP (the terminal closed) stops the relay cleanly; it used to re-read its token and
    run on with nobody to stop it. The token is re-read on SIGUSR1 (test above)."""
    import signal
    import time

    proc = subprocess.Popen(
        [sys.executable, "-m", "kimrel_cli", "serve", "--simulate", "--port", "0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while (state := read_state()) is None or not _answers(state.url + "/health"):
            assert proc.poll() is None and time.monotonic() < deadline, "the relay did not start"
            time.sleep(0.05)
        proc.send_signal(signal.SIGHUP)
        assert proc.wait(timeout=10) == 0
        assert read_state() is None  # relay.json cleared: a clean stop, not a kill
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _answers(url: str) -> bool:
    try:
        return loopback.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
