"""Where keys are kept: the OS keyring (service "kimrel", one entry per account), or, only when
the user opts in with `--insecure-storage`, a 0600 file in the state dir. keyring's exceptions
are translated into AccountError here; there is never a silent fallback to a file.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Literal

from kimrel_cli import paths
from kimrel_cli.apikey import ApiKey
from kimrel_cli.errors import AccountError
from kimrel_cli.files import atomic_write_text

SERVICE = "kimrel"
Storage = Literal["keyring", "file"]

NO_KEYRING_HINT = (
    "No usable OS keyring was found (common on headless servers, containers and CI). Choose one: "
    "`kimrel login --insecure-storage` keeps the key in a file readable only by you (mode 0600; "
    "`kimrel status` will keep reminding you), or set KIMREL_API_KEY in the environment instead."
)


def keyring_usable() -> tuple[bool, str]:
    """(usable, backend name) for the keyring backend `keyring` would use."""
    import keyring
    from keyring.backends import chainer, fail

    backend = keyring.get_keyring()
    name = f"{type(backend).__module__}.{type(backend).__name__}"
    if isinstance(backend, fail.Keyring):
        return False, name
    if isinstance(backend, chainer.ChainerBackend) and not backend.backends:
        return False, name
    return True, name


def _keyring_error(action: str, exc: Exception) -> AccountError:
    from keyring.errors import InitError, KeyringLocked, NoKeyringError

    if isinstance(exc, NoKeyringError):
        return AccountError("no usable OS keyring", hint=NO_KEYRING_HINT, code="no-keyring")
    if isinstance(exc, KeyringLocked):
        return AccountError(
            f"the keyring is locked; could not {action}",
            hint="Unlock your keyring (log in to the desktop session) and try again.",
            code="keyring-locked",
        )
    if isinstance(exc, InitError):
        return AccountError(
            f"the keyring could not start ({exc})", hint=NO_KEYRING_HINT, code="no-keyring"
        )
    return AccountError(
        f"the keyring refused to {action} ({type(exc).__name__})",
        hint="If a dialog asked for permission, allow kimrel; otherwise see `kimrel status`.",
        code="keyring-refused",
    )


def key_file(account: str) -> Path:
    return paths.state_dir() / "keys" / f"{account}.key"


def save_key(account: str, key: ApiKey, storage: Storage) -> None:
    if storage == "file":
        directory = paths.ensure_dir(key_file(account).parent, 0o700)
        os.chmod(directory, 0o700)
        atomic_write_text(key_file(account), key.reveal() + "\n", mode=0o600)
        return
    usable, _ = keyring_usable()
    if not usable:
        raise AccountError("no usable OS keyring", hint=NO_KEYRING_HINT, code="no-keyring")
    import keyring
    from keyring.errors import KeyringError

    try:
        keyring.set_password(SERVICE, account, key.reveal())
    except (KeyringError, RuntimeError, OSError) as exc:
        raise _keyring_error("store the key", exc) from None


def load_key(account: str, storage: Storage) -> ApiKey:
    if storage == "file":
        try:
            value = key_file(account).read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            value = ""
        if not value:
            raise AccountError(
                f"the key file for account {account!r} is missing or empty ({key_file(account)})",
                hint=f"Log in again: kimrel login --account {account} --insecure-storage",
            )
        return ApiKey(value)
    import keyring
    from keyring.errors import KeyringError

    try:
        value = keyring.get_password(SERVICE, account)
    except (KeyringError, RuntimeError, OSError) as exc:
        raise _keyring_error("read the key", exc) from None
    if not value:
        raise AccountError(
            f"no key for account {account!r} in the keyring",
            hint=f"Log in again: kimrel login --account {account}",
        )
    return ApiKey(value)


def delete_key(account: str, storage: Storage) -> None:
    if storage == "file":
        with contextlib.suppress(FileNotFoundError):
            key_file(account).unlink()
        return
    import keyring
    from keyring.errors import KeyringError, PasswordDeleteError

    try:
        keyring.delete_password(SERVICE, account)
    except PasswordDeleteError:
        return
    except (KeyringError, RuntimeError, OSError) as exc:
        raise _keyring_error("remove the key", exc) from None
