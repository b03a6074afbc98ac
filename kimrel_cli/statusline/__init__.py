"""Claude Code's status line (`kimrel statusline`, `kimrel-statusline`): see line.py.

`__main__.py` is the launcher `kimrel setup claude-code --statusline` installs.
"""

from __future__ import annotations

from kimrel_cli.statusline.line import main

__all__ = ["main"]
