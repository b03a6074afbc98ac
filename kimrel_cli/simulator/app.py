"""The simulator's Starlette app: the hosted API's documented routes under /api, nothing else.

`GET /api/v1/models`, `POST /api/v1/chat/completions`, `POST /api/v1/messages`,
`GET /api/user/credits`. Auth by Bearer or X-API-Key on every route; credits charged on success
only; X-Credits-Remaining and X-RateLimit-* on every answer to a known key; errors in the route's
own shape (Anthropic for /api/v1/messages, OpenAI elsewhere). State lives on the app instance.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from kimrel_cli.catalogue import MODEL_CREATED, MODEL_OWNER, MODELS, ModelInfo, credits_for
from kimrel_cli.errors import BadRequest
from kimrel_cli.protocols.sse import DONE, encode_data, encode_event
from kimrel_cli.simulator.accounting import Ledger, RateDecision
from kimrel_cli.simulator.faults import Fault, FaultCounter, parse_fault
from kimrel_cli.simulator.generation import Plan, plan_answer, split_text
from kimrel_cli.simulator.validation import (
    SimError,
    check_base64_image,
    check_common,
    check_context,
    check_image_url,
    estimate_input,
    invalid,
    model_for,
)

DEMO_KEYS = {"sk-sim-demo": 1000, "sk-sim-empty": 0}


@dataclass
class SimulatorSettings:
    keys: dict[str, int] = field(default_factory=lambda: dict(DEMO_KEYS))
    rate_window_scale: float = 1.0
    fault: str | None = None
    chunk_delay: float = 0.0


class DroppedConnection(Exception):
    """Raised inside a streaming body to abort the connection (fault drop_after)."""


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict) and part.get("type") in ("text", "input_text"):
                parts.append(str(part.get("text", "")))
            elif isinstance(part, dict) and part.get("type") == "tool_result":
                parts.append(_text(part.get("content")))
        return " ".join(p for p in parts if p)
    return ""


class Simulator:
    """The state of one simulator: balances, rate windows, fault counters, id counters."""

    def __init__(self, settings: SimulatorSettings) -> None:
        self.settings = settings
        self.ledger = Ledger(settings.keys, window_scale=settings.rate_window_scale)
        self.faults = FaultCounter()
        self._ids = itertools.count(1)

    def next_id(self) -> int:
        return next(self._ids)

    # ---- shapes --------------------------------------------------------------------------
    @staticmethod
    def shape(request: Request) -> str:
        return "anthropic" if request.url.path.startswith("/api/v1/messages") else "openai"

    def error(
        self, request: Request, error: SimError, headers: dict[str, str] | None = None
    ) -> JSONResponse:
        if self.shape(request) == "anthropic":
            body: dict[str, Any] = {
                "type": "error",
                "error": {"type": error.anthropic_type, "message": error.message},
            }
        else:
            body = {
                "error": {"message": error.message, "type": error.openai_type, "code": error.code}
            }
        return JSONResponse(body, error.status, headers=headers)

    def headers(
        self, key: str, rate: RateDecision | None = None, *, balance: int | None = None
    ) -> dict[str, str]:
        rate = rate or self.ledger.peek(key)
        return {
            "X-Credits-Remaining": str(self.ledger.balance(key) if balance is None else balance),
            "X-RateLimit-Limit": str(rate.limit),
            "X-RateLimit-Remaining": str(rate.remaining),
            "X-RateLimit-Reset": str(rate.reset),
        }

    # ---- the common gate: faults, auth, rate limit ------------------------------------------
    async def gate(self, request: Request) -> tuple[str, RateDecision, Fault | None] | Response:
        spec = request.headers.get("x-kimrel-fault") or self.settings.fault
        fault = None
        if spec:
            try:
                fault = parse_fault(spec)
            except BadRequest as exc:
                return self.error(request, invalid(exc.message))
            if not self.faults.applies(fault):
                fault = None
        if fault is not None and fault.delay:
            await asyncio.sleep(fault.delay)
        if fault is not None and fault.status:
            extra = (
                {"Retry-After": str(int(fault.retry_after))}
                if fault.retry_after is not None
                else {}
            )
            kinds = {
                401: ("invalid_request_error", "authentication_error"),
                429: ("rate_limit_error", "rate_limit_error"),
                403: ("insufficient_quota", "permission_error"),
            }
            openai_type, anthropic_type = kinds.get(
                fault.status,
                (
                    "server_error" if fault.status >= 500 else "invalid_request_error",
                    "api_error" if fault.status >= 500 else "invalid_request_error",
                ),
            )
            if fault.status == 529:
                anthropic_type = "overloaded_error"
            error = SimError(
                fault.status,
                fault.code or "injected_fault",
                f"injected fault: HTTP {fault.status}",
                openai_type=openai_type,
                anthropic_type=anthropic_type,
            )
            return self.error(request, error, extra)
        auth = request.headers.get("authorization", "")
        key = (
            auth[7:].strip()
            if auth.lower().startswith("bearer ")
            else request.headers.get("x-api-key")
        )
        if not self.ledger.known(key):
            message = (
                "Invalid API key provided"
                if key
                else "Missing API key: send Authorization: Bearer <key> or X-API-Key"
            )
            return self.error(
                request,
                SimError(401, "invalid_api_key", message, anthropic_type="authentication_error"),
            )
        assert key is not None
        rate = self.ledger.admit(key)
        if not rate.allowed:
            headers = self.headers(key, rate)
            headers["Retry-After"] = str(max(1, round(rate.retry_after)))
            error = SimError(
                429,
                "rate_limit_exceeded",
                f"Rate limit exceeded: {rate.limit} requests per minute for this credit tier",
                openai_type="rate_limit_error",
                anthropic_type="rate_limit_error",
            )
            return self.error(request, error, headers)
        return key, rate, fault

    async def body(self, request: Request) -> dict[str, Any]:
        try:
            data = json.loads(await request.body() or b"null")
        except ValueError:
            raise invalid("request body is not valid JSON") from None
        if not isinstance(data, dict):
            raise invalid("request body must be a JSON object")
        return data

    def require_credits(self, key: str, info: ModelInfo) -> None:
        price = credits_for(info.id)
        if self.ledger.balance(key) < price:
            raise SimError(
                403,
                "insufficient_credits",
                f"Insufficient credits: {info.id} costs {price} per request and {self.ledger.balance(key)} remain",
                openai_type="insufficient_quota",
                anthropic_type="permission_error",
            )

    # ---- routes --------------------------------------------------------------------------
    async def models(self, request: Request) -> Response:
        gate = await self.gate(request)
        if isinstance(gate, Response):
            return gate
        key, rate, _ = gate
        data = [
            {
                "id": m.id,
                "object": "model",
                "created": MODEL_CREATED,
                "owned_by": MODEL_OWNER,
                "permission": [],
                "root": m.id,
                "parent": None,
            }
            for m in MODELS.values()
        ]
        return JSONResponse({"object": "list", "data": data}, headers=self.headers(key, rate))

    async def credits(self, request: Request) -> Response:
        gate = await self.gate(request)
        if isinstance(gate, Response):
            return gate
        key, rate, _ = gate
        tier = self.ledger.tier(key)
        data = {
            "credits_remaining": self.ledger.balance(key),
            "credits_used": self.ledger.used.get(key, 0),
            "tier": tier.name,
            "limits": {
                "per_minute": tier.per_minute,
                "per_hour": tier.per_hour,
                "per_day": tier.per_day,
            },
        }
        return JSONResponse(data, headers=self.headers(key, rate))

    async def chat(self, request: Request) -> Response:
        gate = await self.gate(request)
        if isinstance(gate, Response):
            return gate
        key, rate, fault = gate
        try:
            body = await self.body(request)
            info, plan, n = self.plan_chat(body)
            self.require_credits(key, info)
        except SimError as error:
            return self.error(request, error, self.headers(key, rate))
        price = credits_for(info.id)
        if not body.get("stream"):
            remaining = self.ledger.charge(key, price)
            return JSONResponse(
                self.chat_json(info, plan, n), headers=self.headers(key, rate, balance=remaining)
            )
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        chunks = self.chat_chunks(info, plan, include_usage)
        return self.stream(
            key,
            price,
            [encode_data(c) for c in chunks] + [DONE],
            fault,
            self.headers(key, rate, balance=self.ledger.balance(key) - price),
        )

    async def messages(self, request: Request) -> Response:
        gate = await self.gate(request)
        if isinstance(gate, Response):
            return gate
        key, rate, fault = gate
        try:
            body = await self.body(request)
            info, plan = self.plan_messages(body)
            self.require_credits(key, info)
        except SimError as error:
            return self.error(request, error, self.headers(key, rate))
        price = credits_for(info.id)
        message = self.anthropic_message(info, plan)
        if not body.get("stream"):
            remaining = self.ledger.charge(key, price)
            return JSONResponse(message, headers=self.headers(key, rate, balance=remaining))
        events = [encode_event(name, data) for name, data in self.anthropic_events(message, plan)]
        return self.stream(
            key,
            price,
            events,
            fault,
            self.headers(key, rate, balance=self.ledger.balance(key) - price),
        )

    def stream(
        self,
        key: str,
        price: int,
        pieces: list[bytes],
        fault: Fault | None,
        headers: dict[str, str],
    ) -> Response:
        delay = (
            fault.chunk_delay
            if fault is not None and fault.chunk_delay is not None
            else self.settings.chunk_delay
        )
        drop_after = fault.drop_after if fault is not None else None

        async def body() -> AsyncIterator[bytes]:
            for n, piece in enumerate(pieces):
                if drop_after is not None and n >= drop_after:
                    raise DroppedConnection("fault injection: connection dropped mid-stream")
                if delay and n:
                    await asyncio.sleep(delay)
                if n == len(pieces) - 1:
                    self.ledger.charge(key, price)
                yield piece

        headers = {**headers, "Cache-Control": "no-cache"}
        return StreamingResponse(body(), media_type="text/event-stream", headers=headers)

    # ---- chat completions ------------------------------------------------------------------
    def plan_chat(self, body: dict[str, Any]) -> tuple[ModelInfo, Plan, int]:
        info = model_for(body)
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise invalid("messages: required, a non-empty list")
        max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
        check_common(body, info, temperature_max=2.0, stops_key="stop", max_tokens=max_tokens)
        n = body.get("n", 1)
        if not isinstance(n, int) or not 1 <= n <= 5:
            raise invalid("n must be between 1 and 5")
        thinking_field = body.get("thinking") if isinstance(body.get("thinking"), dict) else {}
        thinking = info.thinking == "always" or (
            info.thinking == "switchable" and thinking_field.get("type") != "disabled"
        )
        texts: list[str] = []
        last_user = ""
        for index, message in enumerate(messages):
            if not isinstance(message, dict) or message.get("role") not in (
                "system",
                "developer",
                "user",
                "assistant",
                "tool",
            ):
                raise invalid(f"messages[{index}]: role must be system, user, assistant or tool")
            content = message.get("content")
            if (
                message["role"] == "assistant"
                and message.get("tool_calls")
                and thinking
                and "reasoning_content" not in message
            ):
                raise invalid(
                    f"thinking is enabled but reasoning_content is missing in assistant tool call message at index {index}"
                )
            if isinstance(content, list):
                for part in content:
                    if not isinstance(part, dict):
                        continue
                    if part.get("type") == "image_url":
                        url = part.get("image_url")
                        url = url.get("url") if isinstance(url, dict) else url
                        check_image_url(str(url or ""), info, remote_ok=info.id == "kimi-k2.6")
                    elif part.get("type") in ("video_url", "video"):
                        raise invalid("video inputs are not supported")
            texts.append(_text(content) + json.dumps(message.get("tool_calls") or ""))
            if message["role"] == "user":
                last_user = _text(content)
        tools_in = body.get("tools") or []
        tools = [
            (
                str((t.get("function") or {}).get("name", "")),
                (t.get("function") or {}).get("parameters") or {},
            )
            for t in tools_in
            if isinstance(t, dict)
        ]
        prompt_tokens = estimate_input([*texts, json.dumps(tools_in)])
        check_context(prompt_tokens + (max_tokens or 0), info)
        choice = body.get("tool_choice")
        forced = (
            "*"
            if choice == "required"
            else ((choice.get("function") or {}).get("name") if isinstance(choice, dict) else None)
        )
        if choice == "none":
            tools = []
        last = messages[-1]
        tool_result = _text(last.get("content")) if last.get("role") == "tool" else None
        stops = body.get("stop")
        stops = [stops] if isinstance(stops, str) else list(stops or [])
        plan = plan_answer(
            last_user_text=last_user,
            tool_result=tool_result,
            tools=tools,
            forced=forced,
            thinking=thinking,
            max_tokens=max_tokens,
            stops=stops,
            prompt_tokens=prompt_tokens,
        )
        return info, plan, n

    def _chat_usage(self, plan: Plan) -> dict[str, int]:
        return {
            "prompt_tokens": plan.prompt_tokens,
            "completion_tokens": plan.completion_tokens,
            "total_tokens": plan.prompt_tokens + plan.completion_tokens,
        }

    def chat_json(self, info: ModelInfo, plan: Plan, n: int) -> dict[str, Any]:
        choices = []
        for index in range(n):
            message: dict[str, Any] = {"role": "assistant", "content": plan.text}
            if plan.reasoning:
                message["reasoning_content"] = plan.reasoning
            if plan.calls:
                message["tool_calls"] = [
                    {
                        "id": f"functions.{name}:{i}",
                        "type": "function",
                        "function": {"name": name, "arguments": json.dumps(args)},
                    }
                    for i, (name, args) in enumerate(plan.calls)
                ]
            choices.append({"index": index, "message": message, "finish_reason": plan.finish})
        return {
            "id": f"chatcmpl-sim-{self.next_id()}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": info.id,
            "system_fingerprint": "fp_kimrel_sim",
            "choices": choices,
            "usage": self._chat_usage(plan),
        }

    def chat_chunks(self, info: ModelInfo, plan: Plan, include_usage: bool) -> list[dict[str, Any]]:
        base = {
            "id": f"chatcmpl-sim-{self.next_id()}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": info.id,
        }

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

        chunks = [chunk({"role": "assistant", "content": ""})]
        chunks += [
            chunk({"reasoning_content": piece}) for piece in split_text(plan.reasoning or "", 12)
        ]
        chunks += [chunk({"content": piece}) for piece in split_text(plan.text or "")]
        for i, (name, args) in enumerate(plan.calls):
            text = json.dumps(args)
            chunks.append(
                chunk(
                    {
                        "tool_calls": [
                            {
                                "index": i,
                                "id": f"functions.{name}:{i}",
                                "type": "function",
                                "function": {"name": name, "arguments": ""},
                            }
                        ]
                    }
                )
            )
            cut = max(1, len(text) // 2)
            for piece in (text[:cut], text[cut:]):
                chunks.append(
                    chunk({"tool_calls": [{"index": i, "function": {"arguments": piece}}]})
                )
        final = chunk({}, plan.finish)
        if include_usage:
            chunks.append(final)
            chunks.append({**base, "choices": [], "usage": self._chat_usage(plan)})
        else:
            final["choices"][0]["usage"] = self._chat_usage(plan)
            chunks.append(final)
        return chunks

    # ---- messages --------------------------------------------------------------------------
    def plan_messages(self, body: dict[str, Any]) -> tuple[ModelInfo, Plan]:
        info = model_for(body)
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise invalid("messages: required, a non-empty list")
        if "max_tokens" not in body:
            raise invalid("max_tokens: required")
        check_common(
            body,
            info,
            temperature_max=1.0,
            stops_key="stop_sequences",
            max_tokens=body.get("max_tokens"),
        )
        thinking_field = body.get("thinking") if isinstance(body.get("thinking"), dict) else {}
        thinking = info.thinking == "always" or (
            info.thinking == "switchable" and thinking_field.get("type") != "disabled"
        )
        texts = [_text(body.get("system") or "")]
        last_user = ""
        for index, message in enumerate(messages):
            if not isinstance(message, dict) or message.get("role") not in (
                "user",
                "assistant",
                "system",
            ):
                raise invalid(f"messages.{index}.role: must be user or assistant")
            content = message.get("content")
            for block in content if isinstance(content, list) else []:
                if isinstance(block, dict) and block.get("type") == "image":
                    source = block.get("source") or {}
                    if not info.images:
                        raise invalid(f"model {info.id} does not accept images")
                    if source.get("type") == "base64":
                        check_base64_image(str(source.get("data", "")))
                    elif source.get("type") == "url":
                        check_image_url(
                            str(source.get("url", "")), info, remote_ok=info.id == "kimi-k2.6"
                        )
                    else:
                        raise invalid("image source must be base64 or url")
            texts.append(json.dumps(content))
            if message["role"] == "user":
                last_user = (
                    _text([b for b in content if isinstance(b, dict) and b.get("type") == "text"])
                    if isinstance(content, list)
                    else _text(content)
                )
        tools_in = [t for t in body.get("tools") or [] if isinstance(t, dict)]
        tools = [(str(t.get("name", "")), t.get("input_schema") or {}) for t in tools_in]
        prompt_tokens = estimate_input([*texts, json.dumps(tools_in)])
        check_context(prompt_tokens, info)
        choice = body.get("tool_choice") if isinstance(body.get("tool_choice"), dict) else {}
        forced = {"any": "*", "tool": choice.get("name")}.get(str(choice.get("type")))
        if choice.get("type") == "none":
            tools = []
        last = messages[-1]
        results = (
            [
                b
                for b in last.get("content") or []
                if isinstance(b, dict) and b.get("type") == "tool_result"
            ]
            if isinstance(last.get("content"), list)
            else []
        )
        tool_result = (
            " ".join(_text(r.get("content")) for r in results)
            if results and last.get("role") == "user"
            else None
        )
        stops = [str(s) for s in body.get("stop_sequences") or []]
        plan = plan_answer(
            last_user_text=last_user,
            tool_result=tool_result,
            tools=tools,
            forced=forced,
            thinking=thinking,
            max_tokens=body.get("max_tokens"),
            stops=stops,
            prompt_tokens=prompt_tokens,
        )
        return info, plan

    def anthropic_message(self, info: ModelInfo, plan: Plan) -> dict[str, Any]:
        content: list[dict[str, Any]] = []
        if plan.reasoning:
            content.append(
                {"type": "thinking", "thinking": plan.reasoning, "signature": "sim-signature"}
            )
        if plan.text:
            content.append({"type": "text", "text": plan.text})
        for name, args in plan.calls:
            content.append(
                {
                    "type": "tool_use",
                    "id": f"toolu_sim_{self.next_id():06d}",
                    "name": name,
                    "input": args,
                }
            )
        stop_reason = {"tool_calls": "tool_use", "length": "max_tokens"}.get(
            plan.finish, "stop_sequence" if plan.stop_sequence else "end_turn"
        )
        return {
            "id": f"msg_sim_{self.next_id():06d}",
            "type": "message",
            "role": "assistant",
            "model": info.id,
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": plan.stop_sequence,
            "usage": {"input_tokens": plan.prompt_tokens, "output_tokens": plan.completion_tokens},
        }

    @staticmethod
    def anthropic_events(message: dict[str, Any], plan: Plan) -> list[tuple[str, dict[str, Any]]]:
        start = {
            **message,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": plan.prompt_tokens, "output_tokens": 1},
        }
        events: list[tuple[str, dict[str, Any]]] = [
            ("message_start", {"type": "message_start", "message": start}),
            ("ping", {"type": "ping"}),
        ]

        def delta(index: int, d: dict[str, Any]) -> tuple[str, dict[str, Any]]:
            return "content_block_delta", {
                "type": "content_block_delta",
                "index": index,
                "delta": d,
            }

        for index, block in enumerate(message["content"]):
            if block["type"] == "thinking":
                events.append(
                    (
                        "content_block_start",
                        {
                            "type": "content_block_start",
                            "index": index,
                            "content_block": {"type": "thinking", "thinking": "", "signature": ""},
                        },
                    )
                )
                events += [
                    delta(index, {"type": "thinking_delta", "thinking": p})
                    for p in split_text(block["thinking"], 12)
                ]
                events.append(
                    delta(index, {"type": "signature_delta", "signature": block["signature"]})
                )
            elif block["type"] == "text":
                events.append(
                    (
                        "content_block_start",
                        {
                            "type": "content_block_start",
                            "index": index,
                            "content_block": {"type": "text", "text": ""},
                        },
                    )
                )
                events += [
                    delta(index, {"type": "text_delta", "text": p})
                    for p in split_text(block["text"])
                ]
            else:
                events.append(
                    (
                        "content_block_start",
                        {
                            "type": "content_block_start",
                            "index": index,
                            "content_block": {**block, "input": {}},
                        },
                    )
                )
                text = json.dumps(block["input"])
                cut = max(1, len(text) // 2)
                events += [
                    delta(index, {"type": "input_json_delta", "partial_json": p})
                    for p in (text[:cut], text[cut:])
                ]
            events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
        events.append(
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {
                        "stop_reason": message["stop_reason"],
                        "stop_sequence": message["stop_sequence"],
                    },
                    "usage": {"output_tokens": message["usage"]["output_tokens"]},
                },
            )
        )
        events.append(("message_stop", {"type": "message_stop"}))
        return events


def create_app(settings: SimulatorSettings | None = None) -> Starlette:
    """A new simulator with its own state (balances, rate windows, fault counters)."""
    sim = Simulator(settings or SimulatorSettings())

    async def not_found(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 404)
        if status == 405:
            error = SimError(
                405, "method_not_allowed", f"{request.method} is not allowed on {request.url.path}"
            )
        else:
            error = SimError(
                404,
                "not_found",
                f"Invalid endpoint: {request.url.path}",
                anthropic_type="not_found_error",
            )
        return sim.error(request, error)

    app = Starlette(
        routes=[
            Route("/api/v1/models", sim.models, methods=["GET"]),
            Route("/api/v1/chat/completions", sim.chat, methods=["POST"]),
            Route("/api/v1/messages", sim.messages, methods=["POST"]),
            Route("/api/user/credits", sim.credits, methods=["GET"]),
        ],
        exception_handlers={HTTPException: not_found},
    )
    app.state.simulator = sim
    return app
