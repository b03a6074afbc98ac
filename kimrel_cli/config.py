"""The settings file (`config.toml`) and the one typed registry of every setting in it.

`REGISTRY` describes each setting once (key, type, default, help, what values are valid) and
drives everything else: `Settings` (the typed, read-only view the relay, chat and setup read),
validation when the file is loaded, `kimrel config get/set/unset/list`, and the generated
`docs/configuration.md` (`python scripts/gen_config_docs.py`; a test fails when it drifts).

The file is read and written with tomlkit so comments survive. A file that does not parse
raises ConfigError naming the path, line and column, and is never overwritten. A value that
parses but is wrong (`relay.port = "abc"`) does not stop commands that never read it: the
`Settings` attribute holding it raises ConfigError naming the file, the key, the line and what
is expected, only when read. `KIMREL_BASE_URL` overrides `base_url` for one command.

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

[accounts.work]                # written by `kimrel login`
base_url = "https://kimrel.com/api"
storage = "keyring"            # or "file" (--insecure-storage)
last4 = "abcd"
```
"""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from kimrel_cli import paths
from kimrel_cli.catalogue import DEFAULT_MODEL, DEFAULT_SMALL_MODEL, MODELS
from kimrel_cli.errors import ConfigError

DEFAULT_BASE_URL = "https://kimrel.com/api"
DEFAULT_RELAY_HOST = "127.0.0.1"
DEFAULT_RELAY_PORT = 8723
DEFAULT_LOW_CREDIT_WARNING = 50
DEFAULT_RESPONSES_STORE_MB = 64
DEFAULT_PACE_MAX_WAIT = 60
MAX_PACE_WAIT = 300  # below every client's read timeout (SDKs and Claude Code 600 s, Codex 300 s)

MessagesUpstream = Literal["chat", "messages"]
SystemMode = Literal["keep", "fold"]
LimitField = Literal["max_output_tokens", "context_window"]
KeyStorage = Literal["keyring", "file"]

FIX_HINT = (
    "Fix it with `kimrel config set KEY VALUE` or `kimrel config unset KEY`, or edit the file."
)


# ---- what a valid value is -------------------------------------------------------------------


def did_you_mean(word: str, choices: Iterator[str] | list[str] | tuple[str, ...]) -> str:
    """' (did you mean X?)' for the closest choice, or ''."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def _check_url(value: str) -> str | None:
    from urllib.parse import urlsplit

    parts = urlsplit(value)
    if parts.scheme in ("http", "https") and parts.hostname:
        return None
    return "an http:// or https:// URL, e.g. https://kimrel.com/api"


def _check_model(value: str) -> str | None:
    if value in MODELS:
        return None
    return "a model id (" + ", ".join(MODELS) + ")" + did_you_mean(value, tuple(MODELS))


def _check_port(value: int) -> str | None:
    return None if 0 <= value <= 65535 else "a port number from 0 to 65535 (0 = any free port)"


def _check_not_negative(value: int) -> str | None:
    return None if value >= 0 else "a whole number, 0 or more"


def _check_positive(value: int) -> str | None:
    return None if value > 0 else "a whole number above 0"


def _check_pace_wait(value: int) -> str | None:
    return None if 0 <= value <= MAX_PACE_WAIT else f"a whole number from 0 to {MAX_PACE_WAIT}"


def _check_host(value: str) -> str | None:
    return None if value and not any(c.isspace() for c in value) else "a host name or IP address"


def _fetch_allow_entry_ok(raw: str) -> bool:
    """`host`, `host:port`, an address, `[v6]:port` or a CIDR block (as hosted/egress.py reads)."""
    import ipaddress

    host, port = raw, ""
    if raw.startswith("[") and "]" in raw:
        host, _, rest = raw[1:].partition("]")
        if rest and not rest.startswith(":"):
            return False
        port = rest[1:]
    elif raw.count(":") == 1:
        host, port = raw.split(":")
    if (port and not (port.isdigit() and 0 < int(port) < 65536)) or raw.endswith(":"):
        return False
    try:
        ipaddress.ip_network(host, strict=False)
        return True
    except ValueError:
        return bool(host) and all(c.isalnum() or c in "-._" for c in host)


def _check_fetch_allow(value: str) -> str | None:
    bad = [raw for raw in value.replace(",", " ").split() if not _fetch_allow_entry_ok(raw)]
    if not bad:
        return None
    return (
        "host names, addresses or CIDR blocks, each optionally with :port, separated by "
        f"commas, e.g. 'localhost, 10.0.0.0/8, 127.0.0.1:8080' (not {bad[0]!r})"
    )


def _check_account_name(value: str) -> str | None:
    if value and len(value) <= 64 and all(c.isalnum() or c in "-_." for c in value):
        return None
    return "an account name (letters, digits, '-', '_', '.')"


@dataclass(frozen=True)
class Setting:
    """One setting: its key as `kimrel config` spells it, and everything known about it.

    `key` may hold one placeholder in capitals (`limits.MODEL.max_output_tokens`,
    `aliases.NAME`): those settings are families, one per model or name.
    """

    key: str
    attr: str  # the `Settings` attribute that holds it (the family's dict for placeholders)
    type: Any  # int, str, or a Literal of the allowed strings
    default: Any
    help: str
    check: Callable[[Any], str | None] | None = None
    env: str | None = None  # an environment variable that overrides the file
    managed_by: str | None = None  # set by this command, read-only for `kimrel config`

    @property
    def base_type(self) -> type:
        return str if get_origin(self.type) is Literal else self.type

    @property
    def choices(self) -> tuple[str, ...]:
        return tuple(get_args(self.type)) if get_origin(self.type) is Literal else ()

    @property
    def is_family(self) -> bool:
        return any(part.isupper() for part in self.key.split("."))

    @property
    def expected(self) -> str:
        """What a valid value looks like, in words."""
        if self.choices:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        if self.base_type is bool:
            return "true or false"
        return "a whole number" if self.base_type is int else "a string"

    def validate(self, value: Any) -> str | None:
        """None when `value` (already of the file's type) is valid; else what is expected."""
        kind = self.base_type
        if kind is bool and not isinstance(value, bool):
            return "true or false"
        if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
            return "a whole number"
        if kind is str and not isinstance(value, str):
            return "a string" if not self.choices else self.expected
        if self.choices and value not in self.choices:
            return self.expected + did_you_mean(str(value), self.choices)
        return self.check(value) if self.check else None

    def parse_text(self, raw: str) -> Any:
        """The typed value for the text of `kimrel config set KEY VALUE`; ValueError if not."""
        if self.base_type is int:
            try:
                return int(raw.strip())
            except ValueError:
                raise ValueError("a whole number") from None
        if self.base_type is bool:
            word = raw.strip().lower()
            if word in _TRUE_WORDS or word in _FALSE_WORDS:
                return word in _TRUE_WORDS
            raise ValueError("true or false")
        return raw


_TRUE_WORDS = ("true", "on", "yes", "1")
_FALSE_WORDS = ("false", "off", "no", "0")


REGISTRY: tuple[Setting, ...] = (
    Setting(
        "base_url",
        "base_url",
        str,
        DEFAULT_BASE_URL,
        "Hosted API root every command talks to.",
        check=_check_url,
        env="KIMREL_BASE_URL",
    ),
    Setting(
        "default_model",
        "default_model",
        str,
        DEFAULT_MODEL,
        "Model for `kimrel chat`, `setup` and `launch`, and the relay's main model "
        "(client names such as claude-sonnet-… map to it).",
        check=_check_model,
    ),
    Setting(
        "small_model",
        "small_model",
        str,
        DEFAULT_SMALL_MODEL,
        "The relay's model for small/fast client names (…haiku…, …mini…).",
        check=_check_model,
    ),
    Setting(
        "default_account",
        "default_account",
        str,
        None,
        "Account used when --account is not given (the first account logged in).",
        check=_check_account_name,
    ),
    Setting(
        "relay.host",
        "relay_host",
        str,
        DEFAULT_RELAY_HOST,
        "Address `kimrel serve` binds; a non-loopback one needs --allow-remote.",
        check=_check_host,
    ),
    Setting(
        "relay.port",
        "relay_port",
        int,
        DEFAULT_RELAY_PORT,
        "Port `kimrel serve` listens on (0 = any free port).",
        check=_check_port,
    ),
    Setting(
        "relay.messages_upstream",
        "messages_upstream",
        MessagesUpstream,
        "chat",
        "'chat': translate Anthropic /v1/messages into the hosted Chat Completions; "
        "'messages': pass them to the hosted /v1/messages as sent.",
    ),
    Setting(
        "relay.mid_conversation_system",
        "mid_conversation_system",
        SystemMode,
        "keep",
        "System messages in the middle of a conversation: 'keep' them in place, or 'fold' "
        "them into the first system message.",
    ),
    Setting(
        "relay.low_credit_warning",
        "low_credit_warning",
        int,
        DEFAULT_LOW_CREDIT_WARNING,
        "The relay warns when the credit balance falls below this: once in the log, and a "
        "line in the live dashboard while it stays below.",
        check=_check_not_negative,
    ),
    Setting(
        "relay.image_fetch_allow",
        "image_fetch_allow",
        str,
        "",
        "Hosts the relay may fetch remote image URLs from although they are not public "
        "(loopback, private, link-local, metadata): host names, addresses or CIDR blocks, "
        "each optionally with :port, comma-separated. Default: public addresses only.",
        check=_check_fetch_allow,
    ),
    Setting(
        "relay.responses_store_mb",
        "responses_store_mb",
        int,
        DEFAULT_RESPONSES_STORE_MB,
        "Megabytes of conversations the relay keeps for Responses' previous_response_id "
        "(the oldest go first; at most 200 responses either way).",
        check=_check_positive,
    ),
    Setting(
        "usage.ledger",
        "usage_ledger",
        bool,
        True,
        "Record every request kimrel makes upstream (relay and `kimrel chat`) in the usage "
        "ledger, a SQLite file in the state dir that `kimrel usage` reads (docs/usage.md).",
    ),
    Setting(
        "relay.pace_max_wait",
        "pace_max_wait",
        int,
        DEFAULT_PACE_MAX_WAIT,
        "Seconds the relay holds a request while the rate-limit window is full, instead of "
        f"forwarding it into a 429; past it the client gets a 429 with retry-after (0 = off, "
        f"at most {MAX_PACE_WAIT}).",
        check=_check_pace_wait,
    ),
    Setting(
        "limits.MODEL.max_output_tokens",
        "limits",
        int,
        None,
        "Output-token cap for MODEL (a model id); the relay caps requests to it. "
        "Default: the catalogue's figure (8192).",
        check=_check_positive,
    ),
    Setting(
        "limits.MODEL.context_window",
        "limits",
        int,
        None,
        "Context window for MODEL, in tokens. Default: the catalogue's figure.",
        check=_check_positive,
    ),
    Setting(
        "aliases.NAME",
        "aliases",
        str,
        None,
        "The model id a client's model name NAME maps to (e.g. aliases.gpt-4.1 = kimi-k2). "
        "Default: claude-…/gpt-… names map to default_model or small_model, others pass through.",
        check=_check_model,
    ),
    Setting(
        "accounts.NAME.base_url",
        "accounts",
        str,
        None,
        "API root of account NAME.",
        check=_check_url,
        managed_by="kimrel login",
    ),
    Setting(
        "accounts.NAME.storage",
        "accounts",
        KeyStorage,
        "keyring",
        "Where account NAME's key is kept ('file' only with --insecure-storage).",
        managed_by="kimrel login",
    ),
    Setting(
        "accounts.NAME.last4",
        "accounts",
        str,
        None,
        "The last four characters of account NAME's key (to tell keys apart).",
        managed_by="kimrel login",
    ),
)

SETTINGS_BY_KEY: dict[str, Setting] = {s.key: s for s in REGISTRY}
FIXED_KEYS: tuple[str, ...] = tuple(s.key for s in REGISTRY if not s.is_family)


# ---- dotted keys with dotted names in them ----------------------------------------------------


@dataclass(frozen=True)
class Key:
    """A parsed key: the registry entry, the path in the TOML document, and its spelling."""

    setting: Setting
    path: tuple[str, ...]

    @property
    def text(self) -> str:
        """The key as `kimrel config` prints it (names with dots are kept whole)."""
        return ".".join(self.path)


_SEGMENT = re.compile(r"\s*(?:\"((?:[^\"\\]|\\.)*)\"|'([^']*)'|([A-Za-z0-9_\-]+))\s*")


def split_toml_key(text: str) -> list[str] | None:
    """The parts of a TOML key (`a."b.c".d` → [a, b.c, d]); None if it is not one."""
    parts: list[str] = []
    pos = 0
    while True:
        match = _SEGMENT.match(text, pos)
        if not match:
            return None
        quoted, literal, bare = match.groups()
        parts.append(json.loads(f'"{quoted}"') if quoted is not None else literal or bare)
        pos = match.end()
        if pos == len(text):
            return parts
        if text[pos] != ".":
            return None
        pos += 1


def unknown_key(text: str) -> ConfigError:
    candidates = [*FIXED_KEYS, *(s.key for s in REGISTRY if s.is_family)]
    close = difflib.get_close_matches(text, candidates, n=1, cutoff=0.6)
    hint = f"Did you mean {close[0]}? " if close else ""
    hint += "`kimrel config list` shows every setting; docs/configuration.md explains them."
    return ConfigError(f"unknown setting {text!r}", hint=hint, code="unknown-setting")


def parse_key(text: str) -> Key:
    """`relay.port`, `limits.kimi-k2.6.max_output_tokens`, `aliases.gpt-4.1` (or the TOML
    spelling `limits."kimi-k2.6".max_output_tokens`) → Key; ConfigError with "did you mean"."""
    text = text.strip()
    if text in SETTINGS_BY_KEY and not SETTINGS_BY_KEY[text].is_family:
        return Key(SETTINGS_BY_KEY[text], tuple(text.split(".")))
    head, _, rest = text.partition(".")
    quoted = split_toml_key(text) if ('"' in text or "'" in text) else None
    if quoted is not None:
        head, rest_parts = quoted[0], quoted[1:]
    if head == "aliases" and rest:
        name = rest_parts[0] if quoted is not None and len(rest_parts) == 1 else rest
        return Key(SETTINGS_BY_KEY["aliases.NAME"], ("aliases", name))
    if head in ("limits", "accounts") and rest:
        if quoted is not None and len(rest_parts) == 2:
            name, last = rest_parts
        else:
            name, _, last = rest.rpartition(".")
        family = [
            s for s in REGISTRY if s.key.startswith(head + ".") and s.key.endswith("." + last)
        ]
        if not name or not family:
            fields_ = [s.key.rsplit(".", 1)[1] for s in REGISTRY if s.key.startswith(head + ".")]
            placeholder = "MODEL" if head == "limits" else "NAME"
            close = difflib.get_close_matches(last, fields_, n=1)
            hint = f"Did you mean {head}.{name}.{close[0]}? " if name and close else ""
            hint += f"The {head} settings are " + ", ".join(
                f"{head}.{placeholder}.{f}" for f in fields_
            )
            raise ConfigError(f"unknown setting {text!r}", hint=hint + ".", code="unknown-setting")
        if head == "limits" and name not in MODELS:
            raise ConfigError(
                f"unknown model {name!r} in {text!r}",
                hint="Limits are per model id: "
                + ", ".join(MODELS)
                + did_you_mean(name, tuple(MODELS)),
                code="unknown-setting",
            )
        return Key(family[0], (head, name, last))
    raise unknown_key(text)


# ---- the typed view ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """A value in the settings file that is not valid, or a key kimrel does not know."""

    key: str
    message: str
    file: str | None = None
    line: int | None = None
    attr: str | None = None  # the Settings attribute it makes unusable; None: only a warning

    @property
    def where(self) -> str:
        if self.file is None:
            return "settings"
        return f"{self.file} line {self.line}" if self.line else self.file

    def error(self) -> ConfigError:
        return ConfigError(
            f"{self.where}: {self.message}",
            hint=FIX_HINT.replace("KEY", self.key),
            path=self.file,
            line=self.line,
            code="invalid-setting",
        )


_GUARDED: frozenset[str] = frozenset(s.attr for s in REGISTRY)


@dataclass(frozen=True, repr=False)
class Settings:
    """A typed, read-only view of the settings file with defaults and env overrides applied.

    Reading an attribute whose value in the file is invalid raises ConfigError (file, key,
    line, what is expected); every other attribute still works. `problems` lists them all.
    """

    base_url: str = DEFAULT_BASE_URL
    default_model: str = DEFAULT_MODEL
    small_model: str = DEFAULT_SMALL_MODEL
    default_account: str | None = None
    relay_host: str = DEFAULT_RELAY_HOST
    relay_port: int = DEFAULT_RELAY_PORT
    messages_upstream: MessagesUpstream = "chat"
    mid_conversation_system: SystemMode = "keep"
    low_credit_warning: int = DEFAULT_LOW_CREDIT_WARNING
    image_fetch_allow: str = ""
    responses_store_mb: int = DEFAULT_RESPONSES_STORE_MB
    usage_ledger: bool = True
    pace_max_wait: int = DEFAULT_PACE_MAX_WAIT
    limits: dict[str, dict[str, int]] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)
    problems: tuple[Problem, ...] = field(default=(), compare=False)

    def __getattribute__(self, name: str) -> Any:
        if name in _GUARDED:
            for problem in object.__getattribute__(self, "problems"):
                if problem.attr == name:
                    raise problem.error()
        return object.__getattribute__(self, name)

    def __repr__(self) -> str:
        bad = {p.attr for p in self.problems}
        shown = ", ".join(
            f"{f.name}=<invalid>"
            if f.name in bad
            else f"{f.name}={object.__getattribute__(self, f.name)!r}"
            for f in fields(self)
            if f.name != "problems"
        )
        return f"Settings({shown})"


def _defaults_agree() -> None:
    """The registry and the Settings dataclass name the same attributes and defaults."""
    declared = {f.name: f for f in fields(Settings) if f.name != "problems"}
    for setting in REGISTRY:
        assert setting.attr in declared, setting
        if not setting.is_family:
            assert declared[setting.attr].default == setting.default, setting


_defaults_agree()


# ---- reading and writing the file ---------------------------------------------------------------


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


def show(value: Any) -> str:
    """A value as TOML writes it ("abc", 8723, true)."""
    value = _plain(value)
    if isinstance(value, (str, int, float, bool)):
        return json.dumps(value, ensure_ascii=False)
    return repr(value)


def _plain(value: Any) -> Any:
    unwrap = getattr(value, "unwrap", None)
    return unwrap() if unwrap else value


def line_of(text: str, path: tuple[str, ...]) -> int | None:
    """The 1-based line where `path` is set in TOML `text` (or its nearest table), if found."""
    table: list[str] = []
    best: tuple[int, int] | None = None  # (matched parts, line)
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and not line.startswith("[["):
            inner = line[1:].split("]", 1)[0]
            table = split_toml_key(inner) or []
            full = table
        else:
            key_text = line.split("=", 1)[0] if "=" in line else ""
            parts = split_toml_key(key_text) if key_text else None
            if parts is None:
                continue
            full = [*table, *parts]
        matched = 0
        for have, want in zip(full, path, strict=False):
            if have != want:
                break
            matched += 1
        if matched == len(path) and len(full) >= len(path):
            return number
        if matched == len(full) and matched and (best is None or matched > best[0]):
            best = (matched, number)
    return best[1] if best else None


def _walk(
    data: Mapping[str, Any], prefix: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], Any]]:
    for name, value in data.items():
        here = (*prefix, str(name))
        if isinstance(value, Mapping):
            yield from _walk(value, here)
        else:
            yield here, value


def settings_from_document(doc: Any, path: Path | str | None = None) -> Settings:
    """The typed view of a parsed document; invalid values become `problems`, never defaults."""
    data: dict[str, Any] = _plain(doc) if doc is not None else {}
    text = doc.as_string() if hasattr(doc, "as_string") else ""
    file = str(path) if path is not None else None
    values: dict[str, Any] = {}
    problems: list[Problem] = []

    def problem(key_path: tuple[str, ...], message: str, attr: str | None) -> None:
        problems.append(
            Problem(
                ".".join(key_path), message, file, line_of(text, key_path) if text else None, attr
            )
        )

    def bad_value(key_path: tuple[str, ...], value: Any, expected: str, attr: str | None) -> None:
        problem(
            key_path,
            f"{'.'.join(key_path)} = {show(value)} is not valid: expected {expected}",
            attr,
        )

    for setting in REGISTRY:
        if setting.is_family:
            continue
        key_path = tuple(setting.key.split("."))
        if setting.env and os.environ.get(setting.env):
            values[setting.attr] = os.environ[setting.env]
            continue
        value = get_path(data, key_path)
        if value is _MISSING:
            continue
        expected = setting.validate(value)
        if expected:
            bad_value(key_path, value, expected, setting.attr)
        else:
            values[setting.attr] = value
    if "base_url" in values:
        values["base_url"] = str(values["base_url"]).rstrip("/")

    known_tables = {"relay", "limits", "aliases", "accounts"}
    for key_path, _value in _walk(data):
        head = key_path[0]
        dotted = ".".join(key_path)
        if head in known_tables and head != "relay":
            continue
        if dotted in SETTINGS_BY_KEY:
            continue
        problem(
            key_path,
            f"unknown setting {dotted!r} is ignored{did_you_mean(dotted, FIXED_KEYS)}",
            None,
        )

    for family, attr in (("limits", "limits"), ("aliases", "aliases"), ("accounts", "accounts")):
        table = data.get(family)
        if table is None:
            continue
        if not isinstance(table, Mapping):
            bad_value((family,), table, f"a table ([{family}])", attr)
            continue
        parsed: dict[str, Any] = {}
        for name, entry in table.items():
            name = str(name)
            if family == "aliases":
                expected = SETTINGS_BY_KEY["aliases.NAME"].validate(entry)
                if expected:
                    bad_value((family, name), entry, expected, attr)
                else:
                    parsed[name] = entry
                continue
            if not isinstance(entry, Mapping):
                bad_value((family, name), entry, "a table", attr)
                continue
            if family == "limits" and name not in MODELS:
                problem(
                    (family, name),
                    f"limits for unknown model {name!r}: expected a model id ({', '.join(MODELS)})"
                    + did_you_mean(name, tuple(MODELS)),
                    attr,
                )
                continue
            placeholder = "MODEL" if family == "limits" else "NAME"
            good: dict[str, Any] = {}
            for item, value in entry.items():
                setting = SETTINGS_BY_KEY.get(f"{family}.{placeholder}.{item}")
                if setting is None:
                    options = [
                        s.key.rsplit(".", 1)[1] for s in REGISTRY if s.key.startswith(family + ".")
                    ]
                    problem(
                        (family, name, str(item)),
                        f"unknown setting {family}.{name}.{item}: expected one of "
                        + ", ".join(options)
                        + did_you_mean(str(item), options),
                        attr if family == "limits" else None,
                    )
                    continue
                expected = setting.validate(value)
                if expected:
                    bad_value((family, name, str(item)), value, expected, attr)
                else:
                    good[str(item)] = value
            parsed[name] = good
        values[attr] = parsed
    return Settings(**values, problems=tuple(problems))


def load_settings(path: Path | None = None) -> Settings:
    """Read the settings file (defaults where absent, `KIMREL_BASE_URL` applied)."""
    path = path or paths.config_file()
    return settings_from_document(load_document(path), path)


# ---- one key at a time (kimrel config get/set/unset) ---------------------------------------------


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING: Any = _Missing()


def get_path(data: Any, path: tuple[str, ...]) -> Any:
    node: Any = data
    for part in path:
        if not isinstance(node, Mapping) or part not in node:
            return _MISSING
        node = node[part]
    return _plain(node)


def get_value(doc: Any, key: str) -> Any:
    """The value of `key` in the document as written (None if absent)."""
    value = get_path(doc, parse_key(key).path)
    return None if value is _MISSING else value


def is_set(doc: Any, key: str) -> bool:
    """Whether `key` is written in the document (whatever its value)."""
    return get_path(doc, parse_key(key).path) is not _MISSING


def coerce_value(key: str, raw: str) -> Any:
    """The typed, validated value of `kimrel config set KEY VALUE`, or ConfigError saying why."""
    parsed = parse_key(key)
    setting = parsed.setting
    if setting.managed_by:
        raise ConfigError(
            f"{parsed.text} is managed by `{setting.managed_by}`",
            hint="Use `kimrel login`, `kimrel logout` or `kimrel accounts` to change accounts.",
        )
    try:
        value = setting.parse_text(raw)
    except ValueError as exc:
        raise ConfigError(f"{parsed.text} takes {exc}, not {raw!r}") from None
    expected = setting.validate(value)
    if expected:
        raise ConfigError(
            f"{parsed.text} = {show(value)} is not valid: expected {expected}",
            hint=setting.help,
            code="invalid-setting",
        )
    return value


def set_value(doc: Any, key: str, value: Any) -> None:
    """Set a key in the document, creating tables as needed; comments elsewhere kept.

    Names with dots (`limits.kimi-k2.6.…`, `aliases.gpt-4.1`) become one quoted TOML key.
    """
    import tomlkit

    path = parse_key(key).path
    node: Any = doc
    for depth, part in enumerate(path[:-1]):
        if part not in node:
            super_table = depth == 0 and path[0] in ("limits", "accounts")
            node[part] = tomlkit.table(is_super_table=super_table or None)
        node = node[part]
    node[path[-1]] = value


def unset_value(doc: Any, key: str) -> bool:
    """Remove a key; tables it leaves empty under limits/aliases go too. False if not set."""
    path = parse_key(key).path
    chain: list[Any] = [doc]
    for part in path[:-1]:
        node = chain[-1]
        if not isinstance(node, Mapping) or part not in node:
            return False
        chain.append(node[part])
    if not isinstance(chain[-1], Mapping) or path[-1] not in chain[-1]:
        return False
    del chain[-1][path[-1]]
    for depth in range(len(path) - 1, 0, -1):
        if path[0] in ("limits", "aliases") and not chain[depth]:
            del chain[depth - 1][path[depth - 1]]
        else:
            break
    return True


def effective_value(settings: Settings, key: str) -> Any:
    """What kimrel uses for `key`: the file's value, the env override, or the default.

    Raises the setting's ConfigError when its value in the file is invalid.
    """
    from kimrel_cli.catalogue import get_model, resolve_alias

    parsed = parse_key(key)
    setting = parsed.setting
    if not setting.is_family:
        return getattr(settings, setting.attr)
    name = parsed.path[1]
    if parsed.path[0] == "limits":
        info = get_model(name, settings.limits)
        return getattr(info, parsed.path[2]) if info else None
    if parsed.path[0] == "aliases":
        return resolve_alias(
            name,
            main_model=settings.default_model,
            small_model=settings.small_model,
            aliases=settings.aliases,
        )
    account = settings.accounts.get(name)
    if account is None:
        known = sorted(settings.accounts)
        raise ConfigError(
            f"unknown account {name!r}{did_you_mean(name, known)}",
            hint=f"Known accounts: {', '.join(known)}."
            if known
            else "No accounts yet: run `kimrel login`.",
            code="unknown-account",
        )
    value = account.get(parsed.path[2])
    return setting.default if value is None else value


def present_keys(doc: Any) -> list[str]:
    """The family keys (limits, aliases) set in the document, spelled as `kimrel config` does."""
    data = _plain(doc) if doc is not None else {}
    keys: list[str] = []
    limits = data.get("limits")
    if isinstance(limits, Mapping):
        for model, entry in limits.items():
            if isinstance(entry, Mapping):
                keys += [f"limits.{model}.{item}" for item in entry]
    aliases = data.get("aliases")
    if isinstance(aliases, Mapping):
        keys += [f"aliases.{name}" for name in aliases]
    return keys


# ---- the generated reference ------------------------------------------------------------------


def render_markdown() -> str:
    """docs/configuration.md, generated from REGISTRY (`python scripts/gen_config_docs.py`)."""
    lines = [
        "# Configuration",
        "",
        "<!-- Generated from kimrel_cli/config.py (REGISTRY) by `python scripts/gen_config_docs.py`;",
        "     do not edit by hand: tests/unit/cli/test_config_registry.py fails when it drifts. -->",
        "",
        "kimrel keeps non-secret settings in `config.toml` in the platform config directory",
        "(`kimrel config path` prints it; `KIMREL_CONFIG_DIR` overrides the directory). Keys are",
        "never stored here: they live in the OS keyring (see [accounts.md](accounts.md)).",
        "",
        "```bash",
        "kimrel config list                                    # every setting, (default) marked",
        "kimrel config get relay.port",
        "kimrel config set relay.port 9000",
        "kimrel config set limits.kimi-k2.6.max_output_tokens 16384",
        'kimrel config set aliases.gpt-4.1 kimi-k2              # written as "gpt-4.1" = "kimi-k2"',
        "kimrel config unset relay.port                         # back to the default",
        "```",
        "",
        "Model ids and alias names may contain dots: `kimrel config` takes them as written",
        "(`limits.kimi-k2.6.max_output_tokens`) and writes them as quoted TOML keys",
        '(`[limits."kimi-k2.6"]`). Edits keep the file\'s comments.',
        "",
        'A value that is not valid (e.g. `relay.port = "abc"`) is reported with the file, the key,',
        "the line and what is expected by every command that needs it; commands that do not need",
        "it still run, and `kimrel config list` warns about it. Unknown keys are reported with",
        '"did you mean" and otherwise ignored.',
        "",
        "| key | type | default | what it does |",
        "| --- | --- | --- | --- |",
    ]
    for s in REGISTRY:
        kind = (
            " \\| ".join(f"`{c!r}`".replace("'", '"') for c in s.choices)
            if s.choices
            else {int: "integer", bool: "boolean"}.get(s.base_type, "string")
        )
        if s.check is _check_model:
            kind = "model id"
        elif s.check is _check_url:
            kind = "URL"
        default = "—" if s.default is None else f"`{show(s.default)}`"
        text = s.help.replace("|", "\\|")
        if s.env:
            text += f" Overridden by `{s.env}`."
        if s.managed_by:
            text += f" Written by `{s.managed_by}`; read-only for `kimrel config`."
        lines.append(f"| `{s.key}` | {kind} | {default} | {text} |")
    lines += [
        "",
        "Model ids: " + ", ".join(f"`{m}`" for m in MODELS) + " (`kimrel models`).",
        "",
    ]
    return "\n".join(lines)
