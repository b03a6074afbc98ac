"""The tool setups kimrel knows, in the order `setup status` lists them. `kimrel setup NAME`,
`setup status`, `setup undo NAME` and `kimrel launch PROGRAM` are built from this list
(cli/setup.py, cli/launch.py); a new tool is a module with a `SetupTarget` (setup/target.py) and
one `register(...)` line here."""

from __future__ import annotations

from kimrel_cli.errors import SetupError
from kimrel_cli.setup.claude_code import ClaudeCodeTarget
from kimrel_cli.setup.codex import CodexTarget
from kimrel_cli.setup.target import SetupTarget

TARGETS: dict[str, SetupTarget] = {}


def register(target: SetupTarget) -> SetupTarget:
    """Add a target; its name (setup) and program (launch) must be new."""
    for other in TARGETS.values():
        if target.name == other.name or target.program == other.program:
            raise ValueError(f"a tool setup named {target.name!r} or {target.program!r} exists")
    TARGETS[target.name] = target
    return target


def names(words: list[str], last: str = "or") -> str:
    """`a`, `a or b`, `a, b or c` (or with `and`)."""
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + f" {last} " + words[-1]


def get(name: str) -> SetupTarget:
    """The target `kimrel setup NAME` / `setup undo NAME` means, else SetupError."""
    if name not in TARGETS:
        raise SetupError(f"unknown tool {name!r}", hint=f"Use {names(list(TARGETS))}.")
    return TARGETS[name]


register(ClaudeCodeTarget())
register(CodexTarget())
