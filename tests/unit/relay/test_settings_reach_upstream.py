"""Relay settings reach the translators: a real relay on 127.0.0.1:0 in front of the simulator,
observed from the simulator's side (what the hosted API would have received).

Renaming a `ChatTarget`/`ResponsesTarget` field once silently disabled
`relay.mid_conversation_system` while every relay test stayed green; these tests fail then.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from kimrel_cli.config import Settings
from kimrel_cli.relay.app import create_app
from kimrel_cli.relay.context import RelayConfig, build_context
from kimrel_cli.servers import bind_socket, start_in_thread
from kimrel_cli.simulator.app import SimulatorSettings
from kimrel_cli.simulator.app import create_app as create_simulator

TOKEN = "kr-local-settings-test"


class Recorder:
    """ASGI wrapper around the simulator that keeps every JSON body POSTed to it."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.bodies: list[dict[str, Any]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        self.bodies.append(json.loads(b"".join(chunks)))
        replayed = False

        async def replay() -> Any:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


@pytest.fixture
def stack() -> Iterator[Any]:
    servers: list[Any] = []

    def start(settings: Settings) -> tuple[httpx.Client, Recorder]:
        recorder = Recorder(create_simulator(SimulatorSettings()))
        sim = start_in_thread(recorder, bind_socket())
        servers.append(sim)
        config = RelayConfig(
            api_key="sk-sim-demo", base_url=sim.url + "/api", token=TOKEN, settings=settings
        )
        relay = start_in_thread(create_app(build_context(config)), bind_socket())
        servers.append(relay)
        client = httpx.Client(
            base_url=relay.url, headers={"authorization": f"Bearer {TOKEN}"}, timeout=20
        )
        return client, recorder

    yield start
    for server in reversed(servers):
        server.stop()


MID_SYSTEM = [
    {"role": "user", "content": "a"},
    {"role": "system", "content": "note"},
    {"role": "assistant", "content": "b"},
    {"role": "user", "content": "c"},
]


@pytest.mark.parametrize(
    ("mode", "roles"),
    [
        ("keep", ["user", "system", "assistant", "user"]),
        ("fold", ["system", "user", "assistant", "user"]),
    ],
)
def test_mid_conversation_system_setting_reaches_the_messages_translator(stack, mode, roles):
    client, seen = stack(Settings(mid_conversation_system=mode))
    with client:
        answer = client.post(
            "/v1/messages",
            headers={"anthropic-version": "2023-06-01"},
            json={"model": "kimi-k2", "max_tokens": 50, "messages": MID_SYSTEM},
        )
    assert answer.status_code == 200, answer.text
    assert [m["role"] for m in seen.bodies[-1]["messages"]] == roles


@pytest.mark.parametrize("stream", [False, True])
def test_output_cap_and_alias_settings_reach_every_route(stack, stream):
    settings = Settings(
        limits={"kimi-k2": {"max_output_tokens": 77}}, aliases={"house-model": "kimi-k2"}
    )
    client, seen = stack(settings)
    user = [{"role": "user", "content": "hi"}]
    requests = [
        ("/v1/messages", {"messages": user, "max_tokens": 5000}),
        ("/v1/responses", {"input": "hi", "max_output_tokens": 5000}),
        ("/v1/chat/completions", {"messages": user, "max_tokens": 5000}),
    ]
    with client:
        for path, body in requests:
            answer = client.post(
                path,
                headers={"anthropic-version": "2023-06-01"} if "messages" in path else {},
                json={"model": "house-model", "stream": stream, **body},
            )
            assert answer.status_code == 200, (path, answer.text)
            sent = seen.bodies[-1]
            assert sent["model"] == "kimi-k2", path
            assert sent["max_tokens"] == 77, path


@pytest.mark.parametrize("path", ["/v1/responses", "/v1/chat/completions"])
def test_a_model_the_catalogue_does_not_know_gets_no_output_cap_on_any_route(stack, path):
    # be2c06a: no cap for unknown models; the Responses route used to send 8192 regardless
    client, seen = stack(Settings())
    body = (
        {"input": "hi", "max_output_tokens": 20000}
        if path == "/v1/responses"
        else {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 20000}
    )
    with client:
        client.post(path, json={"model": "kimi-k3-preview", **body})
    assert seen.bodies, "the request never reached the simulator"
    assert seen.bodies[-1]["model"] == "kimi-k3-preview"
    assert seen.bodies[-1].get("max_tokens") == 20000, seen.bodies[-1]
