"""Deterministic answers: text, reasoning, tool arguments, cuts (pure)."""

from __future__ import annotations

from kimrel_cli.simulator.generation import count_tokens, plan_answer, value_for


def plan(**kwargs):
    args = dict(
        last_user_text="hello there",
        tool_result=None,
        tools=[],
        forced=None,
        thinking=False,
        max_tokens=None,
        stops=[],
        prompt_tokens=3,
    )
    args.update(kwargs)
    return plan_answer(**args)


def test_text_quotes_the_prompt_and_reasoning_comes_first_when_thinking():
    p = plan(thinking=True)
    assert p.text == "Simulated reply to: hello there"
    assert p.reasoning == "Considering: hello there"
    assert p.finish == "stop"
    assert plan().reasoning is None


def test_prompt_is_cut_to_200_characters():
    assert plan(last_user_text="x" * 500).text == "Simulated reply to: " + "x" * 200


def test_tokens_are_a_quarter_of_the_characters_rounded_up():
    assert count_tokens("abcde") == 2
    assert count_tokens("a") == 1


def test_a_stop_string_cuts_before_it():
    p = plan(stops=["there"])
    assert p.text == "Simulated reply to: hello "
    assert p.stop_sequence == "there"
    assert p.finish == "stop"


def test_max_tokens_truncates_and_reports_length():
    p = plan(max_tokens=2)
    assert p.text == "Simulated"[:8]
    assert p.finish == "length"


def test_a_tool_named_in_the_prompt_is_called_with_schema_valid_arguments():
    schema = {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "days": {"type": "integer"},
            "unit": {"type": "string", "enum": ["c", "f"]},
            "opts": {"type": "object", "properties": {"x": {"type": "boolean"}}, "required": ["x"]},
            "tags": {"type": "array", "items": {"type": "string"}},
            "ignored": {"type": "string"},
        },
        "required": ["city", "days", "unit", "opts", "tags"],
    }
    p = plan(last_user_text="use get_weather please", tools=[("get_weather", schema)])
    assert p.finish == "tool_calls" and p.text is None
    name, args = p.calls[0]
    assert name == "get_weather"
    assert args == {
        "city": "echo simulated",
        "days": 1,
        "unit": "c",
        "opts": {"x": True},
        "tags": [],
    }


def test_forcing_picks_a_tool_even_when_the_prompt_does_not_name_it():
    tools = [("a", {"type": "object"}), ("b", {"type": "object"})]
    assert plan(tools=tools, forced="*").calls[0][0] == "a"
    assert plan(tools=tools, forced="b").calls[0][0] == "b"
    assert plan(tools=tools).calls == []


def test_a_prompt_that_forbids_tools_gets_text_even_when_it_names_them():
    """Claude Code's compaction prompt names its tools only to forbid them; a tool call there
    fails the compaction (the hosted model answers the summary as text)."""
    tools = [("Bash", {"type": "object", "properties": {"command": {"type": "string"}}})]
    text = "CRITICAL: Respond with TEXT ONLY. Do NOT call any tools. - Do NOT use Read, Bash."
    p = plan(last_user_text=text, tools=tools)
    assert p.calls == [] and p.finish == "stop"
    assert p.text is not None and p.text.startswith("Simulated reply to: CRITICAL")
    assert plan(last_user_text=text, tools=tools, forced="Bash").calls  # forcing still wins


def test_after_a_tool_result_the_text_quotes_it():
    p = plan(tool_result="22 degrees", tools=[("hello", {})], forced="*")
    assert p.text == "The tool returned: 22 degrees"
    assert p.calls == []


def test_value_for_numbers_and_booleans():
    assert value_for({"type": "number"}, "") == 1
    assert value_for({"type": "boolean"}, "") is True
