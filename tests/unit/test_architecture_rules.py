"""The architecture rules can fail: each forbidden import or call is caught."""

from __future__ import annotations

import pytest

from tests.architecture_rules import (
    UnknownPackage,
    imported_modules,
    layering_violations,
    purity_violations,
    ring_of,
    simulator_violations,
    translator_violations,
)

MODULES = frozenset(
    {
        "kimrel_cli",
        "kimrel_cli.paths",
        "kimrel_cli.errors",
        "kimrel_cli.cli",
        "kimrel_cli.cli.app",
        "kimrel_cli.relay",
        "kimrel_cli.relay.state",
        "kimrel_cli.relay.routes",
        "kimrel_cli.chat",
        "kimrel_cli.chat.repl",
        "kimrel_cli.hosted",
        "kimrel_cli.hosted.client",
        "kimrel_cli.protocols",
        "kimrel_cli.protocols.sse",
        "kimrel_cli.protocols.anthropic_to_chat",
        "kimrel_cli.protocols.responses_to_chat",
        "kimrel_cli.protocols.chat_hub",
        "kimrel_cli.simulator",
        "kimrel_cli.simulator.app",
    }
)

LAYERING = [
    ("kimrel_cli.hosted.client", "from kimrel_cli import cli", "imports the CLI"),
    ("kimrel_cli.hosted.client", "from kimrel_cli.cli import app", "imports the CLI"),
    ("kimrel_cli.hosted.client", "import kimrel_cli.relay.routes", "ring 1 imports ring 2"),
    ("kimrel_cli.hosted.client", "from kimrel_cli import relay", "ring 1 imports ring 2"),
    ("kimrel_cli.hosted.client", "from ..relay import routes", "ring 1 imports ring 2"),
    ("kimrel_cli.hosted.client", "from ..cli.app import main", "imports the CLI"),
    ("kimrel_cli.paths", "from kimrel_cli.hosted import client", "ring 0 imports ring 1"),
    (
        "kimrel_cli.paths",
        "def f():\n    from kimrel_cli.hosted.client import X",
        "ring 0 imports ring 1",
    ),
    ("kimrel_cli.chat.repl", "from kimrel_cli.relay.state import read_state", "another feature"),
    ("kimrel_cli.chat.repl", "from kimrel_cli.relay import state", "another feature"),
    (
        "kimrel_cli.paths",
        "import importlib\nimportlib.import_module('kimrel_cli.relay.routes')",
        "ring 0 imports ring 2",
    ),
]


@pytest.mark.parametrize(("own", "source", "message"), LAYERING, ids=[s for _, s, _ in LAYERING])
def test_layering_rule_catches(own, source, message):
    found = layering_violations(source, own, modules=MODULES)
    assert any(message in str(v) for v in found), found


@pytest.mark.parametrize(
    ("own", "source"),
    [
        ("kimrel_cli.relay.routes", "from kimrel_cli import paths, errors"),
        ("kimrel_cli.relay.routes", "from kimrel_cli.relay import state"),
        ("kimrel_cli.relay.routes", "from . import state"),
        ("kimrel_cli.cli.app", "from kimrel_cli.relay.state import read_state"),
        ("kimrel_cli.hosted.client", "from kimrel_cli import __version__"),
    ],
)
def test_layering_rule_allows(own, source):
    assert layering_violations(source, own, modules=MODULES) == []


PURITY = [
    "import os",
    "import os.path",
    "from os import path",
    "import time",
    "import random",
    "import logging",
    "import httpx",
    "from kimrel_cli import paths",
    "from kimrel_cli.hosted import client",
    "from ..hosted import client",
    "open('x')",
    "print('x')",
    "__import__('os')",
]


@pytest.mark.parametrize("source", PURITY)
def test_purity_rule_catches(source):
    assert purity_violations(source, "kimrel_cli.protocols.anthropic_to_chat", modules=MODULES)


@pytest.mark.parametrize(
    "source",
    [
        "from typing import Any",
        "import json",
        "from collections.abc import Iterator",
        "from kimrel_cli.errors import KimrelError",
        "from kimrel_cli import errors",
        "from . import sse",
        "from kimrel_cli.protocols.sse import SSEDecoder",
    ],
)
def test_purity_rule_allows(source):
    assert (
        purity_violations(source, "kimrel_cli.protocols.anthropic_to_chat", modules=MODULES) == []
    )


@pytest.mark.parametrize(
    "source",
    [
        "from kimrel_cli.protocols import anthropic_to_chat",
        "from kimrel_cli.protocols.anthropic_to_chat import translate",
        "import kimrel_cli.protocols.anthropic_to_chat",
        "from ..protocols import anthropic_to_chat",
    ],
)
def test_simulator_rule_catches(source):
    assert simulator_violations(source, "kimrel_cli.simulator.app", modules=MODULES)


def test_simulator_may_use_the_sse_helpers():
    source = "from kimrel_cli.protocols.sse import SSEDecoder\nfrom kimrel_cli.protocols import sse"
    assert simulator_violations(source, "kimrel_cli.simulator.app", modules=MODULES) == []


def test_an_unplaced_top_level_package_is_an_error():
    with pytest.raises(UnknownPackage):
        ring_of("kimrel_cli.nowhere.log")


def test_relative_imports_resolve_against_the_module():
    assert "kimrel_cli.relay.state" in imported_modules(
        "from . import state", "kimrel_cli.relay.routes", modules=MODULES
    )
    assert "kimrel_cli.relay.state" in imported_modules(
        "from .state import x", "kimrel_cli.relay", is_package=True, modules=MODULES
    )


TRANSLATOR = [
    (
        "kimrel_cli.protocols.responses_to_chat",
        "from kimrel_cli.protocols.anthropic_to_chat import cap_tokens",
    ),
    (
        "kimrel_cli.protocols.responses_to_chat",
        "from kimrel_cli.protocols import anthropic_to_chat",
    ),
    ("kimrel_cli.protocols.responses_to_chat", "import kimrel_cli.protocols.anthropic_to_chat"),
    ("kimrel_cli.protocols.responses_to_chat", "from .anthropic_to_chat import cap_tokens"),
    ("kimrel_cli.protocols.responses_to_chat", "from . import anthropic_to_chat"),
    ("kimrel_cli.protocols.chat_hub", "from kimrel_cli.protocols.responses_to_chat import x"),
    ("kimrel_cli.protocols.sse", "from kimrel_cli.protocols.gemini_to_chat import translate"),
]


@pytest.mark.parametrize(("own", "source"), TRANSLATOR, ids=[f"{o}: {s}" for o, s in TRANSLATOR])
def test_translator_rule_catches(own, source):
    found = translator_violations(source, own, modules=MODULES)
    assert any("imports another translator" in str(v) for v in found), found


@pytest.mark.parametrize(
    "source",
    [
        "from kimrel_cli.protocols.chat_hub import cap_tokens",
        "from kimrel_cli.protocols import chat_hub, errors, ids, sse",
        "from .chat_hub import ResponsesContext",
        "from kimrel_cli.protocols.responses_to_chat import INTERRUPTED",
        "from kimrel_cli.errors import BadRequest",
    ],
)
def test_translator_rule_allows(source):
    assert (
        translator_violations(source, "kimrel_cli.protocols.responses_to_chat", modules=MODULES)
        == []
    )
