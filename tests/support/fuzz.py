"""Hypothesis strategies for request bodies of each protocol: shapes near the real ones with
random JSON in every field, for the no-5xx fuzz tests of the relay and the simulator."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

MODEL = "kimi-k2"
FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-5, 5)
    | st.floats(allow_nan=False)
    | st.text(max_size=8)
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "type",
                    "text",
                    "role",
                    "content",
                    "name",
                    "id",
                    "input",
                    "source",
                    "url",
                    "image_url",
                    "function",
                    "arguments",
                    "tool_use_id",
                    "call_id",
                    "output",
                    "parameters",
                ]
            ),
            inner,
            max_size=4,
        )
    ),
    max_leaves=12,
)
roles = st.sampled_from(["user", "assistant", "system", "tool", "developer"]) | values
block_types = st.sampled_from(
    [
        "text",
        "image",
        "image_url",
        "tool_use",
        "tool_result",
        "thinking",
        "input_text",
        "input_image",
        "output_text",
        "function_call",
        "function_call_output",
        "message",
    ]
)
blocks = st.fixed_dictionaries(
    {"type": block_types},
    optional={
        "text": values,
        "source": values,
        "image_url": values,
        "name": values,
        "id": values,
        "input": values,
        "content": values,
        "tool_use_id": values,
        "call_id": values,
        "arguments": values,
        "output": values,
        "role": roles,
    },
)
contents = values | st.lists(blocks | values, max_size=3)
messages = st.lists(
    st.fixed_dictionaries({"role": roles}, optional={"content": contents, "tool_calls": values})
    | values,
    max_size=3,
)
tools = values | st.lists(
    st.fixed_dictionaries(
        {},
        optional={
            "type": values,
            "name": values,
            "function": values,
            "input_schema": values,
            "parameters": values,
        },
    ),
    max_size=2,
)
common = {
    "model": st.just(MODEL) | values,
    "stream": st.booleans() | values,
    "tools": tools,
    "max_tokens": st.integers(-1, 64) | values,
    "temperature": values,
}


def _body(required: dict[str, Any], optional: dict[str, Any]) -> Any:
    return st.fixed_dictionaries(
        required, optional={k: v for k, v in {**common, **optional}.items() if k not in required}
    )


CHAT = _body({"messages": messages}, {"stream_options": values, "tool_choice": values})
MESSAGES = _body({"messages": messages, "max_tokens": st.integers(1, 32)}, {"system": contents})
RESPONSES = _body(
    {"input": st.text(max_size=8) | st.lists(blocks | values, max_size=3) | values},
    {"instructions": values, "previous_response_id": values, "reasoning": values, "text": values},
)
