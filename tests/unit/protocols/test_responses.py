"""The Responses bridge: request mapping rows (docs/protocols.md R5.1–R5.3), answers, and stream invariants."""

from __future__ import annotations

import itertools
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from openai._models import construct_type
from openai.lib.streaming.responses._responses import ResponseStreamState
from openai.types.responses import ResponseStreamEvent

from kimrel_cli.catalogue import MODELS, get_model
from kimrel_cli.errors import BadRequest, InsufficientCredits
from kimrel_cli.protocols.chat_hub import client_call_id, decode_reasoning, encode_reasoning
from kimrel_cli.protocols.chat_to_responses import chat_to_responses
from kimrel_cli.protocols.chat_to_responses_stream import ChatToResponsesStream
from kimrel_cli.protocols.responses_to_chat import INTERRUPTED, ResponsesTarget, responses_to_chat

from .invariants import check_responses_stream

K2 = ResponsesTarget(model="kimi-k2", info=MODELS["kimi-k2"], max_output_tokens=8192)
K26 = ResponsesTarget(model="kimi-k2.6", info=MODELS["kimi-k2.6"], max_output_tokens=8192)


def ids():
    counter = itertools.count()
    return lambda prefix: f"{prefix}_{next(counter)}"


def translate(body, target=K2):
    return responses_to_chat({"model": "kimi-k2", **body}, target)


def test_string_input_and_instructions():
    chat, _, _ = translate({"input": "hi", "instructions": "be brief"})
    assert chat["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi"},
    ]
    assert chat["max_tokens"] == 8192, (
        "the model's limit is always sent (hosted default 1024 truncates)"
    )


def test_codex_shape_developer_messages_lead_and_later_ones_stay_in_place():
    items = [
        {
            "type": "message",
            "role": "developer",
            "content": [{"type": "input_text", "text": "base"}],
        },
        {
            "type": "message",
            "role": "developer",
            "content": [{"type": "input_text", "text": "perms"}],
        },
        {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": "list files"}],
        },
        {
            "type": "message",
            "role": "developer",
            "content": [{"type": "input_text", "text": "later"}],
        },
    ]
    chat, _, _ = translate({"input": items})
    assert chat["messages"] == [
        {"role": "system", "content": "base\n\nperms"},
        {"role": "user", "content": "list files"},
        {"role": "system", "content": "later"},
    ]


def test_two_turn_history_with_reasoning_calls_and_outputs():
    call_a = client_call_id("resp_aaaaaaaa", "functions.exec_command:0")
    call_b = client_call_id("resp_bbbbbbbb", "functions.exec_command:0")
    items = [
        {"role": "user", "content": "go"},
        {
            "type": "reasoning",
            "id": "rs_1",
            "summary": [{"type": "summary_text", "text": "s"}],
            "content": None,
            "encrypted_content": encode_reasoning("think A"),
        },
        {
            "type": "function_call",
            "id": "fc_1",
            "call_id": call_a,
            "name": "exec_command",
            "arguments": '{"cmd":"ls"}',
        },
        {"type": "function_call_output", "call_id": call_a, "output": "a.txt"},
        {
            "type": "function_call",
            "id": "fc_2",
            "call_id": call_b,
            "name": "exec_command",
            "arguments": '{"cmd":"cat a.txt"}',
        },
        {"type": "function_call_output", "call_id": call_b, "output": "hello"},
    ]
    chat, _, _ = translate({"input": items}, K26)
    roles = [m["role"] for m in chat["messages"]]
    assert roles == ["user", "assistant", "tool", "assistant", "tool"]
    assert chat["messages"][1]["reasoning_content"] == "think A"
    assert chat["messages"][3]["reasoning_content"], (
        "thinking on: every tool-call turn carries reasoning"
    )
    assert chat["messages"][1]["tool_calls"][0]["id"] == "functions.exec_command:0"
    assert chat["messages"][2] == {
        "role": "tool",
        "tool_call_id": "functions.exec_command:0",
        "content": "a.txt",
    }
    assert chat["messages"][4]["content"] == "hello", (
        "outputs pair with their own turn despite repeated upstream ids"
    )


def test_parallel_calls_share_one_assistant_message_and_missing_outputs_are_synthesised():
    items = [
        {"role": "user", "content": "go"},
        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
        {"type": "function_call", "call_id": "c2", "name": "f", "arguments": "{}"},
        {"role": "user", "content": "interrupting note"},
        {"type": "function_call_output", "call_id": "c1", "output": "one"},
    ]
    messages = translate({"input": items})[0]["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "tool", "user"]
    assert len(messages[1]["tool_calls"]) == 2
    assert messages[3] == {"role": "tool", "tool_call_id": "c2", "content": INTERRUPTED}


def test_namespace_custom_and_hosted_tools():
    tools = [
        {
            "type": "function",
            "name": "exec_command",
            "parameters": {"type": "object", "properties": {}},
            "strict": False,
        },
        {
            "type": "namespace",
            "name": "multi_agent_v1",
            "description": "d",
            "tools": [{"type": "function", "name": "close_agent", "parameters": {}}],
        },
        {
            "type": "custom",
            "name": "apply_patch",
            "description": "patch",
            "format": {"type": "grammar", "syntax": "lark", "definition": "start: x"},
        },
        {"type": "web_search", "external_web_access": False},
    ]
    chat, ctx, notes = translate({"input": "x", "tools": tools, "tool_choice": "auto"})
    names = [t["function"]["name"] for t in chat["tools"]]
    assert names == ["exec_command", "multi_agent_v1__close_agent", "apply_patch"]
    assert ctx.namespace_map == {"multi_agent_v1__close_agent": ("multi_agent_v1", "close_agent")}
    assert "start: x" in chat["tools"][2]["function"]["description"]
    assert any("web_search" in n for n in notes)
    answer = {
        "choices": [
            {
                "finish_reason": "tool_calls",
                "message": {
                    "tool_calls": [
                        {
                            "id": "functions.multi_agent_v1__close_agent:0",
                            "function": {"name": "multi_agent_v1__close_agent", "arguments": "{}"},
                        },
                        {
                            "id": "functions.apply_patch:1",
                            "function": {
                                "name": "apply_patch",
                                "arguments": json.dumps({"input": "*** Begin Patch"}),
                            },
                        },
                    ]
                },
            }
        ]
    }
    out = chat_to_responses(answer, ctx, response_id="resp_1", created_at=1, item_ids=ids())[
        "output"
    ]
    assert out[0]["type"] == "function_call" and (out[0]["namespace"], out[0]["name"]) == (
        "multi_agent_v1",
        "close_agent",
    )
    assert out[1]["type"] == "custom_tool_call" and out[1]["input"] == "*** Begin Patch"


@pytest.mark.parametrize(
    ("reasoning", "target", "thinking"),
    [
        ({"effort": "none"}, K26, "disabled"),
        ({"effort": "high"}, K26, "enabled"),
        (None, K26, "enabled"),
        ({"effort": "none"}, K2, None),
    ],
    ids=["none-disables", "high-enables", "absent-default", "non-thinking-model"],
)
def test_reasoning_effort_maps_to_thinking(reasoning, target, thinking):
    body = {"input": "x"} | ({"reasoning": reasoning} if reasoning else {})
    chat = translate(body, target)[0]
    assert chat.get("thinking", {}).get("type") == thinking


def test_forced_tool_choice_disables_thinking_on_k2_6():
    chat, _, _ = translate(
        {
            "input": "x",
            "tools": [{"type": "function", "name": "f"}],
            "tool_choice": {"type": "function", "name": "f"},
        },
        K26,
    )
    assert chat["tool_choice"] == {"type": "function", "function": {"name": "f"}} and chat[
        "thinking"
    ] == {"type": "disabled"}


def test_text_format_json_schema_becomes_response_format_with_a_system_note():
    fmt = {"type": "json_schema", "name": "out", "schema": {"type": "object"}, "strict": True}
    chat = translate({"input": "x", "text": {"format": fmt}})[0]
    assert (
        chat["response_format"]["type"] == "json_schema"
        and "schema" in chat["messages"][0]["content"]
    )


@pytest.mark.parametrize("field", ["background", "conversation"])
def test_unsupported_stateful_fields_are_refused(field):
    with pytest.raises(BadRequest):
        translate({"input": "x", field: True})


def test_file_inputs_are_refused_with_a_clear_code():
    with pytest.raises(BadRequest) as info:
        translate(
            {"input": [{"role": "user", "content": [{"type": "input_image", "file_id": "f"}]}]}, K26
        )
    assert info.value.wire_code == "unsupported_content"


def test_reasoning_encoding_round_trips_and_foreign_blobs_are_ignored():
    assert decode_reasoning(encode_reasoning("héllo")) == "héllo"
    assert decode_reasoning("gAAAA-openai-blob") is None


def test_non_streaming_answer_items_status_and_usage():
    _, ctx, _ = translate({"input": "x", "reasoning": {"summary": "auto"}})
    answer = {
        "choices": [
            {"finish_reason": "length", "message": {"content": "partial", "reasoning_content": "r"}}
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 4},
    }
    out = chat_to_responses(answer, ctx, response_id="resp_1", created_at=1, item_ids=ids())
    assert [i["type"] for i in out["output"]] == ["reasoning", "message"]
    assert (
        out["output"][0]["summary"][0]["text"] == "r"
        and decode_reasoning(out["output"][0]["encrypted_content"]) == "r"
    )
    assert out["status"] == "incomplete" and out["incomplete_details"] == {
        "reason": "max_output_tokens"
    }
    assert out["usage"]["total_tokens"] == 7


# --- streaming ---------------------------------------------------------------------------


def stream(chunks, ctx=None, finish=True):
    ctx = ctx or translate({"input": "x", "reasoning": {"summary": "auto"}})[1]
    tx = ChatToResponsesStream(ctx, response_id="resp_abcdefgh", created_at=1, item_ids=ids())
    events = tx.start()
    for chunk in chunks:
        events += tx.feed(chunk)
    if finish:
        events += tx.finish()
    return events, tx


def delta(**d):
    return {"choices": [{"index": 0, "delta": d, "finish_reason": None}]}


def sdk_final(events):
    """Feed our events to the openai SDK's own stream accumulator; return its final response."""
    from openai import omit

    state = ResponseStreamState(input_tools=omit, text_format=omit)
    for _, data in events:
        state.handle_event(construct_type(type_=ResponseStreamEvent, value=data))
    return state._completed_response


def test_worked_example_r5_8():
    events, tx = stream(
        [
            delta(role="assistant", reasoning_content="Need the file"),
            delta(reasoning_content=" list."),
            delta(
                tool_calls=[
                    {
                        "index": 0,
                        "id": "functions.exec_command:0",
                        "type": "function",
                        "function": {"name": "exec_command", "arguments": ""},
                    }
                ]
            ),
            delta(tool_calls=[{"index": 0, "function": {"arguments": '{"cmd":'}}]),
            delta(tool_calls=[{"index": 0, "function": {"arguments": '"ls"}'}}]),
            {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
            {
                "choices": [],
                "usage": {"prompt_tokens": 4100, "completion_tokens": 35, "total_tokens": 4135},
            },
        ]
    )
    names = [n for n, _ in events]
    assert names == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    final = check_responses_stream(events)
    assert final["output"][1]["arguments"] == '{"cmd":"ls"}'
    assert final["output"][1]["call_id"].endswith("_functions.exec_command:0")
    assert final["usage"]["input_tokens"] == 4100
    assert tx.final_response == final
    assert sdk_final(events).output[1].arguments == '{"cmd":"ls"}'


def test_stream_cut_before_finish_fails_with_response_failed():
    events, _ = stream([delta(content="hal")])
    final = check_responses_stream(events)
    assert events[-1][0] == "response.failed" and final["error"]["code"] == "server_error"


def test_credits_error_mid_stream_is_shown_by_codex_verbatim_and_not_retried():
    # `insufficient_quota` would make Codex print its own "Quota exceeded. Check your plan and
    # billing details." and drop kimrel's text; `invalid_prompt` is printed as is, never retried.
    _, tx = stream([], finish=False)
    events = tx.fail(InsufficientCredits("out of credits", hint="Buy credits at URL."))
    error = events[0][1]["response"]["error"]
    assert error["code"] == "invalid_prompt"
    assert error["message"] == "kimrel: out of credits. Buy credits at URL."


def test_keepalive_is_a_real_event():
    _, tx = stream([], finish=False)
    assert tx.keepalive()[0][0] == "response.in_progress"


answers = st.fixed_dictionaries(
    {
        "thinking": st.text(max_size=15),
        "text": st.text(max_size=25),
        "calls": st.lists(
            st.dictionaries(st.text(max_size=4), st.integers() | st.text(max_size=4), max_size=3),
            max_size=3,
        ),
        "interleave": st.booleans(),
        "raw": st.booleans(),
        "usage_in_choice": st.booleans(),
    }
)


def pieces(text, cuts):
    points = sorted({c % (len(text) + 1) for c in cuts})
    out, last = [], 0
    for p in [*points, len(text)]:
        out.append(text[last:p])
        last = p
    return [p for p in out if p]


@given(answer=answers, data=st.data())
def test_any_chunking_gives_a_well_formed_responses_stream_the_sdk_accepts(answer, data):
    ctx = translate({"input": "x", "reasoning": None if answer["raw"] else {"summary": "auto"}})[1]
    cuts = st.lists(st.integers(0, 100), max_size=3)
    chunks = [delta(role="assistant", content="")]
    chunks += [delta(reasoning_content=p) for p in pieces(answer["thinking"], data.draw(cuts))]
    chunks += [delta(content=p) for p in pieces(answer["text"], data.draw(cuts))]
    per_call = []
    for i, args in enumerate(answer["calls"]):
        frags = [
            delta(
                tool_calls=[
                    {
                        "index": i,
                        "id": f"functions.f:{i}",
                        "type": "function",
                        "function": {"name": "f", "arguments": ""},
                    }
                ]
            )
        ]
        frags += [
            delta(tool_calls=[{"index": i, "function": {"arguments": p}}])
            for p in pieces(json.dumps(args), data.draw(cuts))
        ]
        per_call.append(frags)
    if answer["interleave"]:
        while any(per_call):
            for frags in per_call:
                if frags:
                    chunks.append(frags.pop(0))
    else:
        chunks += [f for frags in per_call for f in frags]
    usage = {"prompt_tokens": 5, "completion_tokens": 6}
    if answer["usage_in_choice"]:
        chunks.append(
            {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop", "usage": usage}]}
        )
    else:
        chunks += [
            {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
            {"choices": [], "usage": usage},
        ]
    events, _ = stream(chunks, ctx)
    final = check_responses_stream(events)
    kinds = [i["type"] for i in final["output"]]
    expected = (
        (["reasoning"] if answer["thinking"] else [])
        + (["message"] if answer["text"] else [])
        + ["function_call"] * len(answer["calls"])
    )
    assert kinds == expected
    calls = [i for i in final["output"] if i["type"] == "function_call"]
    assert [json.loads(c["arguments"]) for c in calls] == answer["calls"]
    if answer["text"]:
        assert (
            next(i for i in final["output"] if i["type"] == "message")["content"][0]["text"]
            == answer["text"]
        )
    parsed = sdk_final(events)
    assert parsed is not None and len(parsed.output) == len(expected)


APPLY_PATCH = {
    "type": "custom",
    "name": "apply_patch",
    "description": "Use the `apply_patch` tool to edit files.",
    "format": {"type": "grammar", "syntax": "lark", "definition": 'start: "*** Begin Patch"'},
}
PATCH = "*** Begin Patch\n*** Add File: a.txt\n+hi\n*** End Patch\n"


def test_apply_patch_streams_back_as_a_custom_tool_call_in_any_chunking():
    ctx = translate({"input": "x", "tools": [APPLY_PATCH]})[1]
    arguments = json.dumps({"input": PATCH})
    for size in (1, 7, len(arguments)):
        frags = [arguments[i : i + size] for i in range(0, len(arguments), size)]
        chunks = [
            delta(
                role="assistant",
                tool_calls=[
                    {
                        "index": 0,
                        "id": "functions.apply_patch:0",
                        "type": "function",
                        "function": {"name": "apply_patch", "arguments": ""},
                    }
                ],
            )
        ]
        chunks += [delta(tool_calls=[{"index": 0, "function": {"arguments": f}}]) for f in frags]
        chunks.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})
        events, _ = stream(chunks, ctx)
        final = check_responses_stream(events)
        [item] = final["output"]
        assert item["type"] == "custom_tool_call" and item["name"] == "apply_patch"
        assert item["input"] == PATCH
        assert item["call_id"].endswith("_functions.apply_patch:0")
        names = [name for name, _ in events]
        assert "response.custom_tool_call_input.done" in names
        assert "response.function_call_arguments.delta" not in names
        done = [d for n, d in events if n == "response.custom_tool_call_input.done"]
        assert done[0]["input"] == PATCH


def test_custom_tool_call_and_its_output_go_back_as_a_function_call_and_tool_message():
    call_id = client_call_id("resp_abcdefgh", "functions.apply_patch:0")
    items = [
        {"role": "user", "content": "edit"},
        {"type": "custom_tool_call", "call_id": call_id, "name": "apply_patch", "input": PATCH},
        {"type": "custom_tool_call_output", "call_id": call_id, "output": "Success. Done."},
    ]
    chat = translate({"input": items, "tools": [APPLY_PATCH]})[0]
    assistant, tool = chat["messages"][-2:]
    [call] = assistant["tool_calls"]
    assert call["function"]["name"] == "apply_patch"
    assert json.loads(call["function"]["arguments"]) == {"input": PATCH}
    assert tool == {"role": "tool", "tool_call_id": call["id"], "content": "Success. Done."}
    assert call["id"] == "functions.apply_patch:0", "Kimi gets its own id form back"


def test_without_a_cap_the_target_takes_the_catalogue_limit_of_its_model():
    raised = get_model("kimi-k2.6", {"kimi-k2.6": {"max_output_tokens": 16384}})
    body = {"input": "hi", "max_output_tokens": 50_000}
    out, _, _ = responses_to_chat(body, ResponsesTarget(model="kimi-k2.6", info=raised))
    assert out["max_tokens"] == 16384
    out, _, _ = responses_to_chat(body, ResponsesTarget(model="kimi-k9"))
    assert out["max_tokens"] == 50_000  # unknown model: no cap
