"""Human output: one number style, real plurals, and tables that never cut an id, at fixed widths."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from kimrel_cli.catalogue import MODELS
from kimrel_cli.chat.render import footer
from kimrel_cli.chat.session import TurnResult
from kimrel_cli.cli.auth import accounts_table
from kimrel_cli.cli.models import credits_lines, models_table
from kimrel_cli.wording import count, number, rates


def render(renderable, width: int) -> str:
    console = Console(file=io.StringIO(), width=width, legacy_windows=False, color_system=None)
    console.print(renderable)
    return console.file.getvalue()


def kimrel(*args: str, stdin: str = "", **env: str) -> subprocess.CompletedProcess[str]:
    script = shutil.which("kimrel", path=str(Path(sys.executable).parent))
    command = [script] if script else [sys.executable, "-m", "kimrel_cli"]
    return subprocess.run(
        [*command, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "NO_COLOR": "1", **env},
    )


def test_numbers_group_thousands_and_counts_use_real_plurals():
    assert [number(1000), number(8192), number(12), number(0.5)] == ["1,000", "8,192", "12", "0.5"]
    assert [count(1, "credit"), count(0, "credit"), count(1000, "credit")] == [
        "1 credit",
        "0 credits",
        "1,000 credits",
    ]
    assert count(2, "entry", "entries") == "2 entries"
    assert rates(60, 2000, 20000) == "60/min, 2,000/hour, 20,000/day"


def model_rows():
    return [
        {
            "id": model_id,
            "context_window": info.context_window,
            "max_output_tokens": info.max_output_tokens,
            "credits_per_request": info.credits,
            "thinking": info.thinking,
            "images": info.images,
            "tools": info.tools,
        }
        for model_id, info in MODELS.items()
    ]


@pytest.mark.parametrize("width", [40, 60, 80, 120])
def test_models_table_never_cuts_a_model_id(width):
    text = render(models_table(Console(width=width), model_rows()), width)
    for model_id in MODELS:
        assert f" {model_id} " in f" {text} ".replace("\n", " "), (model_id, text)
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= width


def test_models_table_drops_the_least_useful_columns_first_and_says_so():
    wide = render(models_table(Console(width=120), model_rows()), 120)
    assert "tools" in wide and "not shown" not in wide
    narrow = render(models_table(Console(width=60), model_rows()), 60)
    assert "credits" in narrow and "context" in narrow
    assert "not shown at this width: tools, images" in narrow


def test_accounts_table_keeps_a_long_account_name_whole_at_60_columns():
    rows = [
        {
            "name": "a-very-long-account-name-for-work",
            "default": True,
            "storage": "keyring",
            "key": "…4242",
            "base_url": "https://kimrel.com/api",
            "credits": 12345,
            "tier": "10,000+",
        },
        {
            "name": "default",
            "default": False,
            "storage": "file",
            "key": "…abcd",
            "base_url": "https://kimrel.com/api",
            "error": "the API key was refused",
        },
    ]
    text = render(accounts_table(Console(width=60), rows), 60)
    assert "a-very-long-account-name-for-work" in text and "12,345" in text
    assert "(default)" not in text  # a `*` column marks the default, no "default (default)"
    assert "API: https://kimrel.com/api" in text  # one API for all: a line, not a column
    rows[1]["base_url"] = "http://127.0.0.1:8724/api"
    assert "http://127.0.0.1:8724/api" in render(accounts_table(Console(width=120), rows), 120)


def test_credits_lines_use_one_number_style_and_no_tier_at_zero():
    report = {
        "credits_remaining": 1000,
        "credits_used": 0,
        "tier": {"name": "101-1,000", "per_minute": 60, "per_hour": 2000, "per_day": 20000},
        "rate_limit": {"limit": 60, "remaining": 59, "reset": None},
    }
    text = render("\n".join(credits_lines(report)), 80)
    assert "1,000 credits left (0 used)" in text and "2,000/hour, 20,000/day" in text
    empty = render("\n".join(credits_lines({**report, "credits_remaining": 0})), 80)
    assert "No credits left" in empty and "tier" not in empty


def _stopped(charged):
    return TurnResult(
        text="partial",
        reasoning="",
        prompt_tokens=None,
        completion_tokens=None,
        credits_left=1234,
        credits_charged=charged,
        latency=0.5,
        interrupted=True,
    )


@pytest.mark.parametrize(
    ("charged", "tail"),
    [
        (0, "0 credits · 1,234 credits left · interrupted (not charged)"),
        (1, "1 credit · 1,234 credits left · interrupted"),
        (None, "charge unknown · 1,234 credits left · interrupted"),
    ],
    ids=["not-charged", "charged", "unknown"],
)
def test_footer_of_a_stopped_answer_shows_what_the_balance_says_it_cost(charged, tail):
    text = render(footer(_stopped(charged), "kimi-k2"), 100).strip()
    assert text == "kimi-k2 · ? in / ? out · 0.5 s · " + tail


def test_models_and_credits_through_the_console_script_at_80_columns(simulator):
    env = {"KIMREL_BASE_URL": simulator, "KIMREL_API_KEY": "sk-sim-demo", "COLUMNS": "80"}
    models = kimrel("models", **env)
    assert models.returncode == 0, models.stderr
    assert "kimi-k2-thinking" in models.stdout and "…" not in models.stdout
    assert "128,000" in models.stdout
    credits = kimrel("credits", **env)
    assert "1,000 credits left" in credits.stdout and "2,000/hour" in credits.stdout


def test_a_key_without_credits_has_no_tier(simulator):
    import json

    env = {"KIMREL_BASE_URL": simulator, "KIMREL_API_KEY": "sk-sim-empty", "COLUMNS": "80"}
    data = json.loads(kimrel("credits", "--json", **env).stdout)
    assert data["credits_remaining"] == 0 and data["tier"]["name"] == "none"
    login = kimrel("login", "--insecure-storage", "--account", "broke", stdin="sk-sim-empty", **env)
    assert (
        login.returncode == 0 and "no credits left" in login.stderr and "tier" not in login.stderr
    )
    status = json.loads(kimrel("status", "--json", **env).stdout)
    assert status["accounts"][0]["credits"] == 0 and status["accounts"][0]["tier"] == "none"
