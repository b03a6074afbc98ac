"""Usage errors through the real installed console script: Typer's message, "did you mean", exit 2.

These run `kimrel` as a user does (the console script next to this interpreter), because the
bug they guard against lived in the error boundary between Typer and the shell: a usage error
from a Typer that vendors its own click was reported as "internal error … report it", exit 70.
"""

from __future__ import annotations

import pytest

from tests.support.console import run_kimrel as run


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["serv"], ["No such command 'serv'", "Did you mean 'serve'?"]),
        (["serve", "--simualte"], ["No such option: --simualte", "Did you mean --simulate?"]),
        (["setup", "undo"], ["Missing argument"]),
        (["serve", "--port", "abc"], ["Invalid value for '--port'"]),
        (["version"], ["No such command 'version'", "kimrel --version"]),
        (["--debug", "serv"], ["No such command 'serv'", "Did you mean 'serve'?"]),
        (["config", "gett"], ["No such command 'gett'", "Did you mean 'get'?"]),
        (["--debg", "models"], ["No such option: --debg", "Did you mean --debug?"]),
        (["serve", "--debug"], ["No such option: --debug", "kimrel --debug serve"]),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) and v and v[0][0] != "N" else None,
)
def test_mistyped_commands_are_usage_errors_not_crashes(args, expected):
    result = run(*args)
    assert result.returncode == 2, result.stderr
    for text in expected:
        assert text in result.stderr, result.stderr
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    assert "Usage: kimrel" in result.stderr and result.stdout == ""


def test_a_good_command_still_works_through_the_script():
    result = run("--version")
    assert result.returncode == 0 and result.stdout.startswith("kimrel ")
