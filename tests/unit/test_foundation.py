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


def _kimrel_dataclasses():
    import dataclasses
    import importlib
    import pkgutil

    import kimrel_cli

    seen = {}
    for module_info in pkgutil.walk_packages(kimrel_cli.__path__, "kimrel_cli."):
        module = importlib.import_module(module_info.name)
        for obj in vars(module).values():
            is_class = dataclasses.is_dataclass(obj) and isinstance(obj, type)
            if is_class and obj.__module__.startswith("kimrel_cli."):
                seen[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return seen


SECRET_FIELD_NAMES = {"api_key", "secret", "password", "raw_key", "token"}  # token: the local one


def test_no_dataclass_shows_a_key_in_its_repr():
    """Every dataclass field that can hold an API key is left out of the repr, unless its type
    is exactly ApiKey (which masks itself)."""
    import dataclasses

    holders = []
    for name, cls in _kimrel_dataclasses().items():
        for f in dataclasses.fields(cls):
            annotation = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", "")
            if "ApiKey" in annotation or f.name in SECRET_FIELD_NAMES:
                holders.append(f"{name}.{f.name}")
                masked_type = annotation == "ApiKey"  # ApiKey masks itself; `ApiKey | str` does not
                assert f.repr is False or masked_type, f"{name}.{f.name} shows a key in repr()"
    assert "kimrel_cli.relay.context.RelayConfig.api_key" in holders
    assert "kimrel_cli.accounts.registry.ResolvedKey.key" in holders


@pytest.mark.parametrize(
    "key", ["sk-plain-secret-value-9876", ApiKey("sk-plain-secret-value-9876")]
)
def test_relay_config_and_resolved_key_reprs_hide_the_key(key):
    from kimrel_cli.accounts.registry import ResolvedKey
    from kimrel_cli.relay.context import RelayConfig

    config_ = RelayConfig(api_key=key, base_url="http://127.0.0.1:1/api")
    shown = repr(config_) + str(config_) + f"{config_!r}"
    assert "secret" not in shown and "RelayConfig(" in shown
    resolved = ResolvedKey(ApiKey("sk-plain-secret-value-9876"), "work", "keyring", "http://x")
    assert "secret" not in repr(resolved)


def _release(version: str) -> tuple[int, ...]:
    parts = [int(p) for p in version.split(".")]
    while parts and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def test_every_dependency_is_bounded_and_its_floor_is_the_one_ci_installs():
    """pyproject.toml bounds each dependency on both sides, and ci/constraints-floor.txt (what
    ci/test-floor.sh installs) pins exactly each lower bound."""
    import re
    from pathlib import Path

    import tomlkit

    root = Path(__file__).resolve().parents[2]
    project = tomlkit.parse((root / "pyproject.toml").read_text())["project"]
    specs = [*project["dependencies"], *project["optional-dependencies"]["test"]]
    floors = {}
    for line in (root / "ci" / "constraints-floor.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            floors[re.sub(r"[-_.]+", "-", name.lower())] = version
    assert len(floors) == len(specs)
    for spec in specs:
        found = re.fullmatch(r"([A-Za-z0-9_.\-]+)>=([0-9.]+),<([0-9.]+)", spec.replace(" ", ""))
        assert found, f"{spec}: give both a floor (>=) and an upper bound (<)"
        name, low, high = found.groups()
        assert _release(low) < _release(high), spec
        assert _release(floors[re.sub(r"[-_.]+", "-", name.lower())]) == _release(low), spec
