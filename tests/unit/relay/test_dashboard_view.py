"""The live dashboard's panel, rendered from states built here, and the log that drives it."""

from __future__ import annotations

import io
import json
import threading
import time

from rich.console import Console

from kimrel_cli.relay.dashboard import RequestLog, log_mode
from kimrel_cli.relay.dashboard_model import (
    DashboardHeader,
    DashboardState,
    Pacing,
    RequestRecord,
)
from kimrel_cli.relay.dashboard_view import dashboard_panel, latency_text

NOW = 1_800_000_000.0
HEADER = DashboardHeader("http://127.0.0.1:8723", "http://127.0.0.1:4000/api", "work")


def rec(**changes) -> RequestRecord:
    base = dict(
        time=NOW - 5,
        route="/v1/chat/completions",
        model="kimi-k2.6",
        status=200,
        tokens_in=10,
        tokens_out=5,
        latency_ms=812.0,
        credits_left=None,
        client="openai-sdk",
    )
    base.update(changes)
    return RequestRecord(**base)


def render(renderable, width: int = 120) -> str:
    buffer = io.StringIO()
    Console(file=buffer, width=width, color_system=None).print(renderable)
    return buffer.getvalue()


def panel(state: DashboardState, **kw) -> str:
    kw.setdefault("low_balance", 50)
    return render(dashboard_panel(state, HEADER, now=NOW, **kw))


def busy_state() -> DashboardState:
    state = DashboardState(started=NOW - 300)
    state.note_balance(1000)
    state.add(rec(model="kimi-k2.6", credits_left=997))
    state.add(rec(model="claude-opus-4-5 → kimi-k2.5", client="claude-code", credits_left=995))
    state.add(
        rec(model="kimi-k2", client="codex", status=429, error="rate limited", latency_ms=2300)
    )
    return state


def row(text: str, first: str) -> list[str]:
    """The cells of the panel line whose first cell is `first`."""
    for line in text.splitlines():
        cells = line.strip("│ ").split()
        if cells and cells[0] == first:
            return cells
    raise AssertionError(f"no row {first!r} in:\n{text}")


def test_the_panel_shows_where_whose_balance_and_its_change():
    text = panel(busy_state())
    assert "http://127.0.0.1:8723" in text and "http://127.0.0.1:4000/api" in text
    assert "work" in text
    assert "balance 995 credits  −5 since start" in text
    assert "5 credits charged by 3 requests, 1 failed" in text


def test_the_panel_counts_requests_and_credits_per_model_and_per_client():
    text = panel(busy_state())
    assert row(text, "kimi-k2.6")[:2] == ["kimi-k2.6", "1"]
    assert row(text, "kimi-k2.6")[-1] == "≈3"  # price table: no reported charge
    assert row(text, "kimi-k2.5")[-1] == "≈2"
    codex = [line for line in text.splitlines() if " codex " in line and "429" not in line]
    assert codex and codex[0].split()[-4:-1] == ["1", "1", "0"], codex


def test_the_panel_shows_rates_against_the_tier():
    text = panel(busy_state())
    assert "3/min of 60" in text and "3/h of 2,000" in text and "3/day of 20,000" in text
    assert "tier 101-1,000" in text


def test_the_last_requests_newest_first_with_status_latency_and_charge():
    text = panel(busy_state())
    lines = [line for line in text.splitlines() if "/v1/chat/completions" in line]
    assert len(lines) == 3
    assert "429" in lines[0] and "2.3 s" in lines[0] and "rate limited" in lines[0]
    assert "kimi-k2.6" in lines[2] and "812 ms" in lines[2] and "≈3" in lines[2]
    assert len([x for x in panel(busy_state(), rows=2).splitlines() if "/v1/chat" in x]) == 2


def test_a_low_balance_shows_a_warning_line_only_below_the_threshold():
    state = busy_state()
    assert "balance is low" not in panel(state, low_balance=995)
    state.note_balance(40)
    text = panel(state, low_balance=50)
    assert "⚠ balance is low: 40 credits left (warning below 50)" in text


def test_pacing_and_budgets_appear_when_present():
    text = panel(
        busy_state(),
        pacing=Pacing(waiting=True, queued=2, resets_in=12.2),
        budgets=["daily: 12/200 credits"],
    )
    assert "waiting for rate limit, 2 queued, resets in 12 s" in text
    assert "budget daily: 12/200 credits" in text
    assert "waiting for rate limit" not in panel(busy_state(), pacing=Pacing())


def test_an_empty_relay_renders_without_figures():
    text = panel(DashboardState(started=NOW))
    assert "balance unknown" in text and "no requests yet" in text and "none yet" in text


def test_markup_in_a_route_or_error_is_shown_as_written():
    state = DashboardState(started=NOW)
    state.add(rec(route="GET /[bold]x", status=404, error="no route [red]", model=None))
    text = panel(state)
    assert "GET /[bold]x" in text and "no route [red]" in text


def test_latency_reads_in_ms_then_seconds():
    assert [latency_text(v) for v in (4.2, 812, 2345, 95_000)] == [
        "4 ms",
        "812 ms",
        "2.3 s",
        "95 s",
    ]


def test_mode_selection():
    assert log_mode(quiet=False, log_json=False, terminal=True) == "dashboard"
    assert log_mode(quiet=False, log_json=False, terminal=False) == "pretty"
    assert log_mode(quiet=True, log_json=False, terminal=True) == "quiet"
    assert log_mode(quiet=False, log_json=True, terminal=True) == "json"


def terminal_log(**kw) -> tuple[RequestLog, io.StringIO]:
    out = io.StringIO()
    console = Console(file=out, width=120, height=40, force_terminal=True, color_system=None)
    return RequestLog("dashboard", console=console, **kw), out


class FakeRelay:
    """What the log reads from the relay context: stats, and optionally pacer and budgets."""

    def __init__(self) -> None:
        self.stats = type("Stats", (), {"credits_remaining": 1000})()

    class pacer:
        @staticmethod
        def snapshot():
            return {"waiting": True, "queued": 3, "resets_in": 7}

    class budgets:
        @staticmethod
        def snapshot():
            raise RuntimeError("a broken budget keeper never breaks the panel")


def test_dashboard_mode_draws_a_live_panel_and_prints_messages_above_it():
    log, out = terminal_log()
    relay = FakeRelay()
    log.start_dashboard(HEADER, source=relay)
    log.flush()  # the panel is up, with the balance at start
    relay.stats.credits_remaining = 997
    log.record(rec(time=time.time(), credits_left=997))
    log.message("a relay note", level="warning")
    log.flush()
    log.close()
    text = out.getvalue()
    assert "warning: a relay note" in text
    assert "balance 997 credits  −3 since start" in text
    assert "waiting for rate limit, 3 queued, resets in 7 s" in text
    assert "/v1/chat/completions" in text
    assert text.index("warning: a relay note") < text.rindex("kimrel relay")
    assert "\x1b[?25h" in text  # the cursor is shown again when the panel stops


def test_dashboard_mode_takes_the_client_from_the_request_when_the_record_has_none():
    from kimrel_cli.relay.context import REQUEST_ATTRIBUTION
    from kimrel_cli.usage.attribution import Attribution

    log, _ = terminal_log()
    token = REQUEST_ATTRIBUTION.set(Attribution(client="codex"))
    try:
        log.record(rec(client=None))
        log.record(rec(client="claude-code"))
    finally:
        REQUEST_ATTRIBUTION.reset(token)
    log.flush()
    assert set(log.state.by_client) == {"codex", "claude-code"}


def test_the_panel_is_redrawn_at_most_four_times_a_second():
    log, out = terminal_log()
    log.start_dashboard(HEADER, source=None)
    started = time.monotonic()
    while time.monotonic() - started < 1.0:
        log.record(rec(time=time.time()))
        time.sleep(0.005)
    log.flush()
    log.close()
    # each redraw moves the cursor back up over the panel: count the panels drawn
    frames = out.getvalue().count("╭─ kimrel relay")
    assert 2 <= frames <= 8, frames  # ~4 in the second, plus the first, the flush and the stop


def test_record_costs_the_request_path_only_a_queue_put():
    blocker = threading.Event()

    class SlowStats:
        @property
        def credits_remaining(self):
            blocker.wait(5)  # a writer thread stuck reading the relay
            return 1

    class SlowRelay:
        stats = SlowStats()

    log, _ = terminal_log()
    log.start_dashboard(HEADER, source=SlowRelay())
    started = time.perf_counter()
    for _ in range(1000):
        log.record(rec())
    elapsed = time.perf_counter() - started
    blocker.set()
    log.close()
    assert elapsed < 0.5, elapsed
    assert log.state.total.requests == 1000


def test_json_lines_keep_their_shape_and_add_known_new_fields_only():
    out = io.StringIO()
    log = RequestLog("json", stream=out)
    log.record(rec(client=None))
    log.record(rec(client="codex", credits_charged=3, account="work"))
    log.flush()
    first, second = map(json.loads, out.getvalue().splitlines())
    assert "client" not in first and "credits_charged" not in first and "account" not in first
    assert (second["client"], second["credits_charged"], second["account"]) == ("codex", 3, "work")


def test_a_narrow_panel_leaves_out_the_client_and_credits_left_of_the_last_requests():
    state = busy_state()
    wide = render(dashboard_panel(state, HEADER, now=NOW, low_balance=50, width=118), width=120)
    narrow = render(dashboard_panel(state, HEADER, now=NOW, low_balance=50, width=78), width=80)
    assert max(map(len, narrow.splitlines())) <= 78
    [header] = [line for line in narrow.splitlines() if "route" in line]
    assert "client" not in header and "left" not in header and "charge" in header
    [wide_header] = [line for line in wide.splitlines() if "route" in line]
    assert "client" in wide_header and "left" in wide_header
    assert row(narrow, "kimi-k2.6")[:3] == ["kimi-k2.6", "1", "≈3"]
