"""Accounts and which key a command uses.

Resolution order (the one place it is decided):
1. `--account NAME` given → that account's stored key (an unknown name is an error);
2. else `KIMREL_API_KEY` set → that key, with the base URL from settings / `KIMREL_BASE_URL`;
3. else the default account (`default_account` in settings; the first account logged in).

The settings file holds only non-secret facts per account: base URL, where the key is stored,
and the key's last four characters.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from typing import Any, Literal

from kimrel_cli.apikey import ApiKey
from kimrel_cli.config import (
    Settings,
    load_document,
    load_settings,
    save_document,
    settings_from_document,
)
from kimrel_cli.errors import AccountError

KeySource = Literal["env", "keyring", "file"]


@dataclass(frozen=True)
class ResolvedKey:
    key: ApiKey
    account: str | None
    source: KeySource
    base_url: str


@dataclass(frozen=True)
class Account:
    name: str
    base_url: str
    storage: Literal["keyring", "file"]
    last4: str
    default: bool


def list_accounts(settings: Settings | None = None) -> list[Account]:
    settings = settings or load_settings()
    out = []
    for name, data in settings.accounts.items():
        out.append(
            Account(
                name=name,
                base_url=str(data.get("base_url") or settings.base_url),
                storage="file" if data.get("storage") == "file" else "keyring",
                last4=str(data.get("last4") or ""),
                default=name == settings.default_account,
            )
        )
    return out


def unknown_account(name: str, settings: Settings) -> AccountError:
    known = sorted(settings.accounts)
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"Did you mean {close[0]!r}? " if close else ""
    hint += (
        f"Known accounts: {', '.join(known)}." if known else "No accounts yet: run `kimrel login`."
    )
    return AccountError(f"unknown account {name!r}", hint=hint, code="unknown-account")


def get_account(name: str, settings: Settings | None = None) -> Account:
    settings = settings or load_settings()
    for account in list_accounts(settings):
        if account.name == name:
            return account
    raise unknown_account(name, settings)


def resolve_key(account: str | None = None, settings: Settings | None = None) -> ResolvedKey:
    """The key to use (see the module docstring for the order), or AccountError saying how to get one."""
    from kimrel_cli.accounts.store import load_key

    settings = settings or load_settings()
    if account is None:
        env = os.environ.get("KIMREL_API_KEY", "").strip()
        if env:
            return ResolvedKey(ApiKey(env), None, "env", settings.base_url)
        account = settings.default_account
        if account is None:
            raise AccountError(
                "no API key: you are not logged in and KIMREL_API_KEY is not set",
                hint="Run `kimrel login`, or try everything without an account: kimrel serve --simulate.",
                code="not-logged-in",
            )
    entry = get_account(account, settings)
    key = load_key(entry.name, entry.storage)
    base_url = os.environ.get("KIMREL_BASE_URL", "").rstrip("/") or entry.base_url
    return ResolvedKey(key, entry.name, entry.storage, base_url)


# --- changes to the settings file (comments elsewhere in it are kept) ------------------------


def _doc() -> Any:
    return load_document()


def record_account(name: str, *, base_url: str, storage: str, last4: str) -> bool:
    """Add or update an account; returns True if it became the default (the first account)."""
    import tomlkit

    doc = _doc()
    if "accounts" not in doc:
        doc["accounts"] = tomlkit.table(is_super_table=True)
    table = tomlkit.table()
    table["base_url"] = base_url
    table["storage"] = storage
    table["last4"] = last4
    doc["accounts"][name] = table
    became_default = (
        not doc.get("default_account") or doc.get("default_account") not in doc["accounts"]
    )
    if became_default:
        doc["default_account"] = name
    save_document(doc)
    return became_default


def forget_account(name: str) -> None:
    doc = _doc()
    accounts = doc.get("accounts") or {}
    if name in accounts:
        del accounts[name]
    if doc.get("default_account") == name:
        remaining = list(accounts)
        if remaining:
            doc["default_account"] = remaining[0]
        else:
            del doc["default_account"]
    save_document(doc)


def set_default(name: str) -> None:
    doc = _doc()
    settings = settings_from_document(doc)
    if name not in settings.accounts:
        raise unknown_account(name, settings)
    doc["default_account"] = name
    save_document(doc)


def rename_account(old: str, new: str) -> None:
    """Rename an account, moving its key; the default follows."""
    from kimrel_cli.accounts.store import delete_key, load_key, save_key

    settings = load_settings()
    entry = get_account(old, settings)
    if new in settings.accounts:
        raise AccountError(
            f"an account named {new!r} already exists",
            hint="Choose another name, or log out of it first.",
        )
    validate_name(new)
    key = load_key(old, entry.storage)
    save_key(new, key, entry.storage)
    doc = _doc()
    doc["accounts"][new] = doc["accounts"][old]
    del doc["accounts"][old]
    if doc.get("default_account") == old:
        doc["default_account"] = new
    save_document(doc)
    delete_key(old, entry.storage)


def validate_name(name: str) -> None:
    if not name or not all(c.isalnum() or c in "-_." for c in name) or len(name) > 64:
        raise AccountError(
            f"invalid account name {name!r}",
            hint="Use letters, digits, '-', '_' or '.', at most 64 characters.",
        )
