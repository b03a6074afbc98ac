"""What a tool setup is: the `SetupTarget` protocol that `kimrel setup`, `setup status`,
`setup undo` and `kimrel launch` iterate over (setup/registry.py lists the targets).

A target is a small object, one module per tool (claude_code.py, codex.py):

- `name` (`kimrel setup NAME`, `setup undo NAME`, the backups folder), `title`, `program` (the
  executable, and `kimrel launch PROGRAM`), `install_hint`, `next_step` (what to run after
  setup), `setup_help` / `launch_help` (the commands' help) and `options` (setup's own options;
  `--dry-run` and `--yes` are common to all);
- `prepare(values, ctx)`: check the option values and look up what the change needs (settings,
  the relay's URL and token, the installed version); raises SetupError before anything is read;
- `change(current, plan)`: the change itself, pure: the current texts of `plan.files` → every
  file the tool should have (None: absent). The CLI shows the diff, backs up and writes;
- `status_file()` and `status(text, running)`: which file `setup status` looks at, and whether
  kimrel configured it (`via`) and what would stop it working (`problem`);
- `launch(ctx)`: the arguments and environment that point the tool at the relay for one run,
  without editing any of its files.

The CLI owns all I/O around these (prompts, diffs, backups, the relay), so a target needs no
import from the relay or the CLI (features never import each other).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from kimrel_cli.errors import SetupError

if TYPE_CHECKING:
    from kimrel_cli.config import Settings


@dataclass(frozen=True)
class Option:
    """One option of `kimrel setup NAME`: `--flag`, its help, its default (a bool: a switch;
    None: unset). The value reaches `prepare` under the flag's name, `--small-model` →
    `small_model`."""

    flag: str
    help: str
    default: str | bool | None = None

    @property
    def key(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")


@dataclass(frozen=True)
class SetupContext:
    """What `prepare` may need from outside the setup feature (built by the CLI); the callables
    load on use, so a refused option is reported before a broken settings file is."""

    settings: Callable[[], Settings]
    relay_url: Callable[[], str]  # the running relay's URL, else the one settings name
    relay_token: Callable[[], str]  # the token the relay accepts (created on first use)
    kimrel_command: tuple[str, ...]  # how another program runs this kimrel (absolute path)
    warn: Callable[[str], None]


@dataclass(frozen=True)
class SetupPlan:
    """What `prepare` decided: the tool's own options for `change`, the files whose current text
    `change` edits, the files to make 0600 (they hold the relay token), and whether the written
    config points at the relay (setup then says whether it answers)."""

    options: Any
    files: tuple[Path, ...]
    secret_files: frozenset[Path] = frozenset()
    via_relay: bool = True


@dataclass(frozen=True)
class RunningRelay:
    url: str
    token: str | None = field(repr=False)  # the local token: a secret


@dataclass(frozen=True)
class Status:
    via: str | None  # "relay", "direct", or None: not configured by kimrel
    problem: str | None = None


@dataclass(frozen=True)
class LaunchContext:
    """One `kimrel launch PROGRAM` run: the relay to use and its token, `--model` (None: the
    settings' default), and `private_file(text, suffix)`, which writes a 0600 file that is
    removed when the tool exits and returns its path. `project` goes to the relay in the
    `x-kimrel-project` header (usage/attribution.py), so the usage ledger can group by it."""

    relay_url: str
    token: str = field(repr=False)  # the local token: a secret
    model: str | None
    settings: Settings
    private_file: Callable[[str, str], str]
    project: str | None = None  # the directory launch ran in (its name): usage by project


@dataclass(frozen=True)
class LaunchPlan:
    args: list[str]  # before the user's own arguments
    env: dict[str, str] = field(default_factory=dict)  # on top of kimrel's environment


class SetupTarget(Protocol):
    name: str
    title: str
    program: str
    install_hint: str
    next_step: str
    setup_help: str
    launch_help: str
    options: tuple[Option, ...]

    def prepare(self, values: Mapping[str, Any], ctx: SetupContext) -> SetupPlan: ...

    def change(self, current: Mapping[Path, str], plan: SetupPlan) -> dict[Path, str | None]: ...

    def status_file(self) -> Path: ...

    def status(self, text: str, running: RunningRelay | None) -> Status: ...

    def launch(self, ctx: LaunchContext) -> LaunchPlan: ...


def check_model(name: str, option: str) -> str:
    """`name` when it is a catalogue model, else SetupError with a "did you mean"."""
    import difflib

    from kimrel_cli.catalogue import MODELS

    if name in MODELS:
        return name
    close = difflib.get_close_matches(name, list(MODELS), n=1)
    hint = f"Did you mean {close[0]!r}? " if close else ""
    raise SetupError(
        f"unknown model {name!r} for {option}",
        hint=hint + "Models: " + ", ".join(MODELS) + " (kimrel models lists them).",
    )


def moved(program: str | None, tool: str) -> str | None:
    """The problem when a kimrel the tool's config runs by absolute path no longer exists."""
    if program and Path(program).is_absolute() and not Path(program).exists():
        return (
            f"{program} no longer exists (kimrel moved or was reinstalled): "
            f"run kimrel setup {tool} again"
        )
    return None
