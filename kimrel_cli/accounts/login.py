"""Login and status as library functions: check a key against the API, then store it."""

from __future__ import annotations

from dataclasses import dataclass

from kimrel_cli.apikey import ApiKey, clean_key
from kimrel_cli.catalogue import Tier
from kimrel_cli.errors import AccountError, InvalidKey, KimrelError
from kimrel_cli.hosted.ratelimit import tier_shown


@dataclass(frozen=True)
class Balance:
    credits: int | None
    tier: Tier | None


def check_key(key: ApiKey, base_url: str) -> Balance:
    """The balance a key has, or AccountError if the API refuses the key."""
    from kimrel_cli.hosted.client import Client

    with Client(key, base_url, max_retries=1) as client:
        try:
            result = client.credits()
        except InvalidKey:
            raise AccountError(
                "the API refused this key; nothing was saved",
                hint="Copy the key again from your kimrel.com dashboard.",
                code="key-refused",
            ) from None
    data = result.data if isinstance(result.data, dict) else {}
    credits = data.get("credits_remaining", data.get("credits", result.rate.credits_remaining))
    try:
        credits = int(credits) if credits is not None else None
    except (TypeError, ValueError):
        credits = result.rate.credits_remaining
    return Balance(credits, tier_shown(credits) if credits is not None else None)


def prepare_key(raw: str) -> tuple[ApiKey, bool]:
    """A pasted key cleaned of surrounding whitespace; (key, whether anything odd was stripped).

    The one line ending that `echo "$KEY" |` or a pasted line adds is expected, not odd.
    """
    for ending in ("\r\n", "\n"):
        if raw.endswith(ending):
            raw = raw[: -len(ending)]
            break
    value, stripped = clean_key(raw)
    if not value:
        raise AccountError("the key is empty", hint="Paste the key from your kimrel.com dashboard.")
    if any(c.isspace() for c in value):
        raise AccountError(
            "the key contains spaces or line breaks in the middle",
            hint="Paste the key alone, on one line.",
        )
    return ApiKey(value), stripped


def check_storage(storage: str) -> None:
    """AccountError now if the key could not be stored there (checked before asking for it)."""
    if storage != "keyring":
        return
    from kimrel_cli.accounts.store import NO_KEYRING_HINT, keyring_usable

    usable, _ = keyring_usable()
    if not usable:
        raise AccountError(
            "no usable OS keyring to keep the key in", hint=NO_KEYRING_HINT, code="no-keyring"
        )


def login(
    name: str, raw_key: str, *, base_url: str, storage: str
) -> tuple[ApiKey, Balance, bool, bool]:
    """Check the key, then store it. Returns (key, balance, stripped, became_default)."""
    from kimrel_cli.accounts.registry import record_account, validate_name
    from kimrel_cli.accounts.store import save_key

    validate_name(name)
    key, stripped = prepare_key(raw_key)
    check_storage(storage)
    balance = check_key(key, base_url)
    save_key(name, key, storage)  # type: ignore[arg-type]
    became_default = record_account(name, base_url=base_url, storage=storage, last4=key.last4)
    return key, balance, stripped, became_default


def balance_or_error(key: ApiKey, base_url: str) -> Balance | KimrelError:
    try:
        return check_key(key, base_url)
    except KimrelError as exc:
        return exc
