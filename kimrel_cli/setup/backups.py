"""Apply a set of file changes safely, with a timestamped backup, and take them back byte for byte.

A change set maps paths to new text (None: the file should not exist). Applying it saves every
file's current bytes (or that it was absent) and mode under `state_dir()/backups/<tool>/<id>/`,
with what kimrel wrote and the folders it had to create, then writes each file atomically.

Before writing, each file is read again and compared with what the diff was made from (`expected`):
a file changed meanwhile (an edit while the confirmation prompt was open), or a read-only one, is
refused with nothing written. A symlinked file (dotfile managers) is written through the link, to
its target, so the link stays a link, for setup and undo alike. The backup is recorded as
incomplete before the first write and marked complete (atomically) after the last: an incomplete
backup whose files are all still their originals (a setup killed or failed before writing) is
ignored, so it never makes undo refuse. Setups and undos of one tool take a lock, so two concurrent
runs each keep a whole backup in the chain.

Undo restores each file byte for byte (and its mode) when it is still what kimrel wrote. When the
tool or the user changed it since (Codex adds `[projects.…]`, `[notice]`, `[mcp_servers.…]`),
only kimrel's keys are taken back, key by key (TOML and JSON files), and everything else stays;
it refuses only if one of kimrel's own keys was changed since (then only with force). Folders
kimrel created are removed when they end up empty.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
    # path → {"original": b64 | None, "written": sha | None, "written_text": b64, "mode": "0o644"}
    files: dict[str, dict[str, str | None]]
    created_dirs: list[str] = field(default_factory=list)

    @property
    def path(self) -> Path:
        return backups_dir(self.tool) / self.id


def write_target(path: Path) -> Path:
    """Where writing `path` should go: the file a symlink points at, else the path itself."""
    return Path(os.path.realpath(path)) if path.is_symlink() else path


@contextlib.contextmanager
def _locked(tool: str) -> Any:
    """One setup or undo of `tool` at a time (a no-op where flock does not exist)."""
    root = paths.ensure_dir(backups_dir(tool).parent)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    fd = os.open(root / f".{tool}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _check_writable(path: Path, current: bytes | None, expected: bytes | object | None) -> None:
    if expected is not _MISSING and current != expected:
        raise SetupError(
            f"{path} changed while kimrel was waiting for confirmation; kimrel has not changed it",
            hint="Run the setup again to see a diff against the file as it is now.",
        )
    if current is None:
        return
    mode = os.stat(path).st_mode
    if not mode & stat.S_IWUSR or not os.access(path, os.W_OK):
        raise SetupError(
            f"{path} is read-only; kimrel has not changed it",
            hint=f"Make it writable (chmod u+w {path}) and run the setup again, "
            "or make the change by hand.",
        )


def _new_backup_dir(tool: str, created: float) -> Path:
    stamp = (
        time.strftime("%Y%m%d-%H%M%S", time.localtime(created))
        + f"-{int(created * 1000) % 1000:03d}"
    )
    root = paths.ensure_dir(backups_dir(tool))
    for n in range(1000):
        folder = root / (stamp if n == 0 else f"{stamp}-{n}")
        try:
            folder.mkdir(mode=0o700)
        except FileExistsError:
            continue
        return folder
    raise SetupError(f"cannot create a backup folder in {root}")  # pragma: no cover


def _write_record(folder: Path, record: dict[str, Any]) -> None:
    atomic_write_bytes(folder / "backup.json", json.dumps(record, indent=1).encode(), mode=0o600)


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
    tool: str,
    changes: dict[Path, str | None],
    *,
    secret_files: set[Path] = frozenset(),  # type: ignore[assignment]
    expected: dict[Path, bytes | None] | None = None,
) -> Backup:
    """Back up, then write every change atomically. Files holding a token end up 0600.

    `expected`: each file's bytes when the change was made; a file that differs now is refused.
    """
    with _locked(tool):
        currents: dict[Path, bytes | None] = {}
        for path in changes:
            current = read_bytes(path)
            _check_writable(
                path, current, _MISSING if expected is None else expected.get(path, _MISSING)
            )
            currents[path] = current
        created = time.time()
        files: dict[str, dict[str, str | None]] = {}
        created_dirs: list[str] = []
        for path, text in changes.items():
            original = currents[path]
            new = None if text is None else text.encode("utf-8")
            files[str(path)] = {
                "original": None
                if original is None
                else base64.b64encode(original).decode("ascii"),
                "written": sha256(new),
                "written_text": None if new is None else base64.b64encode(new).decode("ascii"),
                "mode": None if original is None else oct(stat.S_IMODE(path.stat().st_mode)),
            }
            folder = write_target(path).parent
            while not folder.exists() and str(folder) not in created_dirs:
                created_dirs.append(str(folder))
                folder = folder.parent
        folder = _new_backup_dir(tool, created)
        backup = Backup(folder.name, tool, created, files, created_dirs)
        record = {"tool": tool, "created": created, "files": files, "created_dirs": created_dirs}
        _write_record(folder, {**record, "complete": False})
        for path, text in changes.items():
            try:
                if text is None:
                    if write_target(path).exists():
                        write_target(path).unlink()  # through a link, as undo does
                    continue
                mode = None
                if path in secret_files:
                    mode = 0o600
                elif currents[path] is not None:
                    mode = stat.S_IMODE(path.stat().st_mode)
                atomic_write_bytes(
                    write_target(path),
                    text.encode("utf-8"),
                    mode=mode if mode is not None else 0o644,
                )
            except OSError as exc:
                raise SetupError(
                    f"could not write {path}: {exc.strerror or exc}",
                    hint=f"Undo what was written with: kimrel setup undo {tool}",
                ) from None
        _write_record(folder, {**record, "complete": True})
    return backup


def _untouched(info: dict[str, str | None], path: Path) -> bool:
    """The file is still exactly what it was before the backup was taken."""
    original = None if info["original"] is None else base64.b64decode(info["original"])
    return read_bytes(path) == original


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
        if data.get("complete") is False and all(
            _untouched(info, Path(p)) for p, info in data["files"].items()
        ):
            continue  # a setup killed or failed before it wrote anything: nothing to undo
        out.append(
            Backup(
                entry.name,
                tool,
                float(data["created"]),
                data["files"],
                list(data.get("created_dirs") or []),
            )
        )
    return out


_MISSING = object()


def _flatten(value: Any, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    """Leaf paths of nested mappings (lists and empty tables are leaves)."""
    if isinstance(value, dict) and value:
        out: dict[tuple[str, ...], Any] = {}
        for key, item in value.items():
            out.update(_flatten(item, (*prefix, str(key))))
        return out
    return {prefix: value}


def _parse_any(path: Path, data: bytes | None) -> tuple[Any, Any]:
    """(editable document, plain value) of a TOML or JSON file's bytes."""
    text = (data or b"").decode("utf-8")
    if path.suffix == ".toml":
        import tomlkit

        doc = tomlkit.parse(text)
        return doc, doc.unwrap()
    from kimrel_cli.setup.jsonedit import parse_object

    value = parse_object(text, str(path))
    return value, json.loads(json.dumps(value))


def _container(doc: Any, parts: tuple[str, ...], create_from: Any = None) -> Any:
    node = doc
    for part in parts:
        if part not in node:
            if create_from is None:
                return None
            import tomlkit

            node[part] = tomlkit.table() if hasattr(doc, "unwrap") else {}
        node = node[part]
    return node


def merge_undo(
    path: Path, original: bytes | None, written: bytes, current: bytes
) -> tuple[bytes | None, list[str]]:
    """Take kimrel's keys back out of `current`, keeping every other change.

    Returns (new bytes or None to delete the file, kimrel's keys changed since it wrote them).
    Raises ValueError when the files cannot be compared key by key.
    """
    if path.suffix not in (".toml", ".json"):
        raise ValueError("not a TOML or JSON file")
    try:
        original_doc, o = _parse_any(path, original)
        _, w = _parse_any(path, written)
        doc, c = _parse_any(path, current)
    except Exception as exc:  # unparsable now: only a byte-level restore is possible
        raise ValueError(str(exc)) from None
    o, w, c = _flatten(o), _flatten(w), _flatten(c)
    o.pop((), None), w.pop((), None), c.pop((), None)
    ours = sorted(k for k in o.keys() | w.keys() if o.get(k, _MISSING) != w.get(k, _MISSING))
    conflicts = [
        ".".join(k)
        for k in ours
        if c.get(k, _MISSING) not in (w.get(k, _MISSING), o.get(k, _MISSING))
    ]
    if conflicts:
        return None, conflicts
    for key in ours:
        if c.get(key, _MISSING) == o.get(key, _MISSING):
            continue
        if key in o:
            parent = _container(doc, key[:-1], create_from=True)
            parent[key[-1]] = _container(original_doc, key[:-1])[key[-1]]
            continue
        parent = _container(doc, key[:-1])
        if parent is not None and key[-1] in parent:
            del parent[key[-1]]
        # drop tables kimrel created that are now empty
        for depth in range(len(key) - 1, 0, -1):
            node = _container(doc, key[:depth])
            if node is None or len(node) or _container(original_doc, key[:depth]) is not None:
                break
            del _container(doc, key[: depth - 1])[key[depth - 1]]
    if original is None and not len(doc):
        return None, []
    if path.suffix == ".toml":
        return doc.as_string().encode("utf-8"), []
    from kimrel_cli.setup.jsonedit import dump_like

    return dump_like(doc, current.decode("utf-8")).encode("utf-8"), []


def _plan(backup: Backup) -> tuple[dict[Path, bytes | None], list[str]]:
    """What undo writes per file (None: delete), and kimrel's keys changed by hand since."""
    plan: dict[Path, bytes | None] = {}
    conflicts: list[str] = []
    for path_text, info in backup.files.items():
        path = Path(path_text)
        original = None if info["original"] is None else base64.b64decode(info["original"])
        current = read_bytes(path)
        if sha256(current) == info["written"]:
            plan[path] = original
            continue
        if current == original:
            continue  # never written (a setup stopped midway) or already taken back
        written_text = info.get("written_text")
        if current is None or written_text is None:
            conflicts.append(path_text)
            continue
        try:
            merged, changed = merge_undo(path, original, base64.b64decode(written_text), current)
        except ValueError:
            conflicts.append(path_text)
            continue
        if changed:
            conflicts.append(f"{path_text} ({', '.join(changed)})")
        else:
            plan[path] = merged
    return plan, conflicts


def restore(tool: str, backup_id: str | None = None, *, force: bool = False) -> Backup:
    with _locked(tool):
        return _restore(tool, backup_id, force=force)


def _restore(tool: str, backup_id: str | None, *, force: bool) -> Backup:
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
    plan, conflicts = _plan(chosen)
    if conflicts and not force:
        raise SetupError(
            "kimrel's settings were changed by hand since kimrel wrote them: "
            + ", ".join(conflicts),
            hint="Undoing would lose those edits. Pass --force to restore the backup anyway.",
        )
    if force:
        plan = {
            Path(p): None if info["original"] is None else base64.b64decode(info["original"])
            for p, info in chosen.files.items()
        }
    for path, data in plan.items():
        info = chosen.files[str(path)]
        if data is None:
            if write_target(path).exists():
                write_target(path).unlink()  # through a link: the link itself stays
            continue
        if info.get("mode"):
            mode = int(str(info["mode"]), 8)
        else:
            mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else 0o600
        atomic_write_bytes(write_target(path), data, mode=mode)
    for folder in sorted(chosen.created_dirs, key=len, reverse=True):
        with contextlib.suppress(OSError):
            Path(folder).rmdir()  # only when empty
    done = chosen.path.with_name(chosen.id + ".undone")
    chosen.path.rename(done)
    return chosen
