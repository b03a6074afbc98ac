"""`kimrel launch` carries the project to the relay: Claude Code's ANTHROPIC_CUSTOM_HEADERS
(the user's own kept) and Codex's provider `http_headers`."""

from __future__ import annotations

import tomlkit

from kimrel_cli.codex_config import overrides
from kimrel_cli.setup.claude_code import with_project_header
from kimrel_cli.usage.attribution import project_from_header


def test_claude_code_custom_headers_keep_the_users_own_and_set_the_project_once():
    mine = "X-Team: core\nx-kimrel-project: stale"
    merged = with_project_header(mine, "my app")
    assert merged.splitlines() == ["X-Team: core", "x-kimrel-project: my%20app"]
    assert with_project_header(None, "kimrel") == "x-kimrel-project: kimrel"


def test_codex_overrides_send_the_project_as_a_provider_header(tmp_path):
    args = overrides(
        "http://127.0.0.1:8723",
        model="kimi-k2.6",
        catalog_path=tmp_path / "c.json",
        headers={"x-kimrel-project": "caf%C3%A9"},
    )
    provider = next(a for a in args if a.startswith("model_providers.kimrel="))
    table = tomlkit.parse("p = " + provider.split("=", 1)[1])["p"]
    assert table["http_headers"] == {"x-kimrel-project": "caf%C3%A9"}
    assert project_from_header(table["http_headers"]["x-kimrel-project"]) == "café"
    assert table["wire_api"] == "responses"
    plain = overrides("http://127.0.0.1:8723", model="kimi-k2.6", catalog_path=tmp_path / "c.json")
    assert "http_headers" not in " ".join(plain)
