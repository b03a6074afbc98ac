"""Layering rules: pure translators, inward imports, a cheap `kimrel --help`."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "kimrel_cli"
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
PURE_ALLOWED_PREFIXES = ("kimrel_cli.protocols", "kimrel_cli.errors", "kimrel_cli.catalogue")
RINGS = {
    "cli": 4,
    "relay": 3,
    "chat": 3,
    "setup": 3,
    "simulator": 3,
    "hosted": 2,
    "accounts": 2,
    "servers": 2,
}


def imports_of(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


@pytest.mark.parametrize("path", sorted((PACKAGE / "protocols").glob("*.py")), ids=lambda p: p.name)
def test_protocols_modules_import_nothing_with_side_effects(path):
    bad = [
        name
        for name in imports_of(path)
        if name not in PURE_ALLOWED and not name.startswith(PURE_ALLOWED_PREFIXES)
    ]
    assert bad == [], f"{path.name} imports {bad}"


def ring_of(module: str) -> int:
    parts = module.split(".")
    if parts[0] != "kimrel_cli" or len(parts) < 2:
        return 0
    return RINGS.get(parts[1], 1)


@pytest.mark.parametrize(
    "path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE))
)
def test_imports_point_inward(path):
    own = ".".join(("kimrel_cli", *path.relative_to(PACKAGE).with_suffix("").parts))
    mine = ring_of(own)
    if own.split(".")[1] in ("cli", "__main__"):
        return
    for name in imports_of(path):
        if not name.startswith("kimrel_cli."):
            continue
        assert not name.startswith("kimrel_cli.cli"), f"{own} imports the CLI ({name})"
        if mine >= 3 and ring_of(name) == 3:
            # features never import each other, except the relay state file others read
            assert name.split(".")[1] == own.split(".")[1] or name == "kimrel_cli.relay.state", (
                f"{own} imports {name}"
            )
        else:
            assert ring_of(name) <= mine or name == "kimrel_cli.relay.state", (
                f"{own} (ring {mine}) imports {name}"
            )


def test_simulator_never_imports_the_translators():
    for path in (PACKAGE / "simulator").glob("*.py"):
        for name in imports_of(path):
            assert (
                not name.startswith("kimrel_cli.protocols.") or name == "kimrel_cli.protocols.sse"
            ), f"{path.name}: {name}"


def test_cli_import_loads_no_heavy_modules():
    code = (
        "import sys, kimrel_cli.cli.app\n"
        "heavy = [m for m in ('httpx', 'starlette', 'uvicorn', 'keyring', 'markdown_it') if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
