"""The chat prompt history holds every line typed (pasted keys included): it is 0600."""

from __future__ import annotations

import os
import stat

from kimrel_cli import paths
from kimrel_cli.chat.repl import history_file


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_new_history_file_is_private():
    old = os.umask(0o022)
    try:
        path = history_file()
    finally:
        os.umask(old)
    assert path == paths.state_dir() / "chat_history"
    assert _mode(path) == 0o600


def test_existing_readable_history_is_narrowed_and_kept():
    path = paths.ensure_dir(paths.state_dir()) / "chat_history"
    path.write_text("\n# 2026-01-01\n+hello\n")
    os.chmod(path, 0o644)
    assert history_file() == path
    assert _mode(path) == 0o600
    assert path.read_text() == "\n# 2026-01-01\n+hello\n"
