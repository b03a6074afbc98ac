"""The fault spec grammar and the times=N counter (pure)."""

from __future__ import annotations

import pytest

from kimrel_cli.simulator.faults import FaultCounter, FaultSpecError, parse_fault


def test_every_key_of_the_grammar_parses():
    fault = parse_fault(
        "status=503, code=overloaded,retry_after=2,delay=0.5,chunk_delay=0.1,drop_after=3,times=2"
    )
    assert fault.status == 503
    assert fault.code == "overloaded"
    assert fault.retry_after == 2.0
    assert fault.delay == 0.5
    assert fault.chunk_delay == 0.1
    assert fault.drop_after == 3
    assert fault.times == 2


def test_an_empty_spec_is_no_fault():
    fault = parse_fault("")
    assert (fault.status, fault.delay, fault.drop_after, fault.times) == (None, 0.0, None, None)


@pytest.mark.parametrize(
    ("spec", "named"),
    [
        ("status", "expected key=value"),
        ("bogus=1", "unknown key 'bogus'"),
        ("status=abc", "status needs a whole number"),
        ("delay=soon", "delay needs a number"),
        ("status=200", "status must be 400-599"),
        ("delay=-1", "delay must be 0 or more"),
    ],
)
def test_a_bad_spec_names_the_problem(spec, named):
    with pytest.raises(FaultSpecError, match=named):
        parse_fault(spec)


def test_times_limits_how_many_requests_of_one_spec_are_affected():
    counter = FaultCounter()
    twice = parse_fault("status=503,times=2")
    always = parse_fault("status=500")
    assert [counter.applies(twice) for _ in range(3)] == [True, True, False]
    assert all(counter.applies(always) for _ in range(5))
    other = parse_fault("status=503,times=1")
    assert counter.applies(other) and not counter.applies(other)
