"""The real Codex against relay + simulator: Kimi model metadata (no warnings), the `/model`
catalogue, and `apply_patch` editing a file. Skipped, with the reason, without `codex`.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from kimrel_cli.catalogue import MODELS
from tests.e2e.codex_support import CODEX, TOKEN, completed, events, start_stack

pytestmark = [
    pytest.mark.realclient,
    pytest.mark.skipif(
        CODEX is None, reason="codex is not installed (npm install -g @openai/codex)"
    ),
]


@pytest.fixture
def stack():
    running = start_stack()
    yield running
    running.stop()


def offered_tools(body):
    return {(t.get("type"), t.get("name")) for t in body.get("tools") or []}


def test_exec_has_kimi_metadata_and_offers_apply_patch(stack, tmp_path):
    out = stack.codex_exec(tmp_path, "say hello")
    assert out.returncode == 0, out.stderr[-2000:]
    assert "Model metadata" not in out.stdout + out.stderr
    assert "fallback metadata" not in out.stdout + out.stderr
    [body] = stack.relay.bodies("/responses")
    assert ("custom", "apply_patch") in offered_tools(body)
    # what the model received: apply_patch as a function with one string argument
    [chat] = stack.chat_bodies()
    patch_fn = [t["function"] for t in chat["tools"] if t["function"]["name"] == "apply_patch"]
    assert patch_fn and list(patch_fn[0]["parameters"]["properties"]) == ["input"]


def test_codex_edits_a_file_with_apply_patch(stack, tmp_path):
    target = tmp_path / "hello.txt"
    target.write_text("hello\nsecond line\n")
    prompt = (
        "Use apply_patch to apply this:\n*** Begin Patch\n*** Update File: hello.txt\n"
        "@@\n-hello\n+hello from kimrel\n second line\n*** End Patch\n"
    )
    out = stack.codex_exec(tmp_path, "--sandbox", "workspace-write", prompt)
    assert out.returncode == 0, out.stderr[-2000:]
    assert target.read_text() == "hello from kimrel\nsecond line\n"
    items = events(out.stdout)
    changes = completed(items, "file_change")
    assert changes and changes[0]["status"] == "completed"
    # the custom tool's output came back to the model as the tool message of its call
    last = stack.chat_bodies()[-1]["messages"]
    call = last[-2]["tool_calls"][0]
    assert call["function"]["name"] == "apply_patch"
    assert last[-1]["role"] == "tool" and last[-1]["tool_call_id"] == call["id"]
    assert "Success. Updated the following files" in last[-1]["content"]
    assert completed(items, "agent_message")[-1]["text"].startswith("The tool returned:")


def test_debug_models_lists_every_kimi_model_with_its_window(stack, tmp_path):
    out = subprocess.run(
        [*stack.codex_args(), "debug", "models"],
        cwd=tmp_path,
        env=stack.env(),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    models = json.loads(out.stdout)["models"]
    assert {m["slug"]: m["context_window"] for m in models} == {
        m.id: m.context_window for m in MODELS.values()
    }


def test_auth_command_provider_decodes_the_relays_models_response(stack, tmp_path, sandbox):
    """A provider with auth.command (what `setup codex` writes) makes Codex fetch
    `/v1/models?client_version=…`; without a catalogue file it must decode the relay's answer."""
    home = sandbox / "home" / ".codex"
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(
        "[model_providers.kimrel]\n"
        'name = "kimrel relay"\n'
        f'base_url = "{stack.relay_url}/v1"\n'
        'wire_api = "responses"\n'
        f'auth = {{ command = "echo", args = ["{TOKEN}"] }}\n'
    )
    (home / "kimi.config.toml").write_text(
        'model = "kimi-k2"\nmodel_provider = "kimrel"\nweb_search = "disabled"\n'
    )
    out = subprocess.run(
        [CODEX, "--profile", "kimi", "exec", "--skip-git-repo-check", "--json", "say hi"],
        cwd=tmp_path,
        env=stack.env(),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    fetched = [e for e in stack.relay.seen if e["path"] == "/v1/models"]
    assert fetched and "client_version=" in fetched[0]["query"]
    assert "failed to decode models response" not in out.stderr
    assert "Model metadata" not in out.stdout + out.stderr
    [body] = stack.relay.bodies("/responses")
    assert ("custom", "apply_patch") in offered_tools(body)
