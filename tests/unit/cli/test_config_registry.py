"""The settings registry: `kimrel config`, load-time validation and the generated reference.

The user-facing cases run through the installed console script; the rest through CliRunner.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import tomlkit
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from kimrel_cli import config
from kimrel_cli.cli.app import app
from kimrel_cli.errors import ConfigError
from tests.support.console import run_kimrel as kimrel

runner = CliRunner()
REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def config_file(sandbox) -> Path:
    path = sandbox / "kimrel-config" / "config.toml"
    path.parent.mkdir(parents=True)
    return path


def test_the_reference_doc_is_generated_from_the_registry():
    doc = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert doc == config.render_markdown(), (
        "docs/configuration.md drifted from kimrel_cli/config.py: "
        "run `python scripts/gen_config_docs.py`"
    )
    for setting in config.REGISTRY:
        assert f"`{setting.key}`" in doc


def test_registry_and_typed_view_name_the_same_settings():
    attrs = {f.name for f in dataclasses.fields(config.Settings)} - {"problems"}
    assert attrs == {s.attr for s in config.REGISTRY}
    assert config.SETTINGS_BY_KEY["relay.messages_upstream"].choices == ("chat", "messages")


def test_a_bad_value_names_file_key_line_and_expectation_and_other_commands_still_work(
    config_file,
):
    config_file.write_text('# mine\ndefault_model = "kimi-k2"\n\n[relay]\nport = "abc"\n')
    needs_it = kimrel("config", "get", "relay.port")
    assert needs_it.returncode == 1
    assert f"{config_file} line 5: relay.port" in needs_it.stderr
    assert '"abc"' in needs_it.stderr and "expected a whole number" in needs_it.stderr
    assert "internal error" not in needs_it.stderr

    assert kimrel("models", "--help").returncode == 0
    listing = kimrel("config", "list")
    assert listing.returncode == 0, listing.stderr
    assert "warning:" in listing.stderr and "line 5: relay.port" in listing.stderr
    assert "default_model = 'kimi-k2'" in listing.stdout
    assert "relay.port = 'abc' (invalid" in listing.stdout
    assert config_file.read_text().endswith('port = "abc"\n')  # never rewritten behind the user


def test_serve_refuses_a_bad_relay_port(config_file):
    config_file.write_text('[relay]\nport = "abc"\n')
    result = runner.invoke(app, ["serve", "--simulate"])
    assert result.exit_code == 1 and "relay.port" in result.stderr and "line 2" in result.stderr
    assert runner.invoke(app, ["config", "get", "relay.host"]).stdout == "127.0.0.1\n"


def test_unknown_key_is_an_error_with_did_you_mean():
    result = kimrel("config", "get", "relay.prot")
    assert result.returncode == 1 and result.stdout == ""
    assert "unknown setting 'relay.prot'" in result.stderr
    assert "Did you mean relay.port?" in result.stderr


def test_default_model_is_checked_against_the_catalogue(config_file):
    result = kimrel("config", "set", "default_model", "kimi-k3")
    assert result.returncode == 1 and "did you mean kimi-k2?" in result.stderr
    assert not config_file.exists()
    assert runner.invoke(app, ["config", "set", "default_model", "kimi-k2.6"]).exit_code == 0
    assert config.load_settings().default_model == "kimi-k2.6"


def test_dotted_model_ids_and_alias_names_are_one_key(config_file):
    config_file.write_text("# keep me\n")
    assert kimrel("config", "set", "aliases.gpt-4.1", "kimi-k2").returncode == 0
    key = "limits.kimi-k2.6.max_output_tokens"
    assert runner.invoke(app, ["config", "set", key, "16384"]).exit_code == 0
    text = config_file.read_text()
    assert text.startswith("# keep me\n")
    assert '"gpt-4.1" = "kimi-k2"' in text and "[aliases.gpt-4]" not in text
    assert '[limits."kimi-k2.6"]' in text
    assert tomlkit.parse(text)["aliases"]["gpt-4.1"] == "kimi-k2"

    assert runner.invoke(app, ["config", "get", key]).stdout == "16384\n"
    assert runner.invoke(app, ["config", "get", "aliases.gpt-4.1"]).stdout == "kimi-k2\n"
    assert runner.invoke(app, ["config", "get", 'limits."kimi-k2.6".max_output_tokens']).stdout == (
        "16384\n"
    )
    settings = config.load_settings()
    assert settings.aliases == {"gpt-4.1": "kimi-k2"}
    assert settings.limits == {"kimi-k2.6": {"max_output_tokens": 16384}}
    listing = json.loads(runner.invoke(app, ["config", "list", "--json"]).stdout)
    assert listing[key] == 16384 and listing["aliases.gpt-4.1"] == "kimi-k2"

    assert runner.invoke(app, ["config", "unset", key]).exit_code == 0
    assert runner.invoke(app, ["config", "unset", "aliases.gpt-4.1"]).exit_code == 0
    assert config.load_settings().limits == {} and config.load_settings().aliases == {}
    assert runner.invoke(app, ["config", "get", key]).stdout == "8192\n"  # the catalogue's
    assert config_file.read_text().startswith("# keep me\n")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["set", "relay.port", "70000"], "from 0 to 65535"),
        (["set", "relay.port", "many"], "takes a whole number"),
        (["set", "relay.messages_upstream", "mesages"], "did you mean messages?"),
        (["set", "aliases.gpt-4.1", "kimi-k9"], "expected a model id"),
        (["set", "limits.kimi-k3.max_output_tokens", "5"], "unknown model 'kimi-k3'"),
        (
            ["set", "limits.kimi-k2.6.max_output", "5"],
            "Did you mean limits.kimi-k2.6.max_output_tokens?",
        ),
        (["set", "limits.kimi-k2.6.max_output_tokens", "0"], "above 0"),
        (["set", "base_url", "kimrel.com"], "http:// or https://"),
        (["set", "default_account", "nobody"], "unknown account 'nobody'"),
        (["set", "accounts.work.last4", "1234"], "managed by `kimrel login`"),
        (["unset", "relay.prot"], "Did you mean relay.port?"),
        (["get", "limits.kimi-k2.6"], "unknown setting"),
    ],
)
def test_invalid_changes_are_refused_before_anything_is_written(config_file, args, expected):
    result = runner.invoke(app, ["config", *args])
    assert result.exit_code == 1 and expected in result.stderr, result.stderr
    assert not config_file.exists()


def test_the_typed_view_raises_only_for_the_bad_value(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(
        'small_model = "kimi-k2.6"\n[relay]\nmid_conversation_system = "flod"\nprot = 1\n'
        '[limits."kimi-k2.6"]\nmax_output_tokens = 16384\n'
    )
    settings = config.load_settings(path)
    assert settings.small_model == "kimi-k2.6" and settings.relay_port == 8723
    assert settings.limits["kimi-k2.6"]["max_output_tokens"] == 16384
    with pytest.raises(ConfigError) as info:
        _ = settings.mid_conversation_system
    assert info.value.line == 3
    assert (
        "one of 'keep', 'fold'" in info.value.message
        and "(did you mean fold?)" in info.value.message
    )
    assert "mid_conversation_system=<invalid>" in repr(settings)
    warnings = [p for p in settings.problems if p.attr is None]
    assert [(p.key, p.line) for p in warnings] == [("relay.prot", 4)]
    assert "did you mean relay.port?" in warnings[0].message


@given(
    name=st.from_regex(r"[a-z][a-z0-9]{0,6}([.\-][a-z0-9]{1,4}){0,3}", fullmatch=True),
    model=st.sampled_from(sorted(config.MODELS)),
)
def test_any_dotted_alias_name_round_trips_through_the_file(name, model):
    doc = tomlkit.parse("# c\n")
    key = f"aliases.{name}"
    config.set_value(doc, key, config.coerce_value(key, model))
    reparsed = tomlkit.parse(doc.as_string())
    assert config.settings_from_document(reparsed).aliases == {name: model}
    assert config.get_value(reparsed, key) == model
    assert config.unset_value(reparsed, key) and config.get_value(reparsed, key) is None


def test_a_relay_with_a_bad_per_request_setting_answers_in_the_clients_shape(simulator, tmp_path):
    import httpx

    from kimrel_cli.relay.context import RelayConfig
    from kimrel_cli.relay.run import start_relay_in_thread

    path = tmp_path / "config.toml"
    path.write_text('[aliases]\n"gpt-4.1" = "kimi-k3"\n')
    relay = start_relay_in_thread(
        RelayConfig(api_key="sk-sim-demo", base_url=simulator, settings=config.load_settings(path))
    )
    try:
        body = {
            "model": "gpt-4.1",
            "max_tokens": 16,
            "messages": [{"role": "user", "content": "hi"}],
        }
        answer = httpx.post(relay.url + "/v1/messages", json=body, timeout=30)
        assert answer.status_code == 400, answer.text
        error = answer.json()
        assert error["type"] == "error" and error["error"]["type"] == "invalid_request_error"
        assert f"{path} line 2: aliases.gpt-4.1" in error["error"]["message"]
        assert "did you mean kimi-k2?" in error["error"]["message"]
    finally:
        relay.stop()
