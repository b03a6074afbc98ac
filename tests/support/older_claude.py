"""A stand-in `claude` that answers `--version` as 2.1.100, a version direct mode still serves.

`kimrel setup claude-code --via direct` refuses Claude Code 2.1.154 and later (see
docs/claude-code.md); tests of what direct mode writes, or of settings left by an earlier setup,
put this first on PATH for the setup step only.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def older_claude_on_path(where: Path, version: str = "2.1.100") -> Iterator[Path]:
    bin_dir = where / "older-claude-bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    script = bin_dir / "claude"
    script.write_text(f"#!/bin/sh\necho '{version} (Claude Code)'\n")
    script.chmod(0o755)
    previous = os.environ["PATH"]
    os.environ["PATH"] = f"{bin_dir}{os.pathsep}{previous}"
    try:
        yield script
    finally:
        os.environ["PATH"] = previous
