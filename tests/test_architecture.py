"""Layering rules applied to the package: pure translators, inward imports, a cheap `kimrel --help`.

The rules themselves live in `tests/architecture_rules.py`; `tests/unit/test_architecture_rules.py`
shows that each of them fails on a forbidden import.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.architecture_rules import (
    layering_violations,
    purity_violations,
    ring_of,
    simulator_violations,
    translator_violations,
)

PACKAGE = Path(__file__).resolve().parent.parent / "kimrel_cli"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


SOURCES = sorted(PACKAGE.rglob("*.py"))
MODULES = frozenset(module_name(p) for p in SOURCES)


def check(rule, path: Path) -> list[str]:
    return [
        str(v)
        for v in rule(
            path.read_text(encoding="utf-8"),
            module_name(path),
            is_package=path.name == "__init__.py",
            modules=MODULES,
        )
    ]


def test_every_top_level_module_is_in_a_ring():
    for module in MODULES:
        ring_of(module)  # raises UnknownPackage for a package nobody placed


@pytest.mark.parametrize("path", sorted((PACKAGE / "protocols").glob("*.py")), ids=lambda p: p.name)
def test_protocols_modules_are_pure(path):
    assert check(purity_violations, path) == []


@pytest.mark.parametrize("path", sorted((PACKAGE / "protocols").glob("*.py")), ids=lambda p: p.name)
def test_translators_share_code_only_through_the_hub(path):
    assert check(translator_violations, path) == []


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_inward(path):
    assert check(layering_violations, path) == []


@pytest.mark.parametrize("path", sorted((PACKAGE / "simulator").glob("*.py")), ids=lambda p: p.name)
def test_simulator_never_imports_the_translators(path):
    assert check(simulator_violations, path) == []


def test_cli_import_loads_no_heavy_modules():
    code = (
        "import sys, kimrel_cli.cli.app\n"
        "heavy = [m for m in ('httpx', 'starlette', 'uvicorn', 'keyring', 'markdown_it') if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
