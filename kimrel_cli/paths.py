"""Where kimrel keeps its files: the config dir and the state dir, one function each.

`KIMREL_CONFIG_DIR` and `KIMREL_STATE_DIR` override the platformdirs defaults. Nothing here
creates a directory on import; callers ask for `ensure_dir()` when they write.
"""

from __future__ import annotations

import os
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
    """Create `path` (and parents) with a private mode if it does not exist; return it."""
    path.mkdir(parents=True, exist_ok=True, mode=mode)
    return path
