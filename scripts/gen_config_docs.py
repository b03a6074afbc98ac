"""Write docs/configuration.md from the settings registry (kimrel_cli/config.py: REGISTRY).

Run after changing a setting: `python scripts/gen_config_docs.py`. A test fails when the file
and the registry disagree.
"""

from __future__ import annotations

import sys
from pathlib import Path

from kimrel_cli.config import render_markdown

if __name__ == "__main__":
    target = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"
    target.write_text(render_markdown(), encoding="utf-8")
    sys.stdout.write(f"wrote {target}\n")
