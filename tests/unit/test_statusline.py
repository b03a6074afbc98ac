"""`kimrel statusline`: one line from Claude Code's stdin, the ledger and the relay status file.

The stdin is a real one, captured from Claude Code 2.1.197 in a tmux session against the relay
(tests/fixtures/claude_code_statusline_stdin.json, paths anonymised).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kimrel_cli.catalogue import MODELS, get_model, resolve_alias
from kimrel_cli.cli.app import app
from kimrel_cli.statusline import line as statusline
from kimrel_cli.usage import ledger, ledger_read, lightjson, relay_status

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "claude_code_statusline_stdin.json"
STDIN = FIXTURE.read_bytes()
SESSION = json.loads(STDIN)["session_id"]
MODULE = Path(statusline.__file__).with_name("__main__.py")  # the launcher setup installs


@pytest.fixture
def state(sandbox: Path) -> Path:
    path = sandbox / "kimrel-state"
    path.mkdir(exist_ok=True)
    return path


def fill_ledger(state: Path, charges: dict[str | None, list[int]]) -> None:
    conn = ledger.open_ledger(state / ledger.FILE_NAME)
    now = time.time()
    ledger.insert_rows(
        conn,
        [
            ledger.UsageRow(
                ts=now,
                protocol="anthropic",
                client="claude-code",
                status=200,
                stream=True,
                credits_charged=credits,
                model="kimi-k2.5",
                session_id=session,
            )
            for session, amounts in charges.items()
            for credits in amounts
        ],
    )
    conn.close()


def write_status(state: Path, **fields: object) -> None:
    data: dict[str, object] = {
        "pid": os.getpid(),
        "url": "http://127.0.0.1:8723",
        "running": True,
        "updated_at": time.time(),
        "credits_remaining": 997,
        "routing": {
            "main_model": "kimi-k2.5",
            "small_model": "kimi-k2",
            "aliases": {},
            "limits": {},
            "windows": {m: info.context_window for m, info in MODELS.items()},
        },
    }
    data.update(fields)
    relay_status.write_status(data, state / relay_status.FILE_NAME)


def run(*args: str, stdin: bytes = STDIN, fast: bool = False) -> subprocess.CompletedProcess[bytes]:
    """The status line as Claude Code runs it: a fresh process, stdin in, one line out."""
    argv = (
        [sys.executable, "-S", str(MODULE), *args]
        if fast
        else [sys.executable, "-m", "kimrel_cli.statusline", *args]
    )
    env = {**os.environ, "PYTHONPATH": str(MODULE.parents[2])}  # this checkout's kimrel_cli
    return subprocess.run(argv, input=stdin, capture_output=True, timeout=20, check=False, env=env)


def test_captured_claude_code_stdin_with_ledger_and_a_live_relay(state):
    fill_ledger(state, {SESSION: [2, 2, 3], "another-session": [50], None: [7]})
    write_status(state)
    line = statusline.status_line(STDIN, str(state))
    assert line == "kimi-k2.5 · ctx 23K/256K 9% · 997 credits · session 7 · relay up"


def test_the_fast_installed_form_prints_the_same_line_in_a_fresh_process(state):
    fill_ledger(state, {SESSION: [3]})
    write_status(state)
    os.environ.pop("KIMREL_STATE_DIR")  # as Claude Code runs it: the state dir comes from setup
    done = run("--state-dir", str(state), fast=True)
    assert done.returncode == 0 and done.stderr == b""
    assert (
        done.stdout.decode() == "kimi-k2.5 · ctx 23K/256K 9% · 997 credits · session 3 · relay up\n"
    )


def test_kimrel_statusline_command_does_the_same(state):
    write_status(state, credits_remaining=12)
    result = CliRunner().invoke(app, ["statusline"], input=STDIN.decode())
    assert result.exit_code == 0
    assert result.stdout == "kimi-k2.5 · ctx 23K/256K 9% · 12 credits · session 0 · relay up\n"


@pytest.mark.parametrize(
    "change",
    [
        {"running": False},
        {"updated_at": time.time() - relay_status.FRESH_FOR - 5},
        {"pid": None},
    ],
    ids=["stopped", "stale", "no-pid"],
)
def test_a_stopped_stale_or_pidless_relay_is_down_and_its_balance_marked_old(state, change):
    write_status(state, **change)
    line = statusline.status_line(STDIN, str(state))
    assert line.endswith("~997 credits · session 0 · relay down")


def test_a_relay_whose_process_is_gone_is_down(state):
    child = subprocess.Popen([sys.executable, "-S", "-c", "pass"])
    child.wait()
    write_status(state, pid=child.pid)
    assert statusline.status_line(STDIN, str(state)).endswith("relay down")


def test_no_status_file_and_no_ledger_still_make_one_line(state):
    done = run()
    assert done.returncode == 0 and done.stderr == b""
    assert done.stdout.decode() == "kimi-k2.5 · ctx 23K/256K 9% · session 0 · relay down\n"


def test_a_corrupt_ledger_gives_one_line_and_exit_0_never_a_traceback(state):
    (state / ledger.FILE_NAME).write_bytes(b"this is not a database" * 100)
    write_status(state)
    done = run()
    assert done.returncode == 0 and done.stderr == b""
    assert done.stdout.decode().count("\n") == 1
    assert "session ?" in done.stdout.decode() and "relay up" in done.stdout.decode()


def test_a_corrupt_status_file_is_ignored(state):
    (state / relay_status.FILE_NAME).write_text("{not json")
    done = run()
    assert done.returncode == 0 and done.stdout.decode().endswith("relay down\n")


@pytest.mark.parametrize("stdin", [b"", b"not json", b"[1, 2]", b'{"model": 3, "session_id": 4}'])
def test_odd_stdin_still_gives_one_line(state, stdin):
    done = run(stdin=stdin)
    assert done.returncode == 0 and done.stderr == b""
    assert done.stdout.decode().startswith("kimi-k2.5 · ") and done.stdout.count(b"\n") == 1


def test_an_unreadable_state_dir_gives_the_fallback_or_a_line_never_a_traceback(state, tmp_path):
    missing = tmp_path / "nowhere" / "at-all"
    done = run("--state-dir", str(missing), fast=True)
    assert done.returncode == 0 and done.stderr == b"" and done.stdout.count(b"\n") == 1


def test_a_claude_model_name_shows_the_kimi_model_it_is_routed_to(state):
    write_status(state, routing={"main_model": "kimi-k2.6", "small_model": "kimi-k2"})
    data = json.loads(STDIN)
    data["model"] = {"id": "claude-3-5-haiku-20241022", "display_name": "Haiku"}
    line = statusline.status_line(json.dumps(data).encode(), str(state))
    assert line.startswith("kimi-k2 (as claude-3-5-haiku-20241022) · ctx 23K/128K 18% · ")


def test_an_alias_and_a_context_limit_from_settings_apply(state):
    write_status(
        state,
        routing={
            "main_model": "kimi-k2.5",
            "aliases": {"kimi-k2.5": "kimi-k2.6"},
            "limits": {"kimi-k2.6": {"context_window": 100_000}},
            "windows": {"kimi-k2.6": 100_000, "kimi-k2.5": 256_000},
        },
    )
    line = statusline.status_line(STDIN, str(state))
    assert line.startswith("kimi-k2.6 (as kimi-k2.5) · ctx 23K/100K 23% · ")


def test_without_a_relay_status_the_settings_file_gives_the_aliases(state, sandbox):
    config = sandbox / "kimrel-config"
    config.mkdir()
    (config / "config.toml").write_text('[aliases]\n"kimi-k2.5" = "kimi-k2-thinking"\n')
    line = statusline.status_line(STDIN, str(state))
    if sys.version_info < (3, 11):
        pytest.skip("no tomllib before Python 3.11: defaults only")
    assert line.startswith("kimi-k2-thinking (as kimi-k2.5) · ")


NAMES = ["kimi-k2.5", "kimi-k2", "kimi-k2.6", "kimi-k9", "claude-opus-4-1", "claude-haiku-4-5",
         "gpt-5-mini", "sonnet", "my-alias", "", "llama"]  # fmt: skip


@pytest.mark.parametrize("name", NAMES)
def test_the_fast_routing_path_agrees_with_resolve_alias(name):
    aliases = {"my-alias": "kimi-k2.6", "kimi-k2": "kimi-k2-0905", "sonnet": "kimi-k2-thinking"}
    limits = {"kimi-k2.6": {"context_window": 200_000}}
    routing = {
        "main_model": "kimi-k2.5",
        "small_model": "kimi-k2",
        "aliases": aliases,
        "limits": limits,
        "windows": {
            m: info.context_window for m in MODELS if (info := get_model(m, limits)) is not None
        },
    }
    expected = resolve_alias(
        name or "kimi-k2.5", main_model="kimi-k2.5", small_model="kimi-k2", aliases=aliases
    )
    info = get_model(expected, limits)
    assert statusline.route(name or None, routing) == (
        expected,
        info.context_window if info else None,
    )
    slow = {k: v for k, v in routing.items() if k != "windows"}
    assert statusline.route(name or None, slow) == statusline.route(name or None, routing)


def test_pacing_shows_while_requests_are_held(state):
    now = time.time()
    write_status(state, pacing={"waiting": True, "queued": 2, "resets_at": now + 12.2})
    line = statusline.status_line(STDIN, str(state), now=now)
    assert line.endswith("relay up · waiting for rate limit, 2 queued, resets in 12 s")
    write_status(state, pacing={"waiting": False, "queued": 0})
    assert statusline.status_line(STDIN, str(state)).endswith("relay up")


def test_pacing_words_of_the_pacer_itself_win():
    assert statusline.pacing_text({"text": "paced: 3 held"}, 0.0) == "paced: 3 held"
    assert statusline.pacing_text({"queued": 1, "resets_in": 10}, 105.0, 100.0) == (
        "waiting for rate limit, 1 queued, resets in 5 s"
    )
    assert statusline.pacing_text(["odd"], 0.0) is None


def test_the_light_ledger_reader_agrees_with_the_ledger(state):
    assert (ledger_read.FILE_NAME, ledger_read.SCHEMA_VERSION) == (
        ledger.FILE_NAME,
        ledger.SCHEMA_VERSION,
    )
    path = state / ledger.FILE_NAME
    assert ledger.open_readonly(path) is None and ledger_read.open_readonly(str(path)) is None
    sqlite3.connect(path).close()  # an empty file: schema 0
    assert ledger.open_readonly(path) is None and ledger_read.open_readonly(str(path)) is None
    path.unlink()
    fill_ledger(state, {SESSION: [1, 2], "b": [4], None: [8]})
    full, light = ledger.open_readonly(path), ledger_read.open_readonly(str(path))
    assert full is not None and light is not None
    for session in (SESSION, "b", "nobody"):
        assert ledger_read.session_spent(light, session) == ledger.spent(full, session_id=session)
    full.close()
    light.close()
    newer = sqlite3.connect(path)
    newer.execute(f"PRAGMA user_version = {ledger.SCHEMA_VERSION + 1}")
    newer.close()
    with pytest.raises(ledger.LedgerError):
        ledger.open_readonly(path)
    with pytest.raises(ledger_read.LedgerUnreadable):
        ledger_read.open_readonly(str(path))
    path.write_bytes(b"garbage" * 1000)
    with pytest.raises(ledger.LedgerError):
        ledger.open_readonly(path)
    with pytest.raises(ledger_read.LedgerUnreadable):
        ledger_read.open_readonly(str(path))


def test_the_status_line_imports_no_heavy_module(state):
    """What makes it fast: none of these loads for a refresh with a live relay."""
    fill_ledger(state, {SESSION: [1]})
    write_status(state)
    code = (
        "import sys; from kimrel_cli.statusline import main; main(); "
        "print(sorted(m for m in ('typing', 'pathlib', 'dataclasses', 'threading', 'tomllib', "
        "'json', 're', 'enum', 'datetime', 'sqlite3', 'kimrel_cli.catalogue', "
        "'kimrel_cli.usage.ledger', 'kimrel_cli.paths') if m in sys.modules))"
    )
    env = {**os.environ, "PYTHONPATH": str(MODULE.parents[2])}
    done = subprocess.run(
        [sys.executable, "-S", "-c", code], input=STDIN, capture_output=True, env=env, timeout=20
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().splitlines()[-1] == "[]"


def test_chaining_runs_theirs_with_the_same_stdin_and_appends_ours(state, tmp_path):
    write_status(state)
    seen = tmp_path / "theirs-stdin.json"
    done = run("--chain", f"cat > {seen}; echo 'my line'")
    assert done.returncode == 0 and done.stderr == b""
    assert done.stdout.decode() == (
        "my line │ kimi-k2.5 · ctx 23K/256K 9% · 997 credits · session 0 · relay up\n"
    )
    assert seen.read_bytes() == STDIN


def test_a_chained_command_that_fails_or_hangs_leaves_ours(state):
    for command in ("exit 3", "sleep 5", "/no/such/program"):
        started = time.monotonic()
        proc = statusline._start_chain(command, STDIN)
        assert proc is not None and statusline._finish_chain(proc, timeout=0.5) == ""
        assert time.monotonic() - started < 3


def test_help_prints_usage_and_exits_0():
    done = run("--help")
    assert done.returncode == 0 and done.stdout.startswith(b"usage: kimrel-statusline")


def _cap(name, kind, subject, cap, left):
    return {"name": name, "kind": kind, "subject": subject, "cap": cap, "left": left}


def test_the_tightest_applicable_budget_comes_from_the_relays_snapshot(state):
    """`ctx.budgets.snapshot()` as the budget guard writes it: every cap and subject it saw."""
    caps = [
        _cap("monthly", "monthly", "account work", 3000, 2000),
        _cap("session", "session", "session someone-else", 50, 1),
        _cap("daily", "daily", "account work", 200, 120),
        _cap("session", "session", f"session {SESSION}", 100, 130 - 30),
        _cap("project other", "project", "project other", 10, 0),
    ]
    write_status(state, budgets={"caps": caps, "overshoot": 0, "file_error": None})
    assert statusline.status_line(STDIN, str(state)) == (
        "kimi-k2.5 · ctx 23K/256K 9% · 997 credits · session 0 · session budget 100/100 left"
        " · relay up"
    )
    caps.append(_cap("project project", "project", "project project", 500, 20))
    write_status(state, budgets={"caps": caps})
    assert "· project project budget 20/500 left ·" in statusline.status_line(STDIN, str(state))


def test_with_the_relay_down_the_budget_comes_from_usage_budgets_left_for(state, monkeypatch):
    """The contract with usage/budgets.py: `left_for(Scope(account=, session_id=, project=),
    now) -> (cap name, credits left, limit) | None`. A stand-in module shows the seam."""
    import types
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class Scope:
        account: str | None = None
        session_id: str | None = None
        project: str | None = None

    asked = []

    def left_for(scope, now=None):
        asked.append(scope)
        return ("daily", 7, 200)

    module = types.ModuleType("kimrel_cli.usage.budgets")
    module.Scope = Scope  # type: ignore[attr-defined]
    module.left_for = left_for  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "kimrel_cli.usage.budgets", module)
    import kimrel_cli.usage

    # `from kimrel_cli.usage import budgets` finds the package attribute first when the real
    # module was imported earlier in this process (by the relay's budget guard)
    monkeypatch.setattr(kimrel_cli.usage, "budgets", module, raising=False)
    write_status(state, running=False, account="work")
    line = statusline.status_line(STDIN, str(state))
    assert line.endswith("· daily budget 7/200 left · relay down")
    assert asked == [Scope(account="work", session_id=SESSION, project="project")]
    module.left_for = lambda *a, **k: 1 / 0  # type: ignore[attr-defined]
    assert "budget" not in statusline.status_line(STDIN, str(state)), "a failing helper is left out"


JSON_CASES = [
    b'{"a": [1, -2.5e3, null, true, false, "x\\u00e9\\n"], "b": {}}',
    b"  \n[]\t ",
    b'"just a string"',
    b"\xef\xbb\xbf{}",
    b"NaN",
    b'{"big": 123456789012345678901234567890}',
    '{"caf\u00e9": 1}'.encode(),
]
BAD_JSON = [b"", b"   ", b"{", b'{"a": 1} x', b"[1,]", b"{'a': 1}", b'"\x01"', b"\xff"]


@pytest.mark.parametrize("data", JSON_CASES)
def test_light_json_parses_as_json_does(data):
    expected = json.loads(data)
    got = lightjson.loads(data)
    assert repr(got) == repr(expected)


@pytest.mark.parametrize("data", BAD_JSON)
def test_light_json_refuses_what_json_refuses(data):
    with pytest.raises(ValueError):
        json.loads(data)
    with pytest.raises(ValueError):
        lightjson.loads(data)
