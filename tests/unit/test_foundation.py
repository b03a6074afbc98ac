"""The core modules: catalogue, key masking, atomic writes, SSE decoding, settings."""

from __future__ import annotations

import os
import stat

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kimrel_cli import catalogue, config
from kimrel_cli.apikey import ApiKey, clean_key
from kimrel_cli.errors import ConfigError
from kimrel_cli.files import atomic_write_text, detect_newline
from kimrel_cli.protocols.sse import SSEDecoder, encode_event


def test_billing_table_prices_stand():
    assert [catalogue.credits_for(m) for m in catalogue.MODELS] == [1, 1, 1, 2, 3]


def test_context_windows_follow_the_changelog():
    assert catalogue.MODELS["kimi-k2"].context_window == 128_000
    assert catalogue.MODELS["kimi-k2.6"].context_window == 256_000


def test_limit_override_from_settings_applies():
    info = catalogue.get_model("kimi-k2.6", {"kimi-k2.6": {"max_output_tokens": 16384}})
    assert info is not None and info.max_output_tokens == 16384


def test_codex_profile_names_map_back_to_their_models():
    for model in catalogue.MODELS:
        assert "." not in catalogue.profile_name(model)
        assert catalogue.model_for_profile(catalogue.profile_name(model)) == model
        assert catalogue.model_for_profile(model) == model
    assert catalogue.profile_name("kimi-k2.6") == "kimi-k2-6"
    assert catalogue.model_for_profile("kimi-k2-7") is None


@pytest.mark.parametrize(
    ("balance", "per_minute"),
    [(0, 20), (100, 20), (101, 60), (1000, 60), (1001, 200), (20000, 500)],
)
def test_tier_for_balance(balance, per_minute):
    assert catalogue.tier_for(balance).per_minute == per_minute


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("claude-3-5-haiku-20241022", "kimi-k2"),
        ("claude-sonnet-4-5", "kimi-k2.5"),
        ("gpt-4o-mini", "kimi-k2"),
        ("kimi-k2.6", "kimi-k2.6"),
        ("kimi-k9", "kimi-k9"),
        ("mystery-model", "mystery-model"),
    ],
)
def test_alias_resolution(name, expected):
    assert catalogue.resolve_alias(name) == expected


def test_api_key_never_shows_itself():
    key = ApiKey("sk-very-secret-value-1234")
    assert "secret" not in str(key) and "secret" not in repr(key) and "secret" not in f"{key}"
    assert key.masked == "…1234"
    assert key.reveal() == "sk-very-secret-value-1234"


def test_clean_key_reports_stripping():
    assert clean_key("  sk-abc\n") == ("sk-abc", True)
    assert clean_key("sk-abc") == ("sk-abc", False)


def test_atomic_write_keeps_mode_and_new_files_are_private(tmp_path):
    target = tmp_path / "w" / "f.txt"
    atomic_write_text(target, "a")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    os.chmod(target, 0o644)
    atomic_write_text(target, "b")
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert target.read_text() == "b"
    assert [p.name for p in target.parent.iterdir()] == ["f.txt"]


def test_detect_newline():
    assert detect_newline("a\r\nb") == "\r\n"
    assert detect_newline("a\nb") == "\n"


@given(st.lists(st.text(min_size=1), min_size=1, max_size=5), st.data())
def test_sse_decoder_survives_any_split(payloads, data):
    raw = b"".join(encode_event("x", {"v": p}) for p in payloads)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(raw)), max_size=8)))
    decoder = SSEDecoder()
    events = []
    last = 0
    for cut in [*cuts, len(raw)]:
        events += decoder.feed(raw[last:cut])
        last = cut
    events += decoder.flush()
    assert [e.json()["v"] for e in events] == payloads
    assert all(e.event == "x" for e in events)


def test_settings_keep_comments_and_report_parse_errors(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text("# mine\nbase_url = 'http://x'\n")
    doc = config.load_document(path)
    config.set_value(doc, "relay.port", 9999)
    config.save_document(doc, path)
    text = path.read_text()
    assert text.startswith("# mine\n") and "port = 9999" in text
    assert config.load_settings(path).relay_port == 9999

    path.write_text("base_url = = 1\n")
    with pytest.raises(ConfigError) as info:
        config.load_settings(path)
    assert info.value.line == 1 and "config.toml line 1" in info.value.message
    assert path.read_text() == "base_url = = 1\n"


def test_base_url_env_override(monkeypatch):
    monkeypatch.setenv("KIMREL_BASE_URL", "http://127.0.0.1:1/api/")
    assert config.load_settings().base_url == "http://127.0.0.1:1/api"
