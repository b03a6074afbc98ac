"""Which requests make the relay fetch an image (issue 14): only a vision model's, on all three
routes, only from an allowed address, and through one shared client that the relay closes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from kimrel_cli.config import Settings
from kimrel_cli.hosted.images import FETCH_FAILED
from kimrel_cli.protocols.chat_hub import NO_VISION
from kimrel_cli.relay.context import RelayConfig
from kimrel_cli.relay.run import RunningRelay, start_relay_in_thread
from tests.support import loopback
from tests.support.image_server import ImageServer


@pytest.fixture
def images() -> Iterator[ImageServer]:
    server = ImageServer()
    yield server
    server.close()


@pytest.fixture
def start(simulator: str):
    running: list[RunningRelay] = []

    def make(allow: str = "") -> RunningRelay:
        relay = start_relay_in_thread(
            RelayConfig(
                api_key="sk-sim-demo",
                base_url=simulator,
                settings=Settings(image_fetch_allow=allow),
                max_retries=0,
            )
        )
        running.append(relay)
        return relay

    yield make
    for relay in running:
        relay.stop()


def messages_body(model: str, url: str) -> dict[str, Any]:
    return {
        "model": model,
        "max_tokens": 20,
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "image", "source": {"type": "url", "url": url}},
                    {"type": "text", "text": "what is this"},
                ],
            }
        ],
    }


def responses_body(model: str, url: str) -> dict[str, Any]:
    return {
        "model": model,
        "input": [
            {
                "role": "user",
                "content": [
                    {"type": "input_image", "image_url": url},
                    {"type": "input_text", "text": "what is this"},
                ],
            }
        ],
    }


def chat_body(model: str, url: str) -> dict[str, Any]:
    return {
        "model": model,
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": url}},
                    {"type": "text", "text": "what is this"},
                ],
            }
        ],
    }


ROUTES = [
    ("/v1/messages", messages_body),
    ("/v1/responses", responses_body),
    ("/v1/chat/completions", chat_body),
]


def post(relay: RunningRelay, path: str, body: dict[str, Any]) -> httpx.Response:
    return loopback.post(relay.url + path, json=body, timeout=20)


def error_text(answer: httpx.Response) -> str:
    return str(answer.json()["error"]["message"])


@pytest.mark.parametrize(("path", "make"), ROUTES)
def test_a_text_only_model_fetches_nothing(start, images, path, make):
    relay = start(allow="127.0.0.1")
    answer = post(relay, path, make("kimi-k2", images.url + "/a.png"))
    assert images.hosts == []
    if path == "/v1/chat/completions":  # passed through: the hosted API refuses the image
        assert answer.status_code == 400
        assert "does not accept images" in error_text(answer)
    else:  # translated: the image becomes a note, as for an inline image
        assert answer.status_code == 200, answer.text
        assert NO_VISION in answer.text


@pytest.mark.parametrize(("path", "make"), ROUTES[:2])
def test_a_model_kimrel_does_not_know_gets_a_400_before_any_fetch(start, images, path, make):
    relay = start(allow="127.0.0.1")
    answer = post(relay, path, make("someone-elses-model", images.url + "/a.png"))
    assert answer.status_code == 400
    assert "only for models that take images" in error_text(answer)
    assert images.hosts == []


@pytest.mark.parametrize(("path", "make"), ROUTES)
def test_a_loopback_image_url_is_refused_on_every_route(start, images, path, make):
    relay = start()
    answer = post(relay, path, make("kimi-k2.6", images.url + "/a.png"))
    assert answer.status_code == 400
    assert FETCH_FAILED in error_text(answer)
    assert str(images.port) not in error_text(answer)
    assert images.hosts == []


def test_one_shared_image_client_closed_with_the_relay(start, images):
    relay = start(allow="127.0.0.1")
    for _ in range(2):
        answer = post(relay, "/v1/chat/completions", chat_body("kimi-k2.6", images.url + "/a.png"))
        assert answer.status_code == 200, answer.text
    assert len(images.hosts) == 2
    client = relay.ctx.image_client
    assert isinstance(client, httpx.AsyncClient) and not client.is_closed
    relay.stop()
    assert client.is_closed
