"""Where kimrel keeps its files: the config dir and the state dir, one function each.

`KIMREL_CONFIG_DIR` and `KIMREL_STATE_DIR` override the platformdirs defaults. Nothing here
creates a directory on import; callers ask for `ensure_dir()` when they write.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

APP_NAME = "kimrel"


def config_dir() -> Path:
    """The directory of `config.toml` (non-secret settings)."""
    override = os.environ.get("KIMREL_CONFIG_DIR")
    if override:
        return Path(override).expanduser()
    from platformdirs import user_config_path

    return user_config_path(APP_NAME, appauthor=False)


def state_dir() -> Path:
    """The directory of state: backups, logs, the relay's state file, chat history."""
    override = os.environ.get("KIMREL_STATE_DIR")
    if override:
        return Path(override).expanduser()
    from platformdirs import user_state_path

    return user_state_path(APP_NAME, appauthor=False)


def config_file() -> Path:
    return config_dir() / "config.toml"


def ensure_dir(path: Path, mode: int = 0o700) -> Path:
    """Create `path` (and missing parents) with a private mode; return it.

    An existing `path` of ours that others can read (made by an older kimrel, or by a tool
    under a 022 umask) is narrowed to `mode`: kimrel's dirs hold tokens and keys.
    """
    make_private_dirs(path, mode)
    with contextlib.suppress(OSError):
        info = path.stat()
        if info.st_uid == os.getuid() and stat.S_IMODE(info.st_mode) & ~mode:
            os.chmod(path, mode)
    return path


def make_private_dirs(path: Path, mode: int = 0o700) -> None:
    """`mkdir -p` where every directory created gets `mode` whatever the umask."""
    missing: list[Path] = []
    current = Path(path)
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):
            directory.mkdir(mode=mode)
            os.chmod(directory, mode)
