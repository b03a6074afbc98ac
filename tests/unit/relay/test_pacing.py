"""The rate-limit pacer: the pure window state, and the asyncio queue around it."""

from __future__ import annotations

import asyncio
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kimrel_cli.catalogue import Tier, tier_for
from kimrel_cli.errors import RateLimited
from kimrel_cli.hosted.ratelimit import RateInfo
from kimrel_cli.relay.pacing import HISTORY_MAX, MINUTE, RESET_GUARD, Pacer, PaceState
from kimrel_cli.simulator.accounting import Ledger

T0 = 1_800_000_000.0


def test_the_limit_comes_from_the_headers_else_the_tier_else_the_lowest_tier():
    state = PaceState()
    assert state.limit == 20
    state.tier = tier_for(500)
    assert state.limit == 60
    state.observe(None, limit=200, remaining=None, reset=None, now=T0)
    assert state.limit == 200


def test_a_full_window_holds_until_its_oldest_answer_is_a_window_old():
    state = PaceState(header_limit=3)
    for _ in range(3):
        assert state.wait(T0) == 0
        state.release(T0)
    assert state.wait(T0) == pytest.approx(MINUTE + RESET_GUARD)  # in flight: a guess
    assert state.remaining(T0) == 0
    state.finish(1, T0 + 2)  # answered 2 s later: the API counted it by then
    assert state.wait(T0 + 2) == pytest.approx(MINUTE + RESET_GUARD)
    assert state.wait(T0 + 2 + MINUTE + RESET_GUARD) == 0
    assert state.remaining(T0 + 100) == 1  # the other two are still in flight


def test_requests_in_flight_count_before_any_answer():
    """A burst of 64 against a limit of 10: the 11th waits though no answer has come back."""
    state = PaceState(header_limit=10)
    sent = 0
    for _ in range(64):
        if state.wait(T0) == 0:
            state.release(T0)
            sent += 1
    assert sent == 10
    assert state.in_flight == 10


def test_the_window_length_is_learned_from_a_request_alone_in_its_window():
    state = PaceState(header_limit=20)
    seq = state.release(T0 + 0.3)
    # the simulator at rate_window_scale 0.025: a 1.5 s "minute", Reset rounded up
    state.observe(seq, limit=20, remaining=19, reset=math.ceil(T0 + 0.3 + 1.5), now=T0 + 0.31)
    assert 1.5 <= state.window <= 2.5
    for _ in range(19):
        state.finish(state.release(T0 + 0.4), T0 + 0.5)
    wait = state.wait(T0 + 0.5)
    assert 1.5 <= wait <= 2.5 + RESET_GUARD


def test_remaining_zero_in_a_header_holds_until_its_reset():
    state = PaceState()
    seq = state.release(T0)
    state.observe(seq, limit=60, remaining=0, reset=T0 + 12, now=T0 + 0.1)  # another client
    assert state.wait(T0 + 0.1) == pytest.approx(12 - 0.1 + RESET_GUARD)
    assert state.wait(T0 + 12 + RESET_GUARD) == 0


def test_a_header_from_an_older_request_or_a_past_window_is_not_taken():
    state = PaceState()
    first, second = state.release(T0), state.release(T0)
    state.observe(second, limit=60, remaining=50, reset=T0 + 30, now=T0 + 0.1)
    state.observe(first, limit=60, remaining=51, reset=T0 + 30, now=T0 + 0.2)
    assert state.header_remaining == 50
    state.observe(first, limit=60, remaining=0, reset=T0 - 1, now=T0 + 0.3)  # already reset
    assert state.wait(T0 + 0.3) == 0


def test_releases_after_a_header_are_taken_off_its_remaining():
    state = PaceState()
    seq = state.release(T0)
    for _ in range(5):
        state.release(T0)
    state.observe(seq, limit=60, remaining=5, reset=T0 + 40, now=T0 + 0.1)  # counts only seq 1
    assert state.remaining(T0 + 0.1) == 0
    assert state.wait(T0 + 0.1) > 0


def test_a_429_blocks_until_its_retry_after():
    state = PaceState()
    state.limited(7.0, T0)
    assert state.wait(T0) == pytest.approx(7 + RESET_GUARD)


def test_the_hour_window_of_the_tier_is_counted():
    state = PaceState(header_limit=1000, tier=tier_for(50))  # 600 an hour
    for i in range(600):
        state.finish(state.release(T0 + i * 0.5), T0 + i * 0.5)
    now = T0 + 300
    assert state.wait(now) == pytest.approx(3600 + RESET_GUARD - 300)


def test_release_history_is_bounded_by_the_largest_day_limit_and_still_holds_a_full_day():
    top = tier_for(10**9)
    state = PaceState(header_limit=10**6, tier=top, window=0.05)  # a minute window kept short
    now = T0
    for _ in range(top.per_day + 500):  # a client hammering past what the API would allow
        now += 0.1
        state.finish(state.release(now), now)
    assert len(state.history) == HISTORY_MAX == top.per_day
    # the day is full: wait until the oldest of the last `per_day` releases is a day old
    oldest = now - (top.per_day - 1) * 0.1
    assert state.wait(now) == pytest.approx(oldest + 86400 + RESET_GUARD - now)


@settings(max_examples=200, deadline=None)
@given(
    gaps=st.lists(st.floats(0.0, 900.0), min_size=1, max_size=60),
    after=st.floats(0.0, 90_000.0),
)
def test_the_hour_and_day_waits_match_a_count_of_every_release_in_the_window(gaps, after):
    """The long windows are judged from the limit-th newest release alone; a plain count of the
    releases inside each window (the oracle) must give the same wait."""
    tier = Tier("test", 1, 10**6, 7, 12)  # no minute limit to speak of; 7 an hour, 12 a day
    state = PaceState(tier=tier)
    released, t = [], T0
    for gap in gaps:
        t += gap
        state.finish(state.release(t), t)
        released.append(t)
    now = t + after
    expected = 0.0
    for length, limit in ((3600.0, 7), (86400.0, 12)):
        inside = [r for r in released if r > now - length]
        if len(inside) >= limit:
            expected = max(expected, inside[-limit] + length + RESET_GUARD - now)
    assert state.wait(now) == pytest.approx(expected)


@settings(max_examples=60, deadline=None)
@given(
    bursts=st.lists(st.tuples(st.integers(0, 30), st.integers(1, 30)), min_size=1, max_size=6),
    delays=st.lists(
        st.tuples(st.floats(0.0, 0.6), st.floats(0.001, 0.8)), min_size=40, max_size=40
    ),
    scale=st.sampled_from([0.01, 0.025, 0.05]),
)
def test_never_more_than_the_limit_is_sent_in_a_window(bursts, delays, scale):
    """The simulator's own ledger as the API: requests arrive in bursts (up to 30 at once, every
    0.2 s step; the limit is 20), are released only when the pacer says so, reach the API after
    a random delay (a loaded machine) and are answered after another. The ledger never refuses
    one (no 429): no window ever saw more than its limit."""
    clock = [T0]
    ledger = Ledger({"k": 50}, window_scale=scale, clock=lambda: clock[0])
    state = PaceState(tier=tier_for(50))
    queue = sorted(step * 0.2 for step, count in bursts for _ in range(count))
    total = len(queue)
    events: list[tuple[float, str, int, RateInfo | None]] = []  # (when, "admit"/"answer", seq)
    now = T0
    while queue or events:
        events.sort(key=lambda e: (e[0], e[1] == "answer"))
        next_event = events[0][0] if events else math.inf
        head_ready = math.inf
        if queue:
            arrival = T0 + queue[0]
            head_ready = max(arrival, now + state.wait(max(now, arrival)))
        now = max(now, min(next_event, head_ready))
        clock[0] = now
        if next_event <= head_ready:
            _, kind, seq, rate = events.pop(0)
            if kind == "admit":
                decision = ledger.admit("k")
                assert decision.allowed, f"request {seq} refused: too many in the window"
                rate = RateInfo(
                    limit=decision.limit, remaining=decision.remaining, reset=decision.reset
                )
                answer_delay = delays[seq % len(delays)][1]
                events.append((now + answer_delay, "answer", seq, rate))
            else:
                assert rate is not None
                state.observe(
                    seq, limit=rate.limit, remaining=rate.remaining, reset=rate.reset, now=now
                )
                state.finish(seq, now)
            continue
        if state.wait(now) > 0:
            continue
        queue.pop(0)
        seq = state.release(now)
        events.append((now + delays[seq % len(delays)][0], "admit", seq, None))
    assert ledger.used == {"k": 0} and state.released == total


# ---- the asyncio side ------------------------------------------------------------------------


def _pacer(max_wait: float = 5.0, limit: int = 3) -> Pacer:
    pacer = Pacer(max_wait=lambda: max_wait)
    pacer.state.header_limit = limit
    pacer.state.window, pacer.state.window_learned = 0.4, True
    return pacer


def test_held_requests_go_in_order_and_no_more_than_the_limit_at_once():
    async def main() -> list[tuple[int, float]]:
        pacer = _pacer()
        loop = asyncio.get_running_loop()
        start = loop.time()
        order: list[tuple[int, float]] = []

        async def one(i: int) -> None:
            async with pacer.slot():
                order.append((i, loop.time() - start))

        tasks = []
        for i in range(8):
            tasks.append(asyncio.ensure_future(one(i)))
            await asyncio.sleep(0)  # arrive in this order
        await asyncio.sleep(0.05)
        snap = pacer.snapshot()
        assert snap["waiting"] and snap["queued"] == 5 and snap["remaining"] == 0
        assert snap["limit"] == 3 and 0 < snap["resets_in"] <= 0.7
        await asyncio.gather(*tasks)
        assert not pacer.snapshot()["waiting"]
        return order

    order = asyncio.run(main())
    assert [i for i, _ in order] == list(range(8))
    times = [t for _, t in order]
    window = 0.4 + RESET_GUARD
    for t in times:  # never more than 3 in any window
        assert sum(1 for u in times if t <= u < t + 0.4) <= 3
    assert times[3] >= window - 0.05 and times[6] >= 2 * window - 0.05


def test_a_reset_beyond_the_bound_is_refused_at_once_with_retry_after():
    async def main() -> None:
        pacer = _pacer(max_wait=1)
        pacer.state.window = 30.0
        for _ in range(3):
            async with pacer.slot():
                pass
        loop = asyncio.get_running_loop()
        start = loop.time()
        with pytest.raises(RateLimited) as info:
            await pacer.acquire()
        assert loop.time() - start < 0.05
        assert info.value.retry_after == pytest.approx(30 + RESET_GUARD, abs=0.1)
        assert "relay.pace_max_wait" in info.value.message
        assert pacer.refused_total == 1

    asyncio.run(main())


def test_a_guessed_window_holds_but_is_no_reason_to_refuse_at_once():
    """Before any answer the window's length is the documented 60 s, a guess (a scaled
    simulator's is 1.5 s): a request past the limit waits for the answers, up to the bound."""
    state = PaceState(header_limit=2)
    state.release(T0), state.release(T0)
    assert state.wait(T0) == pytest.approx(MINUTE + RESET_GUARD)
    assert state.wait(T0, sure=True) == 0

    async def main() -> None:
        pacer = Pacer(max_wait=lambda: 0.3)
        pacer.state.header_limit = 2
        await pacer.acquire(), await pacer.acquire()
        loop = asyncio.get_running_loop()
        start = loop.time()
        with pytest.raises(RateLimited):
            await pacer.acquire()
        assert loop.time() - start >= 0.25  # held up to the bound, then refused

    asyncio.run(main())


def test_a_wait_that_runs_past_the_bound_is_refused_then():
    async def main() -> None:
        pacer = _pacer(max_wait=0.3, limit=1)  # window 0.4 s: each request waits for the last
        await pacer.acquire()
        first = asyncio.ensure_future(pacer.acquire())  # waits ~0.65 s: over the bound
        with pytest.raises(RateLimited):
            await first
        assert not pacer.snapshot()["waiting"]

    asyncio.run(main())


def test_zero_turns_holding_off():
    async def main() -> None:
        pacer = _pacer(max_wait=0, limit=1)
        for _ in range(5):
            await pacer.acquire()  # never waits, never refuses
        assert pacer.state.released == 5 and pacer.held_total == 0

    asyncio.run(main())


def test_pacing_logs_one_line_when_it_starts_and_one_when_it_ends():
    lines: list[str] = []

    async def main() -> None:
        pacer = Pacer(max_wait=lambda: 5, log=lines.append)
        pacer.state.header_limit, pacer.state.window = 1, 0.2

        async def one() -> None:
            async with pacer.slot():
                pass

        await asyncio.gather(*(one() for _ in range(3)))

    asyncio.run(main())
    assert len(lines) == 2
    assert lines[0].startswith("waiting for rate limit, 1 queued, resets in 1 s")
    assert lines[1].startswith("rate limit wait over: 2 held")
