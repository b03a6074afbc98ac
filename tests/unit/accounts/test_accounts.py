"""Accounts: login against the simulator, several accounts, storage, resolution, no secrets shown."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import keyring
import pytest
from keyring.backends import fail
from typer.testing import CliRunner

from kimrel_cli.accounts.registry import resolve_key
from kimrel_cli.cli.app import app

runner = CliRunner()
SECRET = "sk-sim-distinctive-4242"


@pytest.fixture
def sim(make_simulator, monkeypatch):
    url = make_simulator(keys={"sk-sim-demo": 1000, "sk-sim-empty": 0, SECRET: 500})
    monkeypatch.setenv("KIMREL_BASE_URL", url)
    return url


def login(name, key, *extra):
    return runner.invoke(app, ["login", "--account", name, "--with-token", *extra], input=key)


def test_good_key_is_checked_stored_in_the_keyring_and_becomes_default(sim, memory_keyring):
    result = login("work", "sk-sim-demo\n")
    assert result.exit_code == 0, result.output
    assert "1,000 credits" in result.stderr and "60/min, 2,000/hour" in result.stderr
    assert memory_keyring.store[("kimrel", "work")] == "sk-sim-demo"
    assert "removed" not in result.stderr  # echo's newline is expected, not worth a warning
    resolved = resolve_key()
    assert resolved.account == "work" and resolved.source == "keyring"


def test_bad_key_is_refused_and_nothing_saved(sim, memory_keyring, sandbox):
    result = login("work", "sk-wrong")
    assert result.exit_code == 1 and "refused" in result.stderr
    assert memory_keyring.store == {}
    assert not (sandbox / "kimrel-config" / "config.toml").exists()


def test_out_of_credit_key_is_saved_with_a_warning(sim, memory_keyring):
    result = login("trial", "sk-sim-empty")
    assert result.exit_code == 0 and "no credits left" in result.stderr


@pytest.mark.parametrize("raw", ["", "   \n", "sk-a b"], ids=["empty", "blank", "inner-space"])
def test_empty_or_broken_keys_are_refused(sim, memory_keyring, raw):
    assert login("x", raw).exit_code == 1
    assert memory_keyring.store == {}


def test_several_accounts_use_rename_logout(sim, memory_keyring):
    login("work", "sk-sim-demo")
    login("home", SECRET)
    listing = json.loads(runner.invoke(app, ["accounts", "list", "--json"]).stdout)
    assert [(a["name"], a["default"]) for a in listing] == [("work", True), ("home", False)]
    assert runner.invoke(app, ["accounts", "use", "home"]).exit_code == 0
    assert resolve_key().key.reveal() == SECRET
    assert runner.invoke(app, ["accounts", "rename", "home", "personal"]).exit_code == 0
    assert (
        memory_keyring.store.get(("kimrel", "personal")) == SECRET
        and ("kimrel", "home") not in memory_keyring.store
    )
    assert resolve_key().account == "personal"
    unknown = runner.invoke(app, ["accounts", "use", "persnal"])
    assert unknown.exit_code == 1 and "Did you mean 'personal'" in unknown.stderr
    assert runner.invoke(app, ["logout", "--account", "personal"]).exit_code == 0
    assert resolve_key().account == "work"
    assert runner.invoke(app, ["logout", "--all"]).exit_code == 0
    assert memory_keyring.store == {}


def test_env_key_wins_over_the_default_and_account_wins_over_env(sim, monkeypatch):
    login("work", "sk-sim-demo")
    monkeypatch.setenv("KIMREL_API_KEY", SECRET)
    assert resolve_key().source == "env"
    assert resolve_key("work").key.reveal() == "sk-sim-demo"


def test_key_print_prints_exactly_the_key(sim):
    login("work", SECRET)
    result = runner.invoke(app, ["key", "print"])
    assert result.exit_code == 0 and result.stdout == SECRET + "\n"
    missing = runner.invoke(app, ["key", "print", "--account", "nope"])
    assert missing.exit_code == 1 and missing.stdout == ""


def test_no_keyring_is_said_plainly_and_insecure_storage_is_opt_in(sim, sandbox):
    keyring.set_keyring(fail.Keyring())
    result = login("ci", "sk-sim-demo")
    assert (
        result.exit_code == 1
        and "--insecure-storage" in result.stderr
        and "KIMREL_API_KEY" in result.stderr
    )
    assert not (sandbox / "kimrel-state" / "keys").exists()
    result = login("ci", "sk-sim-demo", "--insecure-storage")
    assert result.exit_code == 0
    path = sandbox / "kimrel-state" / "keys" / "ci.key"
    assert (
        stat.S_IMODE(path.stat().st_mode) == 0o600
        and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    )
    assert resolve_key().key.reveal() == "sk-sim-demo"
    status = runner.invoke(app, ["status"])
    assert "file" in status.stdout and "warning" in status.stdout


def test_status_json_shows_balances_and_masked_keys(sim):
    login("work", SECRET)
    data = json.loads(runner.invoke(app, ["status", "--json"]).stdout)
    row = data["accounts"][0]
    assert row["credits"] == 500 and row["key"] == "…4242" and row["default"] is True
    assert data["relay"] is None
    offline = json.loads(runner.invoke(app, ["status", "--json", "--offline"]).stdout)
    assert "credits" not in offline["accounts"][0]


def test_the_key_never_appears_in_output_or_files(sim, sandbox):
    outputs = []
    for args, stdin in (
        (["login", "--account", "a", "--with-token"], SECRET),
        (["status"], None),
        (["status", "--json"], None),
        (["accounts", "list"], None),
        (["credits"], None),
        (["logout", "--all"], None),
    ):
        result = runner.invoke(app, args, input=stdin)
        outputs.append(result.stdout + result.stderr)
    assert not [o for o in outputs if SECRET in o]
    for root, _, files in os.walk(sandbox):
        for name in files:
            data = Path(root, name).read_bytes()
            assert SECRET.encode() not in data, os.path.join(root, name)


def test_installed_kimrel_key_print_in_a_subprocess(sim, sandbox):
    env = {**os.environ, "KIMREL_API_KEY": SECRET}
    out = subprocess.run(
        [sys.executable, "-m", "kimrel_cli", "key", "print"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert out.returncode == 0 and out.stdout == SECRET + "\n" and out.stderr == ""
