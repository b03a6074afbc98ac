"""RelayContext: model aliases, output caps, forwarded headers, the upstream URL shown."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from kimrel_cli.config import Settings
from kimrel_cli.relay.context import RelayConfig, RelayContext, public_url
from kimrel_cli.relay.dashboard import RequestLog
from kimrel_cli.relay.shared import cap_output


def ctx(**settings) -> RelayContext:
    config = RelayConfig(api_key="k", base_url="http://x/api", settings=Settings(**settings))
    return RelayContext(config=config, upstream=None, log=RequestLog("silent"))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("requested", "expected"),
    [
        ("claude-sonnet-4-5-20250929", "kimi-k2.5"),
        ("claude-3-5-haiku-latest", "kimi-k2"),
        ("gpt-4o-mini", "kimi-k2"),
        ("kimi-k2.6", "kimi-k2.6"),
        ("kimi-k9-unknown", "kimi-k9-unknown"),
        ("", "kimi-k2.5"),
    ],
)
def test_client_model_names_resolve_to_kimi_ids(requested, expected):
    assert ctx().resolve_model(requested)[0] == expected


def test_alias_table_and_model_settings_win():
    c = ctx(default_model="kimi-k2.6", small_model="kimi-k2-0905", aliases={"my-model": "kimi-k2"})
    assert c.resolve_model("claude-opus-4-1")[0] == "kimi-k2.6"
    assert c.resolve_model("claude-haiku-4-5")[0] == "kimi-k2-0905"
    assert c.resolve_model("my-model")[0] == "kimi-k2"


def test_cap_comes_from_the_catalogue_with_settings_overrides():
    c = ctx(limits={"kimi-k2.6": {"max_output_tokens": 16384}})
    _, k26 = c.resolve_model("kimi-k2.6")
    _, k2 = c.resolve_model("kimi-k2")
    assert c.cap(k26) == 16384
    assert c.cap(k2) == 8192
    assert c.cap(None) is None


def test_cap_output_lowers_only_values_above_the_cap():
    body = {"max_tokens": 32000, "max_completion_tokens": 100}
    cap_output(body, 8192)
    assert body == {"max_tokens": 8192, "max_completion_tokens": 100}
    untouched = {"max_tokens": 32000}
    cap_output(untouched, None)
    assert untouched == {"max_tokens": 32000}


def test_only_the_fault_header_is_forwarded_never_client_auth():
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/messages",
        "headers": [
            (b"authorization", b"Bearer kr-local-x"),
            (b"x-api-key", b"kr-local-x"),
            (b"anthropic-beta", b"foo"),
            (b"x-kimrel-fault", b"status=503,times=1"),
        ],
    }
    assert ctx().forward_headers(Request(scope)) == {"x-kimrel-fault": "status=503,times=1"}


def test_public_url_drops_credentials_and_query():
    assert (
        public_url("https://u:secret@kimrel.com:8443/api/?key=sk-1")
        == "https://kimrel.com:8443/api"
    )
    assert public_url("http://127.0.0.1:5000/api") == "http://127.0.0.1:5000/api"
