"""Which key a command uses: --account, then KIMREL_API_KEY, then the default account.

(Placeholder until the accounts issue lands: only KIMREL_API_KEY is supported here.
The signature of `resolve_key` is the contract other modules rely on.)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

from kimrel_cli.apikey import ApiKey
from kimrel_cli.config import Settings, load_settings
from kimrel_cli.errors import AccountError

KeySource = Literal["env", "keyring", "file"]


@dataclass(frozen=True)
class ResolvedKey:
    key: ApiKey
    account: str | None
    source: KeySource
    base_url: str


def resolve_key(account: str | None = None, settings: Settings | None = None) -> ResolvedKey:
    """The key to use, or AccountError saying how to get one."""
    settings = settings or load_settings()
    env = os.environ.get("KIMREL_API_KEY", "").strip()
    if env and account is None:
        return ResolvedKey(ApiKey(env), None, "env", settings.base_url)
    raise AccountError(
        "no API key: set KIMREL_API_KEY",
        hint="Try it with no account: kimrel serve --simulate (or any command with --simulate).",
    )
