"""Secrets echoed from upstream: a real relay in front of the simulator never passes a key on."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from kimrel_cli.apikey import redact

KEY = "kimkey-0123456789abcdef"  # not sk-shaped: redacted because it is the key in use


SERVE = (sys.executable, "-m", "kimrel_cli", "serve")


def _serve(upstream: str, key: str) -> subprocess.Popen[str]:
    env = {**os.environ, "KIMREL_API_KEY": key}
    return subprocess.Popen(
        [*SERVE, "--upstream", upstream, "--log-json", "--no-auth", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _everything_written(proc: subprocess.Popen[str], sandbox: Path) -> str:
    proc.terminate()
    stdout, stderr = proc.communicate(timeout=15)
    files = "".join(
        p.read_text(errors="replace") for p in sandbox.rglob("*") if p.is_file() and "log" in p.name
    )
    return stdout + stderr + files


def test_redact_masks_the_key_sk_shapes_and_url_credentials():
    text = f"bad key {KEY}; also sk-abcDEF123_x and http://user:pa55@host:1/api"
    out = redact(text, KEY)
    assert KEY not in out and "sk-abcDEF123_x" not in out and "pa55" not in out
    assert "http://[redacted]@host:1/api" in out


def test_an_upstream_error_echoing_the_key_reaches_neither_client_nor_log(sandbox, make_simulator):
    for key in (KEY, "sk-live-abcdef0123456789"):
        upstream = make_simulator(keys={key: 1000})
        proc = _serve(upstream, key)
        try:
            assert proc.stdout is not None
            url = json.loads(proc.stdout.readline())["url"]
            answers = []
            for path, body in (
                ("/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}]}),
                (
                    "/v1/messages",
                    {"max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]},
                ),
                ("/v1/responses", {"input": "hi"}),
            ):
                answer = httpx.post(
                    url + path,
                    json={"model": "kimi-k2.5", **body},
                    headers={"x-kimrel-fault": "status=400,echo_key=1"},
                    timeout=20,
                )
                assert answer.status_code == 400, answer.text
                answers.append(answer.text)
        finally:
            written = _everything_written(proc, sandbox)
        assert all("injected fault" in a and "[redacted]" in a for a in answers), answers
        assert key not in "".join(answers)
        assert "injected fault" in written and key not in written


def test_credentials_in_upstream_never_show_in_502_messages(sandbox):
    # bound but never listening: connections are refused, and no other test's server can take
    # the port meanwhile (a closed port was once reused by a parallel test's simulator: 401)
    unreachable = socket.socket()
    unreachable.bind(("127.0.0.1", 0))
    port = unreachable.getsockname()[1]
    proc = _serve(f"http://alice:s3cretpass@127.0.0.1:{port}/api", KEY)
    try:
        assert proc.stdout is not None
        url = json.loads(proc.stdout.readline())["url"]
        answer = httpx.post(
            url + "/v1/chat/completions",
            json={"model": "kimi-k2.5", "messages": [{"role": "user", "content": "hi"}]},
            timeout=30,
        )
    finally:
        written = _everything_written(proc, sandbox)
        unreachable.close()
    assert answer.status_code == 502, answer.text
    assert "cannot reach" in answer.text and "s3cretpass" not in answer.text
    assert "s3cretpass" not in written
