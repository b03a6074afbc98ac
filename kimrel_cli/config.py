"""The settings file (`config.toml`): read and written with tomlkit so comments survive.

Non-secret settings only. A file that does not parse raises ConfigError naming the path, line
and column, and is never overwritten. `KIMREL_BASE_URL` overrides the base URL for one command.

Layout (every key optional):

```toml
base_url = "https://kimrel.com/api"
default_model = "kimi-k2.5"
small_model = "kimi-k2"
default_account = "work"

[relay]
host = "127.0.0.1"
port = 8723
messages_upstream = "chat"     # or "messages": send /v1/messages to the hosted /v1/messages as is
mid_conversation_system = "keep"   # or "fold"

[limits."kimi-k2.6"]
max_output_tokens = 16384

[aliases]
"claude-opus-4" = "kimi-k2.6"

[accounts.work]
base_url = "https://kimrel.com/api"
storage = "keyring"            # or "file" (--insecure-storage)
last4 = "abcd"
```
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kimrel_cli import paths
from kimrel_cli.catalogue import DEFAULT_MODEL, DEFAULT_SMALL_MODEL
from kimrel_cli.errors import ConfigError

DEFAULT_BASE_URL = "https://kimrel.com/api"
DEFAULT_RELAY_HOST = "127.0.0.1"
DEFAULT_RELAY_PORT = 8723

# Keys `kimrel config set` accepts, with their type and a one-line description.
KNOWN_KEYS: dict[str, tuple[type, str]] = {
    "base_url": (str, "hosted API root (default https://kimrel.com/api)"),
    "default_model": (str, "model used by chat and as the relay's main model"),
    "small_model": (str, "model for haiku-like client names"),
    "default_account": (str, "account used when --account is not given"),
    "relay.host": (str, "address `kimrel serve` binds (default 127.0.0.1)"),
    "relay.port": (int, f"port `kimrel serve` listens on (default {DEFAULT_RELAY_PORT})"),
    "relay.messages_upstream": (str, "'chat' (translate, default) or 'messages' (pass through)"),
    "relay.mid_conversation_system": (str, "'keep' system messages in place (default) or 'fold'"),
    "relay.low_credit_warning": (int, "warn when the balance falls below this (default 50)"),
}


@dataclass(frozen=True)
class Settings:
    """A typed, read-only view of the settings file with defaults and env overrides applied."""

    base_url: str = DEFAULT_BASE_URL
    default_model: str = DEFAULT_MODEL
    small_model: str = DEFAULT_SMALL_MODEL
    default_account: str | None = None
    relay_host: str = DEFAULT_RELAY_HOST
    relay_port: int = DEFAULT_RELAY_PORT
    messages_upstream: str = "chat"
    mid_conversation_system: str = "keep"
    low_credit_warning: int = 50
    limits: dict[str, dict[str, int]] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)


def _parse(text: str, path: Path) -> Any:
    import tomlkit
    from tomlkit.exceptions import ParseError

    try:
        return tomlkit.parse(text)
    except ParseError as exc:
        raise ConfigError(
            f"{path} line {exc.line}, column {exc.col}: {exc.args[0] if exc.args else exc}",
            hint="Fix the file by hand (kimrel has not changed it), or move it aside.",
            path=str(path),
            line=exc.line,
            column=exc.col,
        ) from None


def load_document(path: Path | None = None) -> Any:
    """The settings file as a tomlkit document (empty if the file does not exist)."""
    import tomlkit

    path = path or paths.config_file()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return tomlkit.document()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}", path=str(path)) from None
    return _parse(text, path)


def save_document(doc: Any, path: Path | None = None) -> None:
    """Write the document back atomically (0600, private directory)."""
    from kimrel_cli.files import atomic_write_text

    path = path or paths.config_file()
    paths.ensure_dir(path.parent)
    atomic_write_text(path, doc.as_string())


def _plain(value: Any) -> Any:
    unwrap = getattr(value, "unwrap", None)
    return unwrap() if unwrap else value


def settings_from_document(doc: Any) -> Settings:
    data: dict[str, Any] = _plain(doc) if doc is not None else {}
    relay = data.get("relay") or {}
    base_url = os.environ.get("KIMREL_BASE_URL") or data.get("base_url") or DEFAULT_BASE_URL
    return Settings(
        base_url=str(base_url).rstrip("/"),
        default_model=str(data.get("default_model") or DEFAULT_MODEL),
        small_model=str(data.get("small_model") or DEFAULT_SMALL_MODEL),
        default_account=data.get("default_account"),
        relay_host=str(relay.get("host") or DEFAULT_RELAY_HOST),
        relay_port=int(relay.get("port") or DEFAULT_RELAY_PORT),
        messages_upstream=str(relay.get("messages_upstream") or "chat"),
        mid_conversation_system=str(relay.get("mid_conversation_system") or "keep"),
        low_credit_warning=int(relay.get("low_credit_warning") or 50),
        limits={str(k): dict(v) for k, v in (data.get("limits") or {}).items()},
        aliases={str(k): str(v) for k, v in (data.get("aliases") or {}).items()},
        accounts={str(k): dict(v) for k, v in (data.get("accounts") or {}).items()},
    )


def load_settings(path: Path | None = None) -> Settings:
    """Read the settings file (defaults where absent, `KIMREL_BASE_URL` applied)."""
    return settings_from_document(load_document(path))


def get_value(doc: Any, key: str) -> Any:
    node: Any = doc
    for part in key.split("."):
        if not hasattr(node, "get") or part not in node:
            return None
        node = node[part]
    return _plain(node)


def coerce_value(key: str, raw: str) -> Any:
    """Turn the text of `kimrel config set KEY VALUE` into the key's type."""
    if key.startswith("limits."):
        kind: type = int
    elif key.startswith("aliases."):
        kind = str
    elif key in KNOWN_KEYS:
        kind = KNOWN_KEYS[key][0]
    else:
        known = ", ".join(sorted(KNOWN_KEYS))
        raise ConfigError(
            f"unknown setting {key!r}",
            hint=f"Known settings: {known}, limits.MODEL.max_output_tokens, aliases.NAME.",
        )
    if kind is int:
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"{key} takes a whole number, not {raw!r}") from None
    return raw


def set_value(doc: Any, key: str, value: Any) -> None:
    """Set a dotted key in the document, creating tables as needed; comments elsewhere kept."""
    import tomlkit

    parts = key.split(".")
    node: Any = doc
    for part in parts[:-1]:
        if part not in node:
            node[part] = tomlkit.table()
        node = node[part]
    node[parts[-1]] = value


def unset_value(doc: Any, key: str) -> bool:
    parts = key.split(".")
    node: Any = doc
    for part in parts[:-1]:
        if part not in node:
            return False
        node = node[part]
    if parts[-1] in node:
        del node[parts[-1]]
        return True
    return False
