"""Claude Code's settings.json, pure: (current text, options) → new text with kimrel's part set.

Only the keys kimrel owns change: `env.ANTHROPIC_*` model and URL settings, the picker, context
and output settings (`model_env`), the timeout and traffic switches, and either
`env.ANTHROPIC_AUTH_TOKEN` (the relay's local token, `--via relay`) or `apiKeyHelper`
(`kimrel key print`, `--via direct`). The real key is never written.

`model_env` is what Claude Code 2.1.197 honours for third-party models (checked in its bundle):
- the `/model` picker has five slots besides "Default": `ANTHROPIC_DEFAULT_{OPUS,SONNET,HAIKU,
  FABLE}_MODEL` and `ANTHROPIC_CUSTOM_MODEL_OPTION`, each with `_NAME` and `_DESCRIPTION`; the
  five Kimi models fill them, the main model in the Opus slot (which "Default" resolves to),
  the small model in the Haiku slot (background work); a pick is saved as the slot's alias;
- `ANTHROPIC_MODEL` outranks the `model` a `/model` pick saves, so it is not written (the pick
  then survives the next session); `launch --model` pins it for one run;
- `CLAUDE_CODE_DISABLE_1M_CONTEXT=1`: otherwise Default becomes `<opus model>[1m]`, shown and
  budgeted as a 1M window;
- `CLAUDE_CODE_MAX_CONTEXT_TOKENS` is the one window Claude Code applies to every non-`claude-`
  model, so it is the main model's (256K; kimi-k2's 128K);
- `CLAUDE_CODE_AUTO_COMPACT_WINDOW`, the same figure: without an auto-compact window of its
  own (this variable, the `autoCompactWindow` setting, ≥ 100K) the threshold source is "auto",
  and 2.1.197 then never compacts before a request (`if(pJ()&&!jLe(t,n))return!1` in the
  autocompact check): only after the API has refused one. The variable's floor of 100K does not
  widen a smaller window (Claude Code takes min(window, max(100K, value)));
- `CLAUDE_CODE_MAX_OUTPUT_TOKENS`: the main model's output limit (8,192) instead of 32,000;
- both follow the settings' `[limits."MODEL"]` (context_window, max_output_tokens) when set;
- `CLAUDE_CODE_SUBAGENT_MODEL`: subagents (Explore would use Haiku = kimi-k2, 128K) run on the
  main model, whose window is the one configured.

`--statusline` also sets `statusLine` to kimrel's status line (docs/statusline.md). A status
line the user already has is chained, not replaced: ours runs it with the same stdin
(`--chain THEIRS`) and appends to its line; `setup undo` gives theirs back (the key-by-key undo
restores `statusLine.command`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from kimrel_cli.catalogue import get_model
from kimrel_cli.errors import SetupError
from kimrel_cli.setup.jsonedit import dump_like, parse_object
from kimrel_cli.setup.target import (
    LaunchContext,
    LaunchPlan,
    Option,
    RunningRelay,
    SetupContext,
    SetupPlan,
    Status,
    check_model,
    moved,
)

Scope = Literal["user", "project", "local"]
HELPER_PREFIX = "kimrel key print"
LOCAL_TOKEN_PREFIX = "kr-local-"
Limits = Mapping[str, Mapping[str, int]]  # settings' [limits."MODEL"] tables


# Picker order after the main model: newest first; the small model always takes the Haiku slot.
PICKER_ORDER = ("kimi-k2.6", "kimi-k2.5", "kimi-k2-thinking", "kimi-k2-0905", "kimi-k2")
_SLOTS = (
    "ANTHROPIC_DEFAULT_OPUS_MODEL",
    "ANTHROPIC_DEFAULT_SONNET_MODEL",
    "ANTHROPIC_DEFAULT_FABLE_MODEL",
    "ANTHROPIC_CUSTOM_MODEL_OPTION",
)
HAIKU_SLOT = "ANTHROPIC_DEFAULT_HAIKU_MODEL"
# Keys kimrel wrote in earlier versions and no longer writes (removed on the next setup).
RETIRED_KEYS = ("ANTHROPIC_MODEL",)


def _describe(model: str, *, main: bool, limits: Limits | None = None) -> str:
    info = get_model(model, limits)
    if info is None:
        return "kimrel model" + (" (default)" if main else "")
    credits = f"{info.credits} credit{'s' if info.credits != 1 else ''}/request"
    window = "" if "context" in info.description else f" · {info.context_window // 1000}K context"
    text = f"{info.description}{window} · {credits}"
    return text + (" · kimrel default" if main else "")


def picker_slots(model: str, small_model: str) -> dict[str, str]:
    """Which Kimi model each of Claude Code's picker slots holds (env var → model id)."""
    rest = [m for m in PICKER_ORDER if m not in (model, small_model)]
    slots = {HAIKU_SLOT: small_model}
    for slot, chosen in zip(_SLOTS, [model, *rest], strict=False):
        slots[slot] = chosen
    return slots


def model_env(model: str, small_model: str, limits: Limits | None = None) -> dict[str, str]:
    """The model, picker, context and output settings for Claude Code (module docstring).

    `limits` are the settings' `[limits."MODEL"]` tables (context_window, max_output_tokens):
    the window and output limit written are those, else the catalogue's (as Codex's catalogue).
    """
    info = get_model(model, limits)
    env: dict[str, str] = {"ANTHROPIC_SMALL_FAST_MODEL": small_model}
    for slot, chosen in picker_slots(model, small_model).items():
        env[slot] = chosen
        env[slot + "_NAME"] = chosen
        env[slot + "_DESCRIPTION"] = _describe(chosen, main=chosen == model, limits=limits)
    env["CLAUDE_CODE_SUBAGENT_MODEL"] = model
    env["CLAUDE_CODE_DISABLE_1M_CONTEXT"] = "1"
    if info is not None:
        env["CLAUDE_CODE_MAX_CONTEXT_TOKENS"] = str(info.context_window)
        env["CLAUDE_CODE_AUTO_COMPACT_WINDOW"] = str(info.context_window)
        env["CLAUDE_CODE_MAX_OUTPUT_TOKENS"] = str(info.max_output_tokens)
    return env


# Claude Code 2.1.154 and later put `role: "system"` messages inside `messages` for every
# non-`claude-` model on a first-party base URL (no setting turns this off: checked in
# 2.1.197's bundle); the hosted /v1/messages takes user/assistant only and refuses them.
DIRECT_REFUSED_FROM = (2, 1, 154)


def direct_mode_refusal(version: str | None) -> SetupError | None:
    """Why `--via direct` cannot serve this Claude Code version, or None when it can."""
    from kimrel_cli.setup.tools import version_tuple

    if version is None or version_tuple(version) < DIRECT_REFUSED_FROM:
        return None
    return SetupError(
        f"direct mode cannot serve Claude Code {version}: since 2.1.154 it puts "
        'role: "system" messages inside `messages`, which the hosted /v1/messages refuses '
        "(messages.N.role: must be user or assistant), so every request would fail",
        hint="Use the relay, which translates them: `kimrel setup claude-code` (--via relay, "
        "the default) with `kimrel serve --background`, or `kimrel launch claude`.",
        code="direct-mode-unsupported",
    )


def account_base_url(
    accounts: Mapping[str, Mapping[str, Any]], account: str | None, default: str
) -> str:
    """The hosted API root the account was logged in against (`default` for unknown ones)."""
    entry = accounts.get(account or "") or {}
    return str(entry.get("base_url") or default).rstrip("/")


@dataclass(frozen=True)
class ClaudeOptions:
    via: Literal["relay", "direct"]
    base_url: str  # relay URL (http://127.0.0.1:PORT) or the hosted API root
    model: str
    small_model: str
    token: str | None = field(default=None, repr=False)  # the relay's local token (relay mode)
    account: str | None = None  # for --via direct's apiKeyHelper
    helper_command: str = HELPER_PREFIX
    limits: Limits = field(default_factory=dict)  # settings' per-model limits
    statusline: str | None = None  # `--statusline`: kimrel's status line command (shell words)


def settings_path(scope: Scope, cwd: Path | None = None) -> Path:
    cwd = cwd or Path.cwd()
    if scope == "project":
        return cwd / ".claude" / "settings.json"
    if scope == "local":
        return cwd / ".claude" / "settings.local.json"
    base = os.environ.get("CLAUDE_CONFIG_DIR")
    return (Path(base) if base else Path.home() / ".claude") / "settings.json"


def is_our_helper(value: object) -> bool:
    """An apiKeyHelper kimrel wrote: `kimrel key print…`, with or without kimrel's full path."""
    import shlex

    try:
        words = shlex.split(value) if isinstance(value, str) else []
    except ValueError:
        return False
    if words and Path(words[0]).name in ("kimrel", "kimrel.exe") and words[1:3] == ["key", "print"]:
        return True
    return words[1:5] == ["-m", "kimrel_cli", "key", "print"]


def helper_program(value: object) -> str | None:
    """The program an apiKeyHelper kimrel wrote runs (a path, or a bare `kimrel`)."""
    import shlex

    return shlex.split(value)[0] if is_our_helper(value) else None  # type: ignore[arg-type]


def statusline_command(python: str, module: str, state_dir: str) -> str:
    """The status line command setup installs:
    `python -S …/kimrel_cli/statusline/__main__.py --state-dir DIR`.

    `-S` skips site-packages (and any `.pth` there that imports something at every start);
    the launcher imports kimrel_cli from beside itself and needs nothing else. The state dir
    is passed because platformdirs (a site package) is out of reach under `-S`.
    """
    import shlex

    return shlex.join([python, "-S", module, "--state-dir", state_dir])


def is_our_statusline(command: object) -> bool:
    """A status line command kimrel wrote (any of its entry points), chained or not."""
    import shlex

    try:
        words = shlex.split(command) if isinstance(command, str) else []
    except ValueError:
        return False
    for index, word in enumerate(words):
        name = Path(word).name
        if name in ("kimrel-statusline", "kimrel-statusline.exe"):
            return True
        if word.replace("\\", "/").endswith(
            ("kimrel_cli/statusline/__main__.py", "kimrel_cli/statusline.py")
        ):
            return True
        if words[index : index + 2] in (["-m", "kimrel_cli.statusline"],) or (
            name in ("kimrel", "kimrel.exe") and words[index + 1 : index + 2] == ["statusline"]
        ):
            return True
    return False


def chained_command(command: str) -> str | None:
    """The user's own status line a kimrel status line command runs first (`--chain CMD`)."""
    import shlex

    try:
        words = shlex.split(command)
    except ValueError:
        return None
    for index, word in enumerate(words):
        if word == "--chain" and index + 1 < len(words):
            return words[index + 1]
        if word.startswith("--chain="):
            return word.split("=", 1)[1]
    return None


def statusline_program(settings: Mapping[str, Any]) -> str | None:
    """The program kimrel's status line runs (its first word), when statusLine is kimrel's."""
    import shlex

    line = settings.get("statusLine")
    command = line.get("command") if isinstance(line, dict) else None
    if not is_our_statusline(command):
        return None
    return shlex.split(command)[0]  # type: ignore[arg-type]


def with_statusline(current: object, ours: str) -> dict[str, Any]:
    """The `statusLine` value that shows kimrel's line: `current` (theirs) chained, its other
    keys (`padding`) kept; kimrel's own earlier line replaced, keeping what it chained."""
    import shlex

    line = dict(current) if isinstance(current, dict) else {}
    theirs = line.get("command")
    if isinstance(theirs, str) and is_our_statusline(theirs):
        theirs = chained_command(theirs)
    command = ours
    if isinstance(theirs, str) and theirs.strip():
        command += " " + shlex.join(["--chain", theirs])
    line.update(type="command", command=command)
    return line


def _ours(key: str, value: object) -> bool:
    if key in ("ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_API_KEY"):
        return isinstance(value, str) and value.startswith(LOCAL_TOKEN_PREFIX)
    return False


def apply(text: str, options: ClaudeOptions, path: str = "settings.json") -> str:
    settings = parse_object(text, path)
    env = settings.get("env")
    env = dict(env) if isinstance(env, dict) else {}
    for key in RETIRED_KEYS:
        env.pop(key, None)
    wanted = {
        "ANTHROPIC_BASE_URL": options.base_url,
        **model_env(options.model, options.small_model, options.limits),
        "API_TIMEOUT_MS": "3000000",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "CLAUDE_CODE_ATTRIBUTION_HEADER": "0",
    }
    if options.via == "relay":
        wanted["ANTHROPIC_AUTH_TOKEN"] = options.token or ""
        if is_our_helper(settings.get("apiKeyHelper")):
            del settings["apiKeyHelper"]
    else:
        for key in ("ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_API_KEY"):
            if key in env and _ours(key, env[key]):
                del env[key]
        command = options.helper_command + (
            f" --account {options.account}" if options.account else ""
        )
        settings["apiKeyHelper"] = command
    env.update(wanted)
    settings["env"] = env
    if options.statusline:
        settings["statusLine"] = with_statusline(settings.get("statusLine"), options.statusline)
    return dump_like(settings, text)


def configured_via(text: str) -> str | None:
    """ "relay", "direct" or None, from a settings.json kimrel may have written."""
    try:
        settings = parse_object(text, "settings.json")
    except Exception:
        return None
    env = settings.get("env") if isinstance(settings.get("env"), dict) else {}
    if is_our_helper(settings.get("apiKeyHelper")):
        return "direct"
    if _ours("ANTHROPIC_AUTH_TOKEN", env.get("ANTHROPIC_AUTH_TOKEN")):
        return "relay"
    return None


def settings_problem(text: str, running: RunningRelay | None) -> str | None:
    """What would stop the settings kimrel wrote from working: a moved kimrel, a stale token."""
    try:
        settings = parse_object(text, "settings.json")
    except Exception:
        return None
    for program in (helper_program(settings.get("apiKeyHelper")), statusline_program(settings)):
        problem = moved(program, "claude-code")
        if problem:
            return problem
    env = settings.get("env") if isinstance(settings.get("env"), dict) else {}
    token = env.get("ANTHROPIC_AUTH_TOKEN")
    if (
        running is not None
        and running.token
        and isinstance(token, str)
        and token.startswith(LOCAL_TOKEN_PREFIX)
        and env.get("ANTHROPIC_BASE_URL") == running.url
        and token != running.token
    ):
        return "the running relay expects another token: run kimrel setup claude-code again"
    return None


def with_project_header(custom_headers: str | None, project: str) -> str:
    """Claude Code's ANTHROPIC_CUSTOM_HEADERS (`Name: value` lines) with `x-kimrel-project`
    set to `project`, the user's own headers kept."""
    from kimrel_cli.usage.attribution import PROJECT_HEADER, project_header_value

    lines = [
        line
        for line in (custom_headers or "").splitlines()
        if line.strip() and line.split(":", 1)[0].strip().lower() != PROJECT_HEADER
    ]
    return "\n".join([*lines, f"{PROJECT_HEADER}: {project_header_value(project)}"])


def flag_settings(env: dict[str, str]) -> dict[str, Any]:
    """Claude Code `--settings` content for `kimrel launch claude`: launch's env, above every
    settings.json (whose `env` would otherwise override launch's environment), and no other
    credential (no key helper, no ANTHROPIC_API_KEY from a settings file or the shell), so only
    the relay's token goes to the relay."""
    return {"env": {**env, "ANTHROPIC_API_KEY": ""}, "apiKeyHelper": ""}


def _installed_statusline() -> str:
    """The fast status line command for this kimrel install (absolute paths)."""
    import sys

    import kimrel_cli
    from kimrel_cli import paths

    module = Path(kimrel_cli.__file__).resolve().parent / "statusline" / "__main__.py"
    return statusline_command(sys.executable, str(module), str(paths.state_dir()))


class ClaudeCodeTarget:
    """`kimrel setup claude-code` (settings.json `env`) and `kimrel launch claude`."""

    name = "claude-code"
    title = "Claude Code"
    program = "claude"
    install_hint = "npm install -g @anthropic-ai/claude-code"
    next_step = "claude"
    setup_help = """Configure Claude Code (settings.json `env`), keeping every other setting.

    Examples:\n
      kimrel setup claude-code --dry-run\n
      kimrel setup claude-code --yes\n
      kimrel setup claude-code --via direct --account work --scope project
    """
    launch_help = """Run Claude Code through the relay; every other argument goes to `claude` untouched.

    Examples:\n
      kimrel launch claude\n
      kimrel launch claude --simulate -p "list the files here"\n
      kimrel launch claude --resume SESSION_ID
    """
    options = (
        Option(
            "--scope",
            "user (~/.claude/settings.json), project (.claude/settings.json) or local "
            "(.claude/settings.local.json).",
            "user",
        ),
        Option(
            "--via",
            "relay: through the local relay (its token, never your key); direct: the hosted API "
            "with apiKeyHelper.",
            "relay",
        ),
        Option("--model", "Main model (default: settings' default_model)."),
        Option("--small-model", "Small/fast model (default: settings' small_model)."),
        Option("--account", "Account for --via direct's apiKeyHelper."),
        Option(
            "--statusline",
            "Also show kimrel's status line (model, context, credits, relay); an existing "
            "statusLine is kept and chained.",
            False,
        ),
    )

    def prepare(self, values: Mapping[str, Any], ctx: SetupContext) -> SetupPlan:
        import shlex

        from kimrel_cli.accounts.registry import get_account

        scope, via, model = values["scope"], values["via"], values["model"]
        small_model, account = values["small_model"], values["account"]
        if scope not in ("user", "project", "local"):
            raise SetupError(f"unknown scope {scope!r}", hint="Use user, project or local.")
        if via not in ("relay", "direct"):
            raise SetupError(f"unknown --via {via!r}", hint="Use relay or direct.")
        settings = ctx.settings()
        if model is not None:
            check_model(model, "--model")
        if small_model is not None:
            check_model(small_model, "--small-model")
        if account is not None:
            get_account(account, settings)  # unknown → error with "did you mean"
        path = settings_path(scope)
        account = account or (settings.default_account if via == "direct" else None)
        if via == "direct":
            from kimrel_cli.setup.tools import find_tool

            refusal = direct_mode_refusal(find_tool(self.program).version)
            if refusal is not None:
                raise refusal
        options = ClaudeOptions(
            via=via,
            base_url=ctx.relay_url()
            if via == "relay"
            else account_base_url(settings.accounts, account, settings.base_url),
            model=model or settings.default_model,
            small_model=small_model or settings.small_model,
            token=ctx.relay_token() if via == "relay" else None,
            account=account,
            helper_command=shlex.join([*ctx.kimrel_command, "key", "print"]),
            limits=settings.limits,
            statusline=_installed_statusline() if values.get("statusline") else None,
        )
        return SetupPlan(
            options,
            (path,),
            secret_files=frozenset({path}) if via == "relay" else frozenset(),
            via_relay=via == "relay",
        )

    def change(self, current: Mapping[Path, str], plan: SetupPlan) -> dict[Path, str | None]:
        (path,) = plan.files
        return {path: apply(current[path], plan.options, str(path))}

    def status_file(self) -> Path:
        return settings_path("user")

    def status(self, text: str, running: RunningRelay | None) -> Status:
        return Status(configured_via(text), settings_problem(text, running))

    def launch(self, ctx: LaunchContext) -> LaunchPlan:
        import json

        from kimrel_cli.setup.tools import claude_env

        env = claude_env(
            ctx.relay_url,
            ctx.token,
            model=ctx.model or ctx.settings.default_model,
            small_model=ctx.settings.small_model,
            pinned=ctx.model is not None,
            limits=ctx.settings.limits,
        )
        if ctx.project:
            import os

            env["ANTHROPIC_CUSTOM_HEADERS"] = with_project_header(
                os.environ.get("ANTHROPIC_CUSTOM_HEADERS"), ctx.project
            )
        settings = ctx.private_file(json.dumps(flag_settings(env)), ".json")
        return LaunchPlan(["--settings", settings], {**env, "ANTHROPIC_API_KEY": ""})
