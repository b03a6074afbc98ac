"""anthropic_to_chat and chat_to_anthropic: one case per row of docs/protocols.md 6.1–6.6."""

from __future__ import annotations

import base64

import pytest

from kimrel_cli.catalogue import MODELS, get_model
from kimrel_cli.errors import (
    BadRequest,
    InsufficientCredits,
    NotFound,
    RateLimited,
    ServerError,
    UpstreamUnavailable,
)
from kimrel_cli.protocols import errors as wire
from kimrel_cli.protocols.anthropic_to_chat import (
    ChatTarget,
    anthropic_to_chat,
    image_urls_to_fetch,
)
from kimrel_cli.protocols.chat_hub import NO_VISION
from kimrel_cli.protocols.chat_to_anthropic import chat_to_anthropic
from kimrel_cli.protocols.ids import decode_tool_id, encode_tool_id
from kimrel_cli.protocols.tokens import estimate_anthropic_request_tokens

MSG_ID = "msg_kr_0123456789abcdef01234567"
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 32
K2 = ChatTarget(model="kimi-k2", info=MODELS["kimi-k2"], max_output_tokens=8192)
K26 = ChatTarget(model="kimi-k2.6", info=MODELS["kimi-k2.6"], max_output_tokens=8192)
THINKING = ChatTarget(
    model="kimi-k2-thinking", info=MODELS["kimi-k2-thinking"], max_output_tokens=8192
)


def req(messages, **extra):
    return {"model": "x", "max_tokens": 100, "messages": messages, **extra}


def chat(body, target=K2):
    return anthropic_to_chat(body, target)[0]


def test_system_string_and_blocks_become_one_leading_system_message_without_billing_line():
    out = chat(
        req(
            [{"role": "user", "content": "hi"}],
            system=[
                {"type": "text", "text": "x-anthropic-billing-header: cch=1;"},
                {"type": "text", "text": "A"},
                {"type": "text", "text": "B"},
            ],
        )
    )
    assert out["messages"][0] == {"role": "system", "content": "A\n\nB"}


@pytest.mark.parametrize(
    ("mode", "expected_roles"),
    [("keep", ["user", "system", "assistant"]), ("fold", ["system", "user", "assistant"])],
)
def test_mid_conversation_system_kept_in_place_or_folded(mode, expected_roles):
    target = ChatTarget(model="kimi-k2", info=MODELS["kimi-k2"], mid_conversation_system=mode)
    out = chat(
        req(
            [
                {"role": "user", "content": "a"},
                {"role": "system", "content": "note"},
                {"role": "assistant", "content": "b"},
            ]
        ),
        target,
    )
    assert [m["role"] for m in out["messages"]] == expected_roles


def test_base64_image_type_comes_from_the_bytes_not_the_label():
    block = {
        "type": "image",
        "source": {
            "type": "base64",
            "media_type": "image/jpeg",
            "data": base64.b64encode(PNG).decode(),
        },
    }
    out = chat(req([{"role": "user", "content": [block, {"type": "text", "text": "what?"}]}]), K26)
    assert out["messages"][0]["content"][0]["image_url"]["url"].startswith("data:image/png;base64,")


def test_image_for_text_only_model_becomes_a_placeholder():
    block = {
        "type": "image",
        "source": {
            "type": "base64",
            "media_type": "image/png",
            "data": base64.b64encode(PNG).decode(),
        },
    }
    out = chat(req([{"role": "user", "content": [block, {"type": "text", "text": "q"}]}]), K2)
    assert NO_VISION in out["messages"][0]["content"]


def test_remote_image_urls_are_listed_and_taken_from_the_prefetched_map():
    block = {"type": "image", "source": {"type": "url", "url": "https://e.x/a.png"}}
    body = req([{"role": "user", "content": [block]}])
    assert image_urls_to_fetch(body) == ["https://e.x/a.png"]
    target = ChatTarget(
        model="kimi-k2.6",
        info=MODELS["kimi-k2.6"],
        images={"https://e.x/a.png": "data:image/png;base64,AA"},
    )
    assert (
        chat(body, target)["messages"][0]["content"][0]["image_url"]["url"]
        == "data:image/png;base64,AA"
    )
    with pytest.raises(BadRequest):
        chat(body, K26)


def test_pdf_document_is_refused_text_document_kept():
    with pytest.raises(BadRequest):
        chat(
            req(
                [
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "document",
                                "source": {
                                    "type": "base64",
                                    "media_type": "application/pdf",
                                    "data": "AA",
                                },
                            }
                        ],
                    }
                ]
            )
        )
    out = chat(
        req(
            [
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "document",
                            "source": {"type": "text", "media_type": "text/plain", "data": "doc"},
                        }
                    ],
                }
            ]
        )
    )
    assert out["messages"][0]["content"] == "doc"


def tool_turn(result_blocks, calls=("functions.Bash:0",)):
    uses = [
        {
            "type": "tool_use",
            "id": encode_tool_id(c, MSG_ID),
            "name": "Bash",
            "input": {"command": "ls"},
        }
        for c in calls
    ]
    return req(
        [
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": uses},
            {"role": "user", "content": result_blocks},
        ]
    )


def test_tool_results_become_tool_messages_in_call_order_then_user_text():
    ids = ("functions.Bash:0", "functions.Bash:1")
    body = tool_turn(
        [
            {"type": "text", "text": "and then?"},
            {
                "type": "tool_result",
                "tool_use_id": encode_tool_id(ids[1], MSG_ID),
                "content": [{"type": "text", "text": "two"}],
            },
            {
                "type": "tool_result",
                "tool_use_id": encode_tool_id(ids[0], MSG_ID),
                "content": "one",
                "is_error": True,
            },
        ],
        ids,
    )
    messages = chat(body)["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "tool", "user"]
    assert messages[2] == {"role": "tool", "tool_call_id": ids[0], "content": "[tool error] one"}
    assert messages[3]["content"] == "two" and messages[4]["content"] == "and then?"
    assert [c["id"] for c in messages[1]["tool_calls"]] == list(ids)


def test_missing_tool_result_is_synthesized_and_orphan_result_becomes_user_text():
    body = tool_turn([{"type": "tool_result", "tool_use_id": "toolu_other", "content": "x"}])
    messages = chat(body)["messages"]
    assert messages[2] == {
        "role": "tool",
        "tool_call_id": "functions.Bash:0",
        "content": "[no result]",
    }
    assert messages[3]["content"].startswith("[result of tool call toolu_other]")


def test_image_inside_tool_result_is_lifted_into_a_user_message():
    image = {
        "type": "image",
        "source": {
            "type": "base64",
            "media_type": "image/png",
            "data": base64.b64encode(PNG).decode(),
        },
    }
    body = tool_turn(
        [
            {
                "type": "tool_result",
                "tool_use_id": encode_tool_id("functions.Bash:0", MSG_ID),
                "content": [{"type": "text", "text": "shot"}, image],
            }
        ]
    )
    messages = chat(body, K26)["messages"]
    assert "[image attached below]" in messages[2]["content"]
    assert messages[3]["role"] == "user" and messages[3]["content"][0]["type"] == "image_url"


def test_thinking_round_trips_and_a_missing_one_gets_a_placeholder_on_thinking_models():
    with_thinking = tool_turn(
        [
            {
                "type": "tool_result",
                "tool_use_id": encode_tool_id("functions.Bash:0", MSG_ID),
                "content": "ok",
            }
        ]
    )
    with_thinking["thinking"] = {"type": "adaptive"}
    assert chat(with_thinking, K26)["messages"][1]["reasoning_content"]
    assert "reasoning_content" not in chat(with_thinking, K2)["messages"][1]
    with_thinking["messages"][1]["content"].insert(
        0, {"type": "thinking", "thinking": "hmm", "signature": "s"}
    )
    assert chat(with_thinking, K26)["messages"][1]["reasoning_content"] == "hmm"


def test_consecutive_user_messages_are_merged_and_leading_assistant_dropped():
    messages = chat(
        req(
            [
                {"role": "assistant", "content": "x"},
                {"role": "user", "content": "a"},
                {"role": "user", "content": "b"},
            ]
        )
    )["messages"]
    assert messages == [{"role": "user", "content": "a\n\nb"}]


def test_trailing_assistant_prefill_is_sent_as_partial():
    messages = chat(
        req([{"role": "user", "content": "a"}, {"role": "assistant", "content": "The answer is"}])
    )["messages"]
    assert messages[-1] == {"role": "assistant", "content": "The answer is", "partial": True}


TOOL = {
    "name": "Bash",
    "description": "run",
    "input_schema": {"type": "object", "properties": {"c": {"enum": [1, 2]}}},
    "cache_control": {"type": "ephemeral"},
    "defer_loading": True,
}


@pytest.mark.parametrize(
    ("choice", "target", "expected", "thinking"),
    [
        ({"type": "auto"}, K2, "auto", None),
        ({"type": "none"}, K2, "none", None),
        ({"type": "any"}, K2, "required", None),
        (
            {"type": "tool", "name": "Bash"},
            K2,
            {"type": "function", "function": {"name": "Bash"}},
            None,
        ),
        ({"type": "any"}, K26, "required", {"type": "disabled"}),
        ({"type": "any"}, THINKING, "auto", None),
    ],
    ids=[
        "auto",
        "none",
        "any",
        "named",
        "forced-disables-thinking-k2.6",
        "forced-degrades-on-k2-thinking",
    ],
)
def test_tool_choice_mapping(choice, target, expected, thinking):
    out = chat(req([{"role": "user", "content": "a"}], tools=[TOOL], tool_choice=choice), target)
    assert out["tool_choice"] == expected
    assert out.get("thinking") == (thinking or out.get("thinking"))
    if thinking:
        assert out["thinking"] == thinking


def test_tools_are_stripped_of_anthropic_fields_and_untyped_properties_get_a_type():
    out, notes = anthropic_to_chat(
        req(
            [{"role": "user", "content": "a"}],
            tools=[TOOL, {"type": "web_search_20250305", "name": "web_search"}],
        ),
        K2,
    )
    assert out["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "Bash",
                "description": "run",
                "parameters": {
                    "type": "object",
                    "properties": {"c": {"enum": [1, 2], "type": "number"}},
                },
            },
        }
    ]
    assert any("web_search" in n for n in notes)


@pytest.mark.parametrize(
    ("target", "body_extra", "expected"),
    [
        (K2, {"temperature": 1.0}, {"temperature": 0.6}),
        (K26, {"temperature": 0.3, "top_p": 0.5}, {}),
        (THINKING, {"temperature": 0.3}, {}),
    ],
    ids=["k2-scaled", "k2.6-omitted", "thinking-omitted"],
)
def test_temperature_mapping(target, body_extra, expected):
    out = chat(req([{"role": "user", "content": "a"}], **body_extra), target)
    assert {k: out[k] for k in ("temperature", "top_p") if k in out} == expected


def test_limits_stops_user_and_stream_options():
    out = chat(
        req(
            [{"role": "user", "content": "a"}],
            max_tokens=32000,
            stop_sequences=["X"],
            metadata={"user_id": '{"device_id":"d"}'},
            stream=True,
        )
    )
    assert out["max_tokens"] == 8192 and out["stop"] == ["X"]
    assert out["user"].startswith("cc-") and len(out["user"]) == 35
    assert out["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize(
    ("requested", "sent"),
    [
        ({"type": "enabled", "budget_tokens": 2000}, "enabled"),
        ({"type": "adaptive"}, "enabled"),
        ({"type": "disabled"}, "disabled"),
        (None, "disabled"),  # Claude Code with MAX_THINKING_TOKENS=0 omits it (issue 11.7)
    ],
)
def test_thinking_switch_on_k2_6(requested, sent):
    extra = {"thinking": requested} if requested else {}
    assert chat(req([{"role": "user", "content": "a"}], **extra), K26)["thinking"] == {"type": sent}


def test_unknown_fields_are_dropped_not_rejected():
    out, notes = anthropic_to_chat(
        req(
            [{"role": "user", "content": "a"}],
            context_management={"edits": []},
            cache_control={"type": "ephemeral"},
            top_k=3,
        ),
        K2,
    )
    assert "context_management" not in out and "top_k" not in out
    assert {"dropped context_management", "dropped cache_control", "dropped top_k"} <= set(notes)


# --- response ------------------------------------------------------------------------------


def test_whole_answer_with_reasoning_text_and_tool_call():
    resp = {
        "id": "chatcmpl-1",
        "choices": [
            {
                "finish_reason": "stop",
                "message": {
                    "role": "assistant",
                    "content": "Look.",
                    "reasoning_content": "hmm",
                    "tool_calls": [
                        {
                            "id": "functions.Bash:0",
                            "type": "function",
                            "function": {"name": "Bash", "arguments": '{"command":"ls"}'},
                        }
                    ],
                },
            }
        ],
        "usage": {
            "prompt_tokens": 100,
            "completion_tokens": 9,
            "prompt_tokens_details": {"cached_tokens": 40},
        },
    }
    msg = chat_to_anthropic(
        resp, requested_model="claude-sonnet-4", message_id="msg_1", input_tokens_estimate=1
    )
    assert [b["type"] for b in msg["content"]] == ["thinking", "text", "tool_use"]
    assert (
        msg["content"][0]["signature"]
        and msg["stop_reason"] == "tool_use"
        and msg["model"] == "claude-sonnet-4"
    )
    assert decode_tool_id(msg["content"][2]["id"]) == "functions.Bash:0"
    assert msg["usage"] == {
        "input_tokens": 60,
        "output_tokens": 9,
        "cache_read_input_tokens": 40,
        "cache_creation_input_tokens": 0,
    }


@pytest.mark.parametrize(
    ("finish", "stop"),
    [
        ("stop", "end_turn"),
        ("length", "max_tokens"),
        ("content_filter", "refusal"),
        (None, "end_turn"),
    ],
)
def test_finish_reasons(finish, stop):
    resp = {"choices": [{"finish_reason": finish, "message": {"content": "x"}}]}
    assert (
        chat_to_anthropic(resp, requested_model="m", message_id="msg", input_tokens_estimate=1)[
            "stop_reason"
        ]
        == stop
    )


@pytest.mark.parametrize(("args", "expected"), [("", {}), ('{"a":1,}', {"a": 1}), ("not json", {})])
def test_tool_arguments_are_repaired_or_emptied(args, expected):
    resp = {
        "choices": [
            {
                "finish_reason": "tool_calls",
                "message": {
                    "tool_calls": [{"id": "i", "function": {"name": "f", "arguments": args}}]
                },
            }
        ]
    }
    msg = chat_to_anthropic(resp, requested_model="m", message_id="msg", input_tokens_estimate=1)
    assert msg["content"][0]["input"] == expected and not [
        b for b in msg["content"] if b["type"] == "text"
    ]


def test_missing_usage_is_estimated_never_omitted():
    msg = chat_to_anthropic(
        {"choices": [{"message": {"content": "hello"}}]},
        requested_model="m",
        message_id="msg",
        input_tokens_estimate=12,
    )
    assert msg["usage"]["input_tokens"] == 12 and msg["usage"]["output_tokens"] >= 1


# --- errors and estimates ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "anthropic", "openai"),
    [
        (
            BadRequest("bad", wire_code="context_length_exceeded"),
            (400, "invalid_request_error"),
            (400, "context_length_exceeded"),
        ),
        (NotFound("no"), (404, "not_found_error"), (404, "model_not_found")),
        (InsufficientCredits("broke"), (402, "billing_error"), (403, "insufficient_credits")),
        (
            RateLimited("slow", retry_after=3),
            (429, "rate_limit_error"),
            (429, "rate_limit_exceeded"),
        ),
        (ServerError("boom", status=503), (529, "overloaded_error"), (503, "overloaded")),
        (UpstreamUnavailable("down"), (502, "api_error"), (502, "upstream_unavailable")),
        (UpstreamUnavailable("slow", timeout=True), (504, "timeout_error"), (504, "timeout")),
    ],
    ids=["context", "not-found", "credits", "rate", "overloaded", "unreachable", "timeout"],
)
def test_errors_in_both_shapes(exc, anthropic, openai):
    status, body, headers = wire.anthropic_error(exc)
    assert (status, body["error"]["type"]) == anthropic and body["type"] == "error"
    status, body, _ = wire.openai_error(exc)
    assert (status, body["error"]["code"]) == openai
    if isinstance(exc, InsufficientCredits):
        assert headers["x-should-retry"] == "false"


def test_count_tokens_counts_system_tools_and_images_not_just_text():
    text_only = estimate_anthropic_request_tokens(
        {"messages": [{"role": "user", "content": "hello"}]}
    )
    full = estimate_anthropic_request_tokens(
        {
            "system": "s" * 3000,
            "tools": [TOOL] * 20,
            "messages": [
                {
                    "role": "user",
                    "content": [{"type": "text", "text": "hello"}, {"type": "image", "source": {}}],
                }
            ],
        }
    )
    assert full > text_only + 1000 + 1600


def test_without_a_cap_the_target_takes_the_catalogue_limit_of_its_model():
    raised = get_model("kimi-k2.6", {"kimi-k2.6": {"max_output_tokens": 16384}})
    body = req([{"role": "user", "content": "hi"}], max_tokens=50_000)
    assert chat(body, ChatTarget(model="kimi-k2.6", info=raised))["max_tokens"] == 16384
    assert chat(body, ChatTarget(model="kimi-k9"))["max_tokens"] == 50_000  # unknown: no cap
