"""ChatToAnthropicStream: the worked example, edge cases, and any chunking of any answer."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from kimrel_cli.errors import RateLimited
from kimrel_cli.protocols.chat_to_anthropic_stream import ChatToAnthropicStream
from kimrel_cli.protocols.ids import decode_tool_id

from .invariants import check_anthropic_stream


def run(chunks, finish=True):
    tx = ChatToAnthropicStream(model="kimi-k2.6", message_id="msg_t", input_tokens=5)
    events = tx.start()
    for chunk in chunks:
        events += tx.feed(chunk)
    if finish:
        events += tx.finish()
    return events


def delta(**d):
    return {"choices": [{"index": 0, "delta": d, "finish_reason": None}]}


def finish(reason):
    return {"choices": [{"index": 0, "delta": {}, "finish_reason": reason}]}


def call(index, *, id=None, name=None, args=""):
    fn = {"arguments": args}
    if name is not None:
        fn["name"] = name
    frag = {"index": index, "function": fn}
    if id:
        frag["id"] = id
        frag["type"] = "function"
    return delta(tool_calls=[frag])


def test_worked_example_6_8_is_replayed_exactly():
    events = run(
        [
            delta(role="assistant", content=""),
            delta(reasoning_content="List files first."),
            delta(content="Let me look."),
            call(0, id="functions.Bash:0", name="Bash"),
            call(0, args='{"command":'),
            call(0, args=' "ls -la"}'),
            finish("tool_calls"),
            {
                "choices": [],
                "usage": {
                    "prompt_tokens": 1230,
                    "completion_tokens": 38,
                    "prompt_tokens_details": {"cached_tokens": 1024},
                },
            },
        ]
    )
    message = check_anthropic_stream(events)
    assert [b["type"] for b in message["content"]] == ["thinking", "text", "tool_use"]
    # docs/protocols.md 6.8: ids carry the message nonce (issue 11.1)
    assert message["content"][2]["id"] == "toolu_kr0000msgt_ZnVuY3Rpb25zLkJhc2g6MA"
    assert message["content"][2]["input"] == {"command": "ls -la"}
    assert message["stop_reason"] == "tool_use"
    assert (
        message["usage"]["input_tokens"] == 206
        and message["usage"]["cache_read_input_tokens"] == 1024
    )
    deltas = [
        d["delta"]["partial_json"]
        for n, d in events
        if n == "content_block_delta" and d["delta"]["type"] == "input_json_delta"
    ]
    assert deltas == ['{"command":', ' "ls -la"}']


def test_finish_reason_stop_with_tool_calls_still_means_tool_use():
    events = run([call(0, id="functions.f:0", name="f", args="{}"), finish("stop")])
    assert check_anthropic_stream(events)["stop_reason"] == "tool_use"


def test_empty_name_first_fragment_waits_for_the_name():
    events = run(
        [
            call(0, id="functions.f:0", name="", args=""),
            call(0, name="f", args='{"a":1}'),
            finish("tool_calls"),
        ]
    )
    message = check_anthropic_stream(events)
    assert message["content"][0]["name"] == "f" and message["content"][0]["input"] == {"a": 1}


def test_interleaved_parallel_calls_become_separate_ordered_blocks():
    events = run(
        [
            call(0, id="functions.a:0", name="a", args='{"x":'),
            call(1, id="functions.b:1", name="b", args='{"y":'),
            call(0, args="1}"),
            call(1, args="2}"),
            finish("tool_calls"),
        ]
    )
    message = check_anthropic_stream(events)
    assert [(b["name"], b["input"]) for b in message["content"]] == [
        ("a", {"x": 1}),
        ("b", {"y": 2}),
    ]


def test_stream_ending_without_finish_reason_ends_with_an_error_event():
    events = run([delta(content="partial")])
    assert check_anthropic_stream(events)["error"]["type"] == "api_error"


def test_error_chunk_mid_stream_becomes_one_error_event_and_nothing_after():
    tx = ChatToAnthropicStream(model="m", message_id="msg_t", input_tokens=1)
    events = (
        tx.start()
        + tx.feed(delta(content="a"))
        + tx.feed({"error": {"type": "rate_limit_error", "message": "slow down"}})
    )
    events += tx.finish() + tx.feed(delta(content="b"))
    assert check_anthropic_stream(events)["error"]["type"] == "rate_limit_error"


def test_fail_maps_the_error_type():
    tx = ChatToAnthropicStream(model="m", message_id="msg_t", input_tokens=1)
    assert tx.fail(RateLimited("x"))[0][1]["error"]["type"] == "rate_limit_error"


def test_usage_inside_choices_is_read_the_moonshot_way():
    events = run(
        [
            delta(content="hi"),
            {
                "choices": [
                    {
                        "index": 0,
                        "delta": {},
                        "finish_reason": "length",
                        "usage": {"prompt_tokens": 9, "completion_tokens": 7},
                    }
                ]
            },
        ]
    )
    message = check_anthropic_stream(events)
    assert message["usage"]["output_tokens"] == 7 and message["stop_reason"] == "max_tokens"


# --- properties -------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=6),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)
answers = st.fixed_dictionaries(
    {
        "thinking": st.text(max_size=20),
        "text": st.text(max_size=30),
        "calls": st.lists(
            st.tuples(
                st.sampled_from(["Bash", "Read", "Edit"]),
                st.dictionaries(st.text(max_size=5), json_values, max_size=3),
            ),
            max_size=3,
        ),
        "usage_in_choice": st.booleans(),
        "interleave": st.booleans(),
    }
)


def split(text, cuts):
    points = sorted({c % (len(text) + 1) for c in cuts})
    pieces, last = [], 0
    for p in [*points, len(text)]:
        pieces.append(text[last:p])
        last = p
    return [p for p in pieces if p] or [""]


@given(answer=answers, data=st.data())
def test_any_chunking_of_an_answer_gives_a_well_formed_anthropic_stream(answer, data):
    cuts = st.lists(st.integers(0, 200), max_size=4)
    chunks = [delta(role="assistant", content="")]
    for piece in split(answer["thinking"], data.draw(cuts)) if answer["thinking"] else []:
        chunks.append(delta(reasoning_content=piece))
    for piece in split(answer["text"], data.draw(cuts)) if answer["text"] else []:
        chunks.append(delta(content=piece))
    per_call = []
    for i, (name, args) in enumerate(answer["calls"]):
        text = json.dumps(args)
        frags = [call(i, id=f"functions.{name}:{i}", name=name)]
        frags += [call(i, args=p) for p in split(text, data.draw(cuts))]
        per_call.append(frags)
    if answer["interleave"]:
        while any(per_call):
            for frags in per_call:
                if frags:
                    chunks.append(frags.pop(0))
    else:
        for frags in per_call:
            chunks += frags
    usage = {"prompt_tokens": 10, "completion_tokens": 4}
    if answer["usage_in_choice"]:
        chunks.append(
            {
                "choices": [
                    {"index": 0, "delta": {"content": ""}, "finish_reason": "stop", "usage": usage}
                ]
            }
        )
    else:
        chunks += [
            finish("tool_calls" if answer["calls"] else "stop"),
            {"choices": [], "usage": usage},
        ]
    message = check_anthropic_stream(run(chunks))
    expected = []
    if answer["thinking"]:
        expected.append(("thinking", answer["thinking"]))
    if answer["text"]:
        expected.append(("text", answer["text"]))
    expected += [("tool_use", (name, args)) for name, args in answer["calls"]]
    got = []
    for block in message["content"]:
        if block["type"] == "thinking":
            got.append(("thinking", block["thinking"]))
        elif block["type"] == "text":
            got.append(("text", block["text"]))
        else:
            got.append(("tool_use", (block["name"], block["input"])))
            assert decode_tool_id(block["id"]).startswith(f"functions.{block['name']}:")
    assert got == expected
    assert message["stop_reason"] == ("tool_use" if answer["calls"] else "end_turn")
