"""Apply a set of file changes safely, with a timestamped backup, and take them back byte for byte.

A change set maps paths to new text (None: the file should not exist). Applying it saves every
file's current bytes (or that it was absent) under `state_dir()/backups/<tool>/<id>/`, records
the sha256 of what kimrel wrote, then writes each file atomically. Undo restores the backup
unless a file was changed by hand since kimrel wrote it (then only with force).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from kimrel_cli import paths
from kimrel_cli.errors import SetupError
from kimrel_cli.files import atomic_write_bytes


def sha256(data: bytes | None) -> str | None:
    return None if data is None else hashlib.sha256(data).hexdigest()


def read_bytes(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def backups_dir(tool: str) -> Path:
    return paths.state_dir() / "backups" / tool


@dataclass(frozen=True)
class Backup:
    id: str
    tool: str
    created: float
    files: dict[
        str, dict[str, str | None]
    ]  # path → {"original": b64 | None, "written": sha | None}

    @property
    def path(self) -> Path:
        return backups_dir(self.tool) / self.id


def pending_changes(changes: dict[Path, str | None]) -> dict[Path, str | None]:
    """Only the files whose content would change."""
    out = {}
    for path, text in changes.items():
        current = read_bytes(path)
        new = None if text is None else text.encode("utf-8")
        if current != new:
            out[path] = text
    return out


def apply_changes(
    tool: str, changes: dict[Path, str | None], *, secret_files: set[Path] = frozenset()
) -> Backup:  # type: ignore[assignment]
    """Back up, then write every change atomically. Files holding a token end up 0600."""
    created = time.time()
    backup_id = (
        time.strftime("%Y%m%d-%H%M%S", time.localtime(created))
        + f"-{int(created * 1000) % 1000:03d}"
    )
    files: dict[str, dict[str, str | None]] = {}
    for path, text in changes.items():
        original = read_bytes(path)
        new = None if text is None else text.encode("utf-8")
        files[str(path)] = {
            "original": None if original is None else base64.b64encode(original).decode("ascii"),
            "written": sha256(new),
        }
    backup = Backup(backup_id, tool, created, files)
    paths.ensure_dir(backup.path)
    (backup.path / "backup.json").write_text(
        json.dumps({"tool": tool, "created": created, "files": files}, indent=1)
    )
    os.chmod(backup.path / "backup.json", 0o600)
    for path, text in changes.items():
        if text is None:
            if path.exists():
                path.unlink()
            continue
        mode = None
        if path in secret_files:
            mode = 0o600
        elif path.exists():
            mode = stat.S_IMODE(path.stat().st_mode)
        atomic_write_bytes(path, text.encode("utf-8"), mode=mode if mode is not None else 0o644)
    return backup


def list_backups(tool: str) -> list[Backup]:
    out = []
    root = backups_dir(tool)
    for entry in sorted(root.iterdir()) if root.exists() else []:
        if entry.name.endswith(".undone"):
            continue
        try:
            data = json.loads((entry / "backup.json").read_text())
        except (OSError, ValueError):
            continue
        out.append(Backup(entry.name, tool, float(data["created"]), data["files"]))
    return out


def hand_edited(backup: Backup) -> list[str]:
    """Files whose current content is not what kimrel wrote in this backup's change."""
    return [p for p, info in backup.files.items() if sha256(read_bytes(Path(p))) != info["written"]]


def restore(tool: str, backup_id: str | None = None, *, force: bool = False) -> Backup:
    backups = list_backups(tool)
    if not backups:
        raise SetupError(f"no backups for {tool}: kimrel has not changed its configuration")
    chosen = (
        backups[-1] if backup_id is None else next((b for b in backups if b.id == backup_id), None)
    )
    if chosen is None:
        raise SetupError(
            f"no backup {backup_id!r} for {tool}",
            hint=f"See them with: kimrel setup undo {tool} --list",
        )
    edited = hand_edited(chosen)
    if edited and not force:
        raise SetupError(
            "changed by hand since kimrel wrote it: " + ", ".join(edited),
            hint="Undoing would lose those edits. Pass --force to restore the backup anyway.",
        )
    for path_text, info in chosen.files.items():
        path = Path(path_text)
        original = info["original"]
        if original is None:
            if path.exists():
                path.unlink()
        else:
            mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else 0o600
            atomic_write_bytes(path, base64.b64decode(original), mode=mode)
    done = chosen.path.with_name(chosen.id + ".undone")
    chosen.path.rename(done)
    return chosen
