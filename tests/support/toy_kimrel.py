"""`kimrel` with a throwaway third tool setup, "toy", registered: the proof (tests/unit/setup/
test_registry.py) that a tool is one module plus one registry line, nothing else to edit.

Run as a script (`python toy_kimrel.py setup toy --yes`): the target below is registered before
the CLI is built, exactly as setup/registry.py registers Claude Code and Codex. Toy keeps its
settings in `~/.toy/config.json` and its executable is `kimrel-toy`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kimrel_cli.setup import registry
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
)


def config_path() -> Path:
    return Path.home() / ".toy" / "config.json"


class ToyTarget:
    name = "toy"
    title = "Toy"
    program = "kimrel-toy"
    install_hint = "pip install kimrel-toy"
    next_step = "kimrel-toy"
    setup_help = "Configure Toy (~/.toy/config.json `kimrel` block)."
    launch_help = "Run Toy through the relay."
    options = (Option("--model", "Model (default: settings' default_model)."),)

    def prepare(self, values: Mapping[str, Any], ctx: SetupContext) -> SetupPlan:
        model = values["model"]
        if model is not None:
            check_model(model, "--model")
        block = {
            "base_url": ctx.relay_url(),
            "token": ctx.relay_token(),
            "model": model or ctx.settings().default_model,
        }
        path = config_path()
        return SetupPlan(block, (path,), secret_files=frozenset({path}))

    def change(self, current: Mapping[Path, str], plan: SetupPlan) -> dict[Path, str | None]:
        (path,) = plan.files
        config = parse_object(current[path], str(path))
        config["kimrel"] = plan.options
        return {path: dump_like(config, current[path])}

    def status_file(self) -> Path:
        return config_path()

    def status(self, text: str, running: RunningRelay | None) -> Status:
        block = parse_object(text, "config.json").get("kimrel")
        if not isinstance(block, dict):
            return Status(None)
        stale = running is not None and running.token and block.get("token") != running.token
        return Status("relay", "the relay expects another token" if stale else None)

    def launch(self, ctx: LaunchContext) -> LaunchPlan:
        config = ctx.private_file(json.dumps({"model": ctx.model or "default"}), ".json")
        return LaunchPlan(
            ["--base-url", ctx.relay_url, "--config", config], {"TOY_TOKEN": ctx.token}
        )


registry.register(ToyTarget())  # the one registry line


if __name__ == "__main__":
    from kimrel_cli.cli.app import main

    main()
