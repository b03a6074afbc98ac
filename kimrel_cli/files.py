"""Safe file writes: temp file beside the target, fsync, os.replace; mode and line endings kept."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path


def detect_newline(text: str) -> str:
    """The line ending a text uses ("\\r\\n" if its first line ending is CRLF, else "\\n")."""
    index = text.find("\n")
    if index > 0 and text[index - 1] == "\r":
        return "\r\n"
    return "\n"


def atomic_write_bytes(path: Path, data: bytes, *, mode: int | None = None) -> None:
    """Write `data` to `path` atomically.

    The file's current permissions are kept; a new file gets `mode` (default 0o600 when not
    given, since kimrel's files may hold tokens). `mode`, when given, always wins.
    """
    path = Path(path)
    from kimrel_cli.paths import make_private_dirs

    make_private_dirs(path.parent)  # dirs it creates are 0700: kimrel's files may hold tokens
    if mode is None:
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except FileNotFoundError:
            mode = 0o600
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, mode)
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    with contextlib.suppress(OSError):
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def atomic_write_text(path: Path, text: str, *, mode: int | None = None) -> None:
    """Write text as UTF-8 atomically. The caller decides line endings (see detect_newline)."""
    atomic_write_bytes(path, text.encode("utf-8"), mode=mode)
