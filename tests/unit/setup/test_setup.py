"""Setup: golden round trips, idempotence, undo byte for byte, refusals, permissions, dry run."""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kimrel_cli.cli.app import app
from kimrel_cli.errors import ConfigError
from kimrel_cli.setup import claude_code, codex

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "setup"
runner = CliRunner()


@pytest.mark.parametrize("case", sorted(p.name for p in (GOLDEN / "claude_code").iterdir()))
def test_claude_code_golden(case):
    folder = GOLDEN / "claude_code" / case
    before = (folder / "before.json").read_bytes().decode()
    options = claude_code.ClaudeOptions(**json.loads((folder / "options.json").read_text()))
    after = claude_code.apply(before, options)
    assert after.encode() == (folder / "after.json").read_bytes()
    assert claude_code.apply(after, options) == after, "a second run changes nothing"


@pytest.mark.parametrize("case", sorted(p.name for p in (GOLDEN / "codex").iterdir()))
def test_codex_golden(case):
    folder = GOLDEN / "codex" / case
    raw = json.loads((folder / "options.json").read_text())
    options = codex.CodexOptions(
        relay_url=raw["relay_url"],
        token_command=tuple(raw["token_command"]),
        models=tuple(raw["models"]),
    )
    before = (folder / "before.toml").read_text()
    after = codex.apply_config(before, options)
    assert after == (folder / "after.toml").read_text()
    assert codex.apply_config(after, options) == after
    for model in options.models:
        name = codex.profile_name(model)
        assert codex.profile_file_text(model) == (folder / f"{name}.config.toml").read_text()


def test_older_codex_gets_profile_tables_and_ancient_codex_is_refused():
    options = codex.CodexOptions(
        relay_url="http://127.0.0.1:1",
        token_command=("kimrel",),
        models=("kimi-k2.6",),
        version=(0, 120, 0),
    )
    assert "[profiles.kimi-k2-6]" in codex.apply_config("", options)
    with pytest.raises(Exception, match=r"older than 0\.95"):
        codex.apply_config(
            "", codex.CodexOptions(relay_url="x", token_command=("k",), version=(0, 90, 0))
        )


@pytest.mark.parametrize(
    ("tool", "name", "text", "line"),
    [
        ("claude-code", "settings.json", '{\n  "a": 1,\n  "b": \n}\n', 4),
        ("codex", "config.toml", "a = 1\n[broken\n", 2),
    ],
    ids=["json", "toml"],
)
def test_invalid_files_are_refused_untouched_with_line_numbers(sandbox, tool, name, text, line):
    path = (
        (sandbox / "home" / ".claude" / name)
        if tool == "claude-code"
        else (sandbox / "home" / ".codex" / name)
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    result = runner.invoke(app, ["setup", tool, "--yes"])
    assert result.exit_code == 1 and f"line {line}" in result.stderr
    assert path.read_text() == text
    assert not (sandbox / "kimrel-state" / "backups").exists()


def test_claude_setup_twice_then_undo_restores_byte_for_byte(sandbox):
    path = sandbox / "home" / ".claude" / "settings.json"
    path.parent.mkdir(parents=True)
    original = b'{\n  "theme": "light",\n  "env": {"KEEP": "1"}\n}\n'
    path.write_bytes(original)
    path.chmod(0o644)
    assert runner.invoke(app, ["setup", "claude-code", "--yes"]).exit_code == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600, "a file holding a token is private"
    written = path.read_bytes()
    second = runner.invoke(app, ["setup", "claude-code", "--yes"])
    assert "nothing changed" in second.stderr and path.read_bytes() == written
    assert len(list((sandbox / "kimrel-state" / "backups" / "claude-code").iterdir())) == 1
    assert runner.invoke(app, ["setup", "undo", "claude-code"]).exit_code == 0
    assert path.read_bytes() == original


def test_undo_refuses_after_a_hand_edit_unless_forced(sandbox):
    path = sandbox / "home" / ".claude" / "settings.json"
    runner.invoke(app, ["setup", "claude-code", "--yes"])
    path.write_text(path.read_text().replace("kimi-k2.5", "kimi-k2.6"))
    refused = runner.invoke(app, ["setup", "undo", "claude-code"])
    assert refused.exit_code == 1 and "by hand" in refused.stderr
    assert runner.invoke(app, ["setup", "undo", "claude-code", "--force"]).exit_code == 0
    assert not path.exists(), "the file did not exist before kimrel wrote it"


def test_dry_run_writes_nothing_and_shows_a_diff(sandbox):
    result = runner.invoke(app, ["setup", "codex", "--dry-run"])
    assert result.exit_code == 0 and '+wire_api = "responses"' in result.stdout
    assert "+wire_api" not in result.stderr and "dry run" in result.stderr
    assert not (sandbox / "home" / ".codex").exists()


def test_without_yes_on_a_pipe_it_asks_for_yes(sandbox):
    result = runner.invoke(app, ["setup", "codex"])
    assert result.exit_code == 1 and "--yes" in result.stderr


def test_codex_undo_removes_profile_files_it_created(sandbox):
    home = sandbox / "home" / ".codex"
    home.mkdir(parents=True)
    (home / "config.toml").write_text("# mine\n")
    assert runner.invoke(app, ["setup", "codex", "--yes"]).exit_code == 0
    assert (home / "kimi-k2-6.config.toml").exists()
    assert 'wire_api = "chat"' not in (home / "config.toml").read_text()
    assert runner.invoke(app, ["setup", "undo", "codex"]).exit_code == 0
    assert sorted(p.name for p in home.iterdir()) == ["config.toml"]
    assert (home / "config.toml").read_text() == "# mine\n"


def test_no_real_key_is_written_in_either_mode(sandbox, monkeypatch, older_claude):
    monkeypatch.setenv("KIMREL_API_KEY", "sk-real-key-never-written-5151")
    runner.invoke(app, ["setup", "claude-code", "--yes"])
    runner.invoke(app, ["setup", "claude-code", "--via", "direct", "--yes", "--scope", "project"])
    runner.invoke(app, ["setup", "codex", "--yes"])
    for path in sandbox.rglob("*"):
        if path.is_file():
            assert b"sk-real-key-never-written-5151" not in path.read_bytes(), path


@pytest.mark.skipif(
    shutil.which("codex") is None, reason="codex is not installed (npm install -g @openai/codex)"
)
def test_the_real_codex_loads_what_setup_wrote_and_rejects_a_chat_provider(sandbox):
    home = sandbox / "home" / ".codex"
    assert runner.invoke(app, ["setup", "codex", "--yes"]).exit_code == 0

    def load(profile):
        return subprocess.run(
            ["codex", "--profile", profile, "mcp", "list"],
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
            cwd=sandbox,
        )

    for model in ("kimi-k2-6", "kimi-k2", "kimi-k2-thinking"):
        out = load(model)
        assert out.returncode == 0, out.stderr[-1000:]
    (home / "config.toml").write_text(
        (home / "config.toml").read_text().replace('"responses"', '"chat"')
    )
    assert load("kimi-k2-6").returncode != 0, "the check can fail: Codex refuses wire_api = chat"


@pytest.mark.skipif(
    shutil.which("claude") is None,
    reason="claude is not installed (npm install -g @anthropic-ai/claude-code)",
)
def test_the_real_claude_code_runs_a_turn_with_only_the_written_settings(sandbox):
    """Claude Code reads the env block setup wrote (no ANTHROPIC_* in its environment) and reaches the relay."""
    import os
    import sys

    kimrel = [sys.executable, "-m", "kimrel_cli"]
    started = subprocess.run(
        [*kimrel, "serve", "--background", "--simulate", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert started.returncode == 0, started.stderr
    try:
        assert runner.invoke(app, ["setup", "claude-code", "--yes"]).exit_code == 0
        env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")}
        out = subprocess.run(
            ["claude", "-p", "hello from setup", "--output-format", "json"],
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
            cwd=sandbox,
            env=env,
        )
        assert out.returncode == 0, (out.stdout + out.stderr)[-2000:]
        assert json.loads(out.stdout)["result"].startswith("Simulated reply to:")
    finally:
        subprocess.run([*kimrel, "serve", "stop"], capture_output=True, timeout=30)


def test_config_error_type_for_invalid_json():
    with pytest.raises(ConfigError) as info:
        claude_code.apply(
            "{oops",
            claude_code.ClaudeOptions(
                via="relay", base_url="u", model="m", small_model="s", token="kr-local-t"
            ),
        )
    assert info.value.line == 1


def test_codex_setup_writes_the_model_catalogue_and_points_profiles_at_it(sandbox):
    home = sandbox / "home" / ".codex"
    assert runner.invoke(app, ["setup", "codex", "--yes"]).exit_code == 0
    catalogue = json.loads((home / "kimrel-models.json").read_text())
    assert {m["slug"] for m in catalogue["models"]} == set(codex.MODELS)
    profile = (home / "kimi-k2.config.toml").read_text()
    assert f'model_catalog_json = "{home / "kimrel-models.json"}"' in profile
    assert "model_catalog_json" not in (home / "config.toml").read_text()  # plain codex unchanged
    if shutil.which("codex"):  # Codex refuses to start on a catalogue it cannot decode
        out = subprocess.run(
            ["codex", "--profile", "kimi-k2", "debug", "prompt-input", "hi"],
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
            cwd=sandbox,
        )
        assert out.returncode == 0, out.stderr[-1000:]


def test_codex_setup_default_points_plain_codex_at_the_catalogue_too(sandbox):
    home = sandbox / "home" / ".codex"
    result = runner.invoke(app, ["setup", "codex", "--default", "--model", "kimi-k2.6", "--yes"])
    assert result.exit_code == 0, result.output
    config = (home / "config.toml").read_text()
    assert 'model = "kimi-k2.6"' in config
    assert f'model_catalog_json = "{home / "kimrel-models.json"}"' in config


def test_undo_keeps_what_the_tool_added_and_takes_back_only_kimrels_keys(sandbox):
    home = sandbox / "home" / ".codex"
    home.mkdir(parents=True)
    config = home / "config.toml"
    config.write_text('# mine\nmodel = "o3"\n')
    config.chmod(0o644)
    assert runner.invoke(app, ["setup", "codex", "--default", "--yes"]).exit_code == 0
    # what Codex itself writes during ordinary use
    config.write_text(
        config.read_text()
        + '\n[projects."/work/x"]\ntrust_level = "trusted"\n\n[notice]\nhide = true\n'
    )
    result = runner.invoke(app, ["setup", "undo", "codex"])
    assert result.exit_code == 0, result.stderr
    text = config.read_text()
    assert text.startswith('# mine\nmodel = "o3"\n'), text
    assert "trust_level" in text and "[notice]" in text
    assert "kimrel" not in text and "model_provider" not in text
    assert sorted(p.name for p in home.iterdir()) == ["config.toml"]
    assert stat.S_IMODE(config.stat().st_mode) == 0o644


def test_undo_still_refuses_when_kimrels_own_key_was_changed(sandbox):
    assert runner.invoke(app, ["setup", "codex", "--yes"]).exit_code == 0
    config = sandbox / "home" / ".codex" / "config.toml"
    config.write_text(
        config.read_text().replace("request_max_retries = 4", "request_max_retries = 9")
    )
    refused = runner.invoke(app, ["setup", "undo", "codex"])
    assert refused.exit_code == 1 and "request_max_retries" in refused.stderr


def test_claude_undo_keeps_mode_and_removes_the_folder_it_created(sandbox, older_claude):
    user = sandbox / "home" / ".claude" / "settings.json"
    user.parent.mkdir(parents=True)
    user.write_text('{"theme": "dark"}\n')
    user.chmod(0o644)
    assert runner.invoke(app, ["setup", "claude-code", "--yes"]).exit_code == 0
    assert stat.S_IMODE(user.stat().st_mode) == 0o600
    user.write_text(user.read_text().replace('"dark"', '"light"'))  # Claude Code's /theme
    assert runner.invoke(app, ["setup", "undo", "claude-code"]).exit_code == 0
    assert json.loads(user.read_text()) == {"theme": "light"}
    assert stat.S_IMODE(user.stat().st_mode) == 0o644
    project = sandbox / "cwd" / ".claude"
    args = ["setup", "claude-code", "--scope", "project", "--via", "direct", "--yes"]
    assert runner.invoke(app, args).exit_code == 0 and project.is_dir()
    assert runner.invoke(app, ["setup", "undo", "claude-code"]).exit_code == 0
    assert not project.exists(), "the empty .claude/ kimrel created is gone"


def test_undo_list_without_backups_says_so(sandbox):
    result = runner.invoke(app, ["setup", "undo", "codex", "--list"])
    assert result.exit_code == 0 and "no backups" in result.stdout


@pytest.mark.skipif(
    shutil.which("codex") is None, reason="codex is not installed (npm install -g @openai/codex)"
)
def test_undo_after_the_real_codex_changed_its_config(sandbox):
    home = sandbox / "home" / ".codex"
    assert runner.invoke(app, ["setup", "codex", "--yes"]).exit_code == 0
    added = subprocess.run(
        ["codex", "mcp", "add", "probe", "--", "echo", "hi"],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        cwd=sandbox,
    )
    assert added.returncode == 0, added.stderr[-1000:]
    assert "mcp_servers" in (home / "config.toml").read_text(), "Codex wrote its own table"
    result = runner.invoke(app, ["setup", "undo", "codex"])
    assert result.exit_code == 0, result.stderr
    text = (home / "config.toml").read_text()
    assert "probe" in text and "model_providers" not in text
    assert not (home / "kimi-k2-6.config.toml").exists()


def test_unknown_models_and_accounts_are_refused_with_a_suggestion(sandbox):
    bad_model = runner.invoke(app, ["setup", "claude-code", "--model", "kimi-k2.7", "--yes"])
    assert bad_model.exit_code == 1 and "did you mean" in bad_model.stderr.lower()
    bad_small = runner.invoke(app, ["setup", "claude-code", "--small-model", "kimi-k9", "--yes"])
    assert bad_small.exit_code == 1 and "--small-model" in bad_small.stderr
    bad_codex = runner.invoke(app, ["setup", "codex", "--default", "--model", "kimi-k9", "--yes"])
    assert bad_codex.exit_code == 1 and "unknown model" in bad_codex.stderr
    nope = ["setup", "claude-code", "--via", "direct", "--account", "nope", "--yes"]
    bad_account = runner.invoke(app, nope)
    assert bad_account.exit_code == 1 and "unknown account 'nope'" in bad_account.stderr
    assert not (sandbox / "home" / ".claude" / "settings.json").exists()
    assert not (sandbox / "home" / ".codex").exists()


def test_the_key_helper_runs_kimrel_by_absolute_path_and_a_move_is_detected(sandbox, older_claude):
    import shlex

    args = ["setup", "claude-code", "--via", "direct", "--yes"]
    assert runner.invoke(app, args).exit_code == 0
    path = sandbox / "home" / ".claude" / "settings.json"
    settings = json.loads(path.read_text())
    program = shlex.split(settings["apiKeyHelper"])[0]
    assert Path(program).is_absolute() and Path(program).exists(), settings["apiKeyHelper"]
    # Claude Code runs the helper with its own PATH, which need not contain kimrel's venv
    ran = subprocess.run(
        [program, "--version"], capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}
    )
    assert ran.returncode == 0 and "kimrel" in ran.stdout
    settings["apiKeyHelper"] = "/gone/venv/bin/kimrel key print"
    path.write_text(json.dumps(settings))
    status = runner.invoke(app, ["setup", "status", "--json"])
    rows = {row["tool"]: row for row in json.loads(status.stdout)["tools"]}
    assert rows["claude-code"]["via"] == "direct"
    assert "/gone/venv/bin/kimrel no longer exists" in rows["claude-code"]["problem"]


def test_setup_says_when_the_relay_is_not_running(sandbox):
    import socket

    with socket.socket() as probe:  # a port nothing listens on (not 8723: may be in use here)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    (sandbox / "kimrel-config").mkdir(exist_ok=True)
    (sandbox / "kimrel-config" / "config.toml").write_text(f"[relay]\nport = {port}\n")
    result = runner.invoke(app, ["setup", "claude-code", "--yes"])
    assert result.exit_code == 0
    assert "kimrel serve --background" in result.stderr and "no relay answers" in result.stderr
    codex_result = runner.invoke(app, ["setup", "codex", "--yes"])
    assert "kimrel serve --background" in codex_result.stderr


def test_setup_says_the_relay_answers_when_it_does(sandbox, simulator):
    import os
    import time

    from kimrel_cli.relay.context import RelayConfig
    from kimrel_cli.relay.run import start_relay_in_thread
    from kimrel_cli.relay.state import RelayState, clear_state, write_state

    relay = start_relay_in_thread(RelayConfig(api_key="sk-sim-demo", base_url=simulator))
    port = int(relay.url.rsplit(":", 1)[1])
    write_state(
        RelayState(os.getpid(), "127.0.0.1", port, relay.url, simulator, True, None, time.time())
    )
    try:
        result = runner.invoke(app, ["setup", "claude-code", "--yes"])
    finally:
        clear_state()
        relay.stop()
    assert result.exit_code == 0 and f"the relay on {relay.url} answers" in result.stderr
