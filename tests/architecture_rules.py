"""The layering rules of kimrel_cli as pure functions over source text, so they can be tested.

`tests/test_architecture.py` applies them to the package; `tests/unit/test_architecture_rules.py`
feeds them forbidden snippets to prove each rule can fail.

Rings, innermost first: core (0) → services (1) → features (2) → cli (3). Imports point inward;
features never import each other; nothing imports the CLI; the simulator never imports the
translators; `protocols/` imports only pure standard-library modules and calls no I/O builtins;
a translator never imports another translator: what two of them share lives in the chat hub.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

CORE = {
    "__init__",
    "__main__",
    "errors",
    "paths",
    "config",
    "catalogue",
    "codex_config",
    "apikey",
    "files",
    "wording",
    "protocols",
}
SERVICES = {"hosted", "accounts", "servers", "usage"}
FEATURES = {"relay", "chat", "setup", "simulator", "statusline"}
CLI = {"cli"}
ENTRY_POINTS = {"__main__"}  # may import the CLI: it is how `python -m kimrel_cli` starts it

PURE_ALLOWED = {
    "__future__",
    "json",
    "re",
    "base64",
    "binascii",
    "hashlib",
    "math",
    "dataclasses",
    "typing",
    "collections",
    "collections.abc",
    "enum",
    "itertools",
    "functools",
    "copy",
    "string",
}
PURE_ALLOWED_PACKAGES = ("kimrel_cli.protocols", "kimrel_cli.errors", "kimrel_cli.catalogue")
IMPURE_CALLS = {"open", "print", "input", "exec", "eval", "compile", "__import__", "breakpoint"}
SIMULATOR_MAY_USE = {"kimrel_cli.protocols", "kimrel_cli.protocols.sse"}
# Modules of protocols/ that are not translators; any other module there is one.
PROTOCOLS_SHARED = {"chat_hub", "errors", "ids", "sse", "images", "tokens", "codex_models"}


class UnknownPackage(Exception):
    """A top-level module of kimrel_cli that no ring lists: add it to a ring on purpose."""


def area_of(module: str) -> str:
    """`kimrel_cli.relay.routes` → `relay`; `kimrel_cli` → `__init__`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def ring_of(module: str) -> int:
    area = area_of(module)
    for ring, members in enumerate((CORE, SERVICES, FEATURES, CLI)):
        if area in members:
            return ring
    raise UnknownPackage(
        f"{module}: top-level '{area}' is in no ring (tests/architecture_rules.py)"
    )


def _resolve_relative(own: str, is_package: bool, level: int, module: str | None) -> str:
    base = own.split(".") if is_package else own.split(".")[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join([*base, module] if module else base)


def imported_modules(
    source: str, own: str, *, is_package: bool = False, modules: frozenset[str] | None = None
) -> list[str]:
    """Every module a source file may load, absolute; relative imports are resolved against
    `own`. `from A import b` yields A, and A.b when A.b is a module (`modules`, the package's
    real modules; when not given, every A.b counts)."""
    names: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = (
                _resolve_relative(own, is_package, node.level, node.module)
                if node.level
                else node.module or ""
            )
            names.append(module)
            names += [
                f"{module}.{alias.name}"
                for alias in node.names
                if alias.name != "*" and (modules is None or f"{module}.{alias.name}" in modules)
            ]
        elif (
            isinstance(node, ast.Call)
            and _called_name(node) in {"import_module", "__import__"}
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names.append(node.args[0].value)
    return names


def _called_name(node: ast.Call) -> str | None:
    if isinstance(node.func, ast.Name):
        return node.func.id
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    return None


def _is_own(name: str) -> bool:
    return name == "kimrel_cli" or name.startswith("kimrel_cli.")


@dataclass(frozen=True)
class Violation:
    module: str
    message: str

    def __str__(self) -> str:
        return f"{self.module}: {self.message}"


def layering_violations(
    source: str, own: str, *, is_package: bool = False, modules: frozenset[str] | None = None
) -> list[Violation]:
    """Imports that point outward, across features, or into the CLI."""
    mine = ring_of(own)
    my_area = area_of(own)
    found: list[Violation] = []
    for name in imported_modules(source, own, is_package=is_package, modules=modules):
        if not _is_own(name) or name == "kimrel_cli":
            continue
        theirs, their_area = ring_of(name), area_of(name)
        if their_area in CLI and my_area not in CLI | ENTRY_POINTS:
            found.append(Violation(own, f"imports the CLI ({name})"))
        elif my_area in CLI | ENTRY_POINTS:
            continue
        elif theirs == mine and mine == 2 and their_area != my_area:
            found.append(Violation(own, f"feature imports another feature ({name})"))
        elif theirs > mine:
            found.append(Violation(own, f"ring {mine} imports ring {theirs} ({name})"))
    return found


def purity_violations(
    source: str, own: str, *, is_package: bool = False, modules: frozenset[str] | None = None
) -> list[Violation]:
    """Translators: only pure standard-library imports, no I/O builtins."""
    found = [
        Violation(own, f"imports {name}")
        for name in imported_modules(source, own, is_package=is_package, modules=modules)
        if name not in PURE_ALLOWED
        and name != "kimrel_cli"
        and not any(name == p or name.startswith(p + ".") for p in PURE_ALLOWED_PACKAGES)
        and not (
            name.split(".")[0] in PURE_ALLOWED and not _is_own(name)
        )  # `from typing import Any` yields typing.Any
    ]
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in IMPURE_CALLS
        ):
            found.append(Violation(own, f"calls {node.func.id}()"))
    return found


def simulator_violations(
    source: str, own: str, *, is_package: bool = False, modules: frozenset[str] | None = None
) -> list[Violation]:
    """The simulator may use the wire helpers (sse) but never a translator."""
    return [
        Violation(own, f"imports a translator ({name})")
        for name in imported_modules(source, own, is_package=is_package, modules=modules)
        if name.startswith("kimrel_cli.protocols") and name not in SIMULATOR_MAY_USE
    ]


def _translator_of(name: str) -> str | None:
    """`kimrel_cli.protocols.anthropic_to_chat(.x)` → `anthropic_to_chat`; None if no translator."""
    parts = name.split(".")
    if len(parts) < 3 or parts[:2] != ["kimrel_cli", "protocols"]:
        return None
    return None if parts[2] in PROTOCOLS_SHARED else parts[2]


def translator_violations(
    source: str, own: str, *, is_package: bool = False, modules: frozenset[str] | None = None
) -> list[Violation]:
    """In protocols/, no module imports a translator other than itself (shared code: chat_hub)."""
    mine = _translator_of(own)
    return [
        Violation(own, f"imports another translator ({name}); share it through chat_hub")
        for name in imported_modules(source, own, is_package=is_package, modules=modules)
        if _translator_of(name) not in (None, mine)
    ]
