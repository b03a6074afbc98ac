"""models, credits, config and simulate through the real CLI app against the simulator."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from kimrel_cli.cli.app import app

runner = CliRunner()


@pytest.fixture
def sim_env(simulator, monkeypatch):
    monkeypatch.setenv("KIMREL_BASE_URL", simulator)
    monkeypatch.setenv("KIMREL_API_KEY", "sk-sim-demo")
    return simulator


def test_models_json_merges_the_api_list_with_the_catalogue(sim_env):
    result = runner.invoke(app, ["models", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["id"]: r for r in json.loads(result.stdout)}
    assert (
        rows["kimi-k2.6"]["credits_per_request"] == 3
        and rows["kimi-k2"]["context_window"] == 128_000
    )


def test_credits_json_reports_balance_tier_and_rate_headers(sim_env):
    data = json.loads(runner.invoke(app, ["credits", "--json"]).stdout)
    assert data["credits_remaining"] == 1000 and data["tier"]["per_minute"] == 60
    assert data["rate_limit"]["limit"] == 60


def test_a_refused_key_is_one_clear_line_without_the_key_or_a_traceback(sim_env, monkeypatch):
    monkeypatch.setenv("KIMREL_API_KEY", "sk-distinctive-wrong-key-7788")
    result = runner.invoke(app, ["credits"])
    assert result.exit_code == 1
    assert "error: the API key was refused" in result.stderr and "Traceback" not in result.output
    assert "sk-distinctive-wrong-key-7788" not in result.output + result.stderr


def test_unreachable_base_url_names_the_url(monkeypatch):
    monkeypatch.setenv("KIMREL_BASE_URL", "http://127.0.0.1:9/api")
    monkeypatch.setenv("KIMREL_API_KEY", "sk-x")
    result = runner.invoke(app, ["models"])
    assert (
        result.exit_code == 1 and "cannot reach the API at http://127.0.0.1:9/api" in result.stderr
    )


def test_no_key_at_all_says_how_to_get_one():
    result = runner.invoke(app, ["credits"])
    assert result.exit_code == 1 and "kimrel login" in result.stderr


def test_config_set_get_list_keep_comments(sandbox):
    path = sandbox / "kimrel-config" / "config.toml"
    path.parent.mkdir(parents=True)
    path.write_text("# my settings\ndefault_model = 'kimi-k2'  # fast\n")
    assert runner.invoke(app, ["config", "set", "relay.port", "9999"]).exit_code == 0
    assert runner.invoke(app, ["config", "get", "relay.port"]).stdout == "9999\n"
    assert runner.invoke(app, ["config", "get", "small_model"]).stdout == "kimi-k2\n"
    text = path.read_text()
    assert (
        text.startswith("# my settings\ndefault_model = 'kimi-k2'  # fast\n")
        and "port = 9999" in text
    )
    listing = runner.invoke(app, ["config", "list", "--json"]).stdout
    assert json.loads(listing)["relay.port"] == 9999
    assert runner.invoke(app, ["config", "set", "relay.port", "many"]).exit_code == 1
    assert runner.invoke(app, ["config", "set", "nonsense", "1"]).exit_code == 1
    assert runner.invoke(app, ["config", "path"]).stdout.strip() == str(path)


def test_unparseable_config_is_reported_with_line_and_left_untouched(sandbox):
    path = sandbox / "kimrel-config" / "config.toml"
    path.parent.mkdir(parents=True)
    path.write_text("[relay\nport = 1\n")
    result = runner.invoke(app, ["config", "set", "relay.port", "2"])
    assert result.exit_code == 1 and "line 1" in result.stderr
    assert path.read_text() == "[relay\nport = 1\n"


def test_simulate_rejects_a_bad_keys_file(tmp_path):
    keys = tmp_path / "keys.toml"
    keys.write_text("[keys\n")
    result = runner.invoke(app, ["simulate", "--keys", str(keys), "--port", "0"])
    assert result.exit_code == 1 and "keys.toml line" in result.stderr


def test_simulate_refuses_a_remote_host_without_the_flag():
    result = runner.invoke(app, ["simulate", "--host", "0.0.0.0", "--port", "0"])
    assert result.exit_code == 1 and "--allow-remote" in result.stderr


def test_installed_command_shows_version_and_help_fast():
    out = subprocess.run(
        [sys.executable, "-m", "kimrel_cli", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.startswith("kimrel ")
    help_text = subprocess.run(
        [sys.executable, "-m", "kimrel_cli", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for command in (
        "login",
        "serve",
        "setup",
        "chat",
        "launch",
        "simulate",
        "models",
        "accounts",
        "config",
    ):
        assert command in help_text
