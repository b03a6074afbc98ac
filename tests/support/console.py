"""Run the installed `kimrel` console script the way a user does (for tests about the CLI)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def kimrel_script() -> str:
    """The `kimrel` script installed next to this interpreter (else the one on PATH)."""
    here = Path(sys.executable).parent / ("kimrel.exe" if os.name == "nt" else "kimrel")
    found = str(here) if here.exists() else shutil.which("kimrel")
    if not found:
        pytest.fail("the kimrel console script is not installed: run `pip install -e .` first")
    return found


def run_kimrel(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`kimrel ARGS…` in the test's sandbox environment, wide and without colour."""
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}
    return subprocess.run(
        [kimrel_script(), *args], capture_output=True, text=True, env=env, timeout=timeout
    )
