"""The relay dashboard: request lines, JSON log lines, low-credit warnings."""

from __future__ import annotations

import io
import json

from rich.console import Console

from kimrel_cli.relay.dashboard import RequestLog, RequestRecord, request_line, usage_snippets


def record(**changes):
    base = dict(
        time=0.0,
        route="/v1/messages",
        model="kimi-k2.6",
        status=200,
        tokens_in=1234,
        tokens_out=56,
        latency_ms=812.4,
        credits_left=997,
        stream=True,
    )
    base.update(changes)
    return RequestRecord(**base)


def render(renderable) -> str:
    buffer = io.StringIO()
    Console(file=buffer, width=120, legacy_windows=False, color_system=None).print(renderable)
    return buffer.getvalue()


def test_request_line_shows_route_model_status_tokens_latency_and_credits():
    text = render(request_line(record()))
    assert "/v1/messages" in text
    assert "kimi-k2.6" in text
    assert " 200 " in text
    assert "1,234→56" in text
    assert "812 ms stream" in text
    assert "credits 997" in text


def test_request_line_marks_unknown_tokens_with_a_dash():
    text = render(request_line(record(tokens_in=None, tokens_out=None, credits_left=None)))
    assert "-→-" in text
    assert "credits" not in text


def test_json_mode_writes_one_object_per_line():
    out = io.StringIO()
    log = RequestLog("json", stream=out)
    log.record(record())
    log.record(record(status=429, error="rate limited"))
    log.flush()
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["status"] for line in lines] == [200, 429]
    assert lines[0]["event"] == "request"
    assert lines[1]["error"] == "rate limited"


def test_low_balance_warns_once_until_it_recovers():
    out = io.StringIO()
    log = RequestLog("json", stream=out, low_credit_warning=50)
    for credits in (60, 49, 48, 100, 10):
        log.record(record(credits_left=credits))
    log.flush()
    warnings = [
        line for line in map(json.loads, out.getvalue().splitlines()) if line["event"] == "warning"
    ]
    assert len(warnings) == 2
    assert "49 credits" in warnings[0]["message"]


def test_quiet_mode_prints_no_request_lines_but_warnings():
    out = io.StringIO()
    log = RequestLog("quiet", stream=out, console=Console(file=out, color_system=None))
    log.record(record(credits_left=1000))
    log.record(record(credits_left=3))
    log.flush()
    text = out.getvalue()
    assert "/v1/messages" not in text
    assert "balance is low: 3 credits" in text


def test_silent_mode_keeps_recent_records_only():
    log = RequestLog("silent")
    log.record(record())
    log.flush()
    assert list(log.recent) == [record()]


def test_snippets_carry_both_base_urls_and_the_token():
    text = usage_snippets("http://127.0.0.1:8723", "kr-local-abc")
    assert "ANTHROPIC_BASE_URL=http://127.0.0.1:8723 " in text
    assert 'base_url="http://127.0.0.1:8723/v1"' in text
    assert "ANTHROPIC_AUTH_TOKEN=kr-local-abc" in text
    assert "kimrel launch codex" in text


def test_codex_snippet_is_exactly_what_launch_passes():
    import shlex

    from kimrel_cli.setup.tools import codex_overrides

    text = usage_snippets("http://127.0.0.1:8723", "kr-local-abc", model="kimi-k2.6")
    [line] = [ln for ln in text.splitlines() if "KIMREL_RELAY_TOKEN=kr-local-abc codex " in ln]
    args = shlex.split(line.split("codex ", 1)[1])
    assert args == codex_overrides("http://127.0.0.1:8723", model="kimi-k2.6")
    assert any(a.startswith("model_catalog_json=") for a in args)
    assert any("request_max_retries=4" in a for a in args)


def test_the_banner_suggests_the_model_setup_and_launch_use(sandbox):
    from kimrel_cli.config import load_settings

    model = load_settings().default_model
    text = usage_snippets("http://127.0.0.1:8723", "kr-local-abc", model=model)
    assert f"ANTHROPIC_MODEL={model} claude" in text and f'model="{model}"' in text
    assert "kimrel launch claude" in text
    other = usage_snippets("http://127.0.0.1:8723", "t", model="kimi-k2")
    assert "ANTHROPIC_MODEL=kimi-k2 claude" in other and "kimi-k2.5" not in other
