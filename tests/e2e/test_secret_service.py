"""A key really round-trips through the Secret Service (gnome-keyring under dbus-run-session).

scripts/test.sh runs pytest inside a private D-Bus session with an unlocked gnome-keyring and
sets KIMREL_TEST_SECRET_SERVICE=1; elsewhere this is skipped with that reason.
"""

from __future__ import annotations

import os

import keyring
import pytest
from typer.testing import CliRunner

from kimrel_cli.cli.app import app

pytestmark = [
    pytest.mark.keyring_real,
    pytest.mark.skipif(
        os.environ.get("KIMREL_TEST_SECRET_SERVICE") != "1",
        reason="needs a real Secret Service: run via scripts/test.sh (dbus-run-session + gnome-keyring)",
    ),
]


@pytest.fixture
def secret_service():
    from keyring.backends import SecretService

    previous = keyring.get_keyring()
    backend = SecretService.Keyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


def test_login_key_print_logout_through_the_real_secret_service(
    secret_service, make_simulator, monkeypatch
):
    monkeypatch.setenv("KIMREL_BASE_URL", make_simulator(keys={"sk-real-keyring-1234": 200}))
    runner = CliRunner()
    result = runner.invoke(
        app, ["login", "--account", "real", "--with-token"], input="sk-real-keyring-1234"
    )
    assert result.exit_code == 0, result.stderr
    assert secret_service.get_password("kimrel", "real") == "sk-real-keyring-1234"
    assert (
        runner.invoke(app, ["key", "print", "--account", "real"]).stdout == "sk-real-keyring-1234\n"
    )
    assert runner.invoke(app, ["logout", "--account", "real"]).exit_code == 0
    assert secret_service.get_password("kimrel", "real") is None
