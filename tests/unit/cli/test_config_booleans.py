"""Boolean settings (`usage.ledger`): set with true/false/on/off, shown and read as TOML booleans."""

from __future__ import annotations

from typer.testing import CliRunner

from kimrel_cli import config
from kimrel_cli.cli.app import app

runner = CliRunner()


def test_usage_ledger_is_on_by_default_and_turns_off_as_a_toml_boolean():
    assert config.load_settings().usage_ledger is True
    assert runner.invoke(app, ["config", "get", "usage.ledger"]).stdout == "true\n"
    assert runner.invoke(app, ["config", "set", "usage.ledger", "off"]).exit_code == 0
    assert "ledger = false" in config.paths.config_file().read_text()
    assert config.load_settings().usage_ledger is False
    assert runner.invoke(app, ["config", "get", "usage.ledger"]).stdout == "false\n"


def test_a_boolean_setting_refuses_other_words_and_other_types(tmp_path):
    refused = runner.invoke(app, ["config", "set", "usage.ledger", "maybe"])
    assert refused.exit_code == 1 and "true or false" in refused.stderr
    path = tmp_path / "config.toml"
    path.write_text("[usage]\nledger = 1\n")
    settings = config.load_settings(path)
    (problem,) = settings.problems
    assert "usage.ledger = 1 is not valid: expected true or false" in problem.message
