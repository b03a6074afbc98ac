"""Issue 12: a 0-credit key showed tier `1-100` (20 requests a minute it cannot make)."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def run_credits(simulator: str, key: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KIMREL_BASE_URL": simulator, "KIMREL_API_KEY": key}
    return subprocess.run(
        [sys.executable, "-m", "kimrel_cli", "credits", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_an_empty_key_shows_no_tier_and_a_funded_one_its_tier(simulator):
    empty = json.loads(run_credits(simulator, "sk-sim-empty").stdout)
    assert empty["credits_remaining"] == 0
    assert empty["tier"] == {"name": "none", "per_minute": 0, "per_hour": 0, "per_day": 0}
    funded = json.loads(run_credits(simulator, "sk-sim-demo").stdout)
    assert funded["tier"]["name"] == "101-1,000" and funded["tier"]["per_minute"] == 60
