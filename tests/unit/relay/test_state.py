"""relay.json helpers: a zombie is not a running relay; stop returns once the relay stopped serving."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from kimrel_cli.relay import state as relay_state

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")


def test_an_exited_unreaped_process_is_not_alive():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 10
    while Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    try:
        assert not relay_state.pid_alive(child.pid), "a zombie made serve stop wait for init"
    finally:
        child.wait()


def test_stop_returns_once_the_relay_cleared_its_state_even_if_the_process_lingers():
    """A stand-in relay that clears relay.json on SIGTERM, then takes 3 s more to exit."""
    code = (
        "import signal, time, sys\n"
        "from kimrel_cli.relay import state\n"
        "def stop(*_):\n"
        "    state.clear_state()\n"
        "    time.sleep(3)\n"
        "    sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, stop)\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        relay_state.write_state(
            relay_state.RelayState(
                pid=child.pid,
                host="127.0.0.1",
                port=9,
                url="http://127.0.0.1:9",
                upstream="sim",
                simulate=True,
                account=None,
                started_at=time.time(),
            )
        )
        started = time.monotonic()
        stopped = relay_state.stop_running()
        assert stopped is not None and stopped.pid == child.pid
        assert time.monotonic() - started < 2.5
        assert relay_state.read_state() is None
    finally:
        child.kill()
        child.wait()
        child.stdout.close()


def test_health_ok_without_httpx(simulator):
    from kimrel_cli.relay.context import RelayConfig
    from kimrel_cli.relay.run import start_relay_in_thread

    relay = start_relay_in_thread(RelayConfig(api_key="sk-sim-demo", base_url=simulator))
    try:
        assert relay_state.health_ok(relay.url) is True
    finally:
        relay.stop()
    assert relay_state.health_ok("http://127.0.0.1:9") is False
