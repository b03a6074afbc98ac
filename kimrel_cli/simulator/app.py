"""The simulator's Starlette app: the hosted API's documented routes under /api, nothing else.

`GET /api/v1/models`, `POST /api/v1/chat/completions`, `POST /api/v1/messages`,
`GET /api/user/credits`. Auth by Bearer or X-API-Key on every route; credits charged on success
only; X-Credits-Remaining and X-RateLimit-* on every answer to a known key; errors in the route's
own shape (Anthropic for /api/v1/messages…, OpenAI elsewhere). State lives on the app instance.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from kimrel_cli.catalogue import MODEL_CREATED, MODEL_OWNER, MODELS, ModelInfo, credits_for
from kimrel_cli.protocols.sse import DONE, encode_data, encode_event
from kimrel_cli.simulator import DEMO_KEY, EMPTY_KEY
from kimrel_cli.simulator.accounting import Ledger, RateDecision
from kimrel_cli.simulator.chat import chat_chunks, chat_json, plan_chat
from kimrel_cli.simulator.faults import Fault, FaultCounter, FaultSpecError, parse_fault
from kimrel_cli.simulator.messages import anthropic_events, anthropic_message, plan_messages
from kimrel_cli.simulator.streams import event_stream
from kimrel_cli.simulator.validation import SimError, invalid

DEMO_KEYS = {DEMO_KEY: 1000, EMPTY_KEY: 0}


@dataclass
class SimulatorSettings:
    keys: dict[str, int] = field(default_factory=lambda: dict(DEMO_KEYS))
    rate_window_scale: float = 1.0
    fault: str | None = None
    chunk_delay: float = 0.0


# (OpenAI type, Anthropic type) for an injected status.
_FAULT_TYPES = {
    400: ("invalid_request_error", "invalid_request_error"),
    401: ("invalid_request_error", "authentication_error"),
    403: ("insufficient_quota", "permission_error"),
    404: ("invalid_request_error", "not_found_error"),
    429: ("rate_limit_error", "rate_limit_error"),
    529: ("server_error", "overloaded_error"),
}
_FAULT_CODES = {401: "invalid_api_key", 403: "insufficient_credits", 429: "rate_limit_exceeded"}


def fault_error(fault: Fault, status: int, key: str = "") -> SimError:
    default = ("server_error", "api_error") if status >= 500 else ("invalid_request_error",) * 2
    openai_type, anthropic_type = _FAULT_TYPES.get(status, default)
    code = fault.code or _FAULT_CODES.get(status, "injected_fault")
    return SimError(
        status,
        code,
        f"injected fault: HTTP {status}" + (f" for key {key}" if fault.echo_key else ""),
        openai_type=openai_type,
        anthropic_type=anthropic_type,
    )


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def api_key_of(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip() or None
    return request.headers.get("x-api-key") or None


@dataclass
class Admitted:
    key: str
    rate: RateDecision
    fault: Fault | None


class Simulator:
    """The state of one simulator: balances, rate windows, fault counters, id counters."""

    def __init__(self, settings: SimulatorSettings) -> None:
        self.settings = settings
        self.ledger = Ledger(settings.keys, window_scale=settings.rate_window_scale)
        self.faults = FaultCounter()
        self._ids = itertools.count(1)

    def next_id(self) -> int:
        return next(self._ids)

    @staticmethod
    def shape(request: Request) -> str:
        return "anthropic" if request.url.path.startswith("/api/v1/messages") else "openai"

    def error(
        self, request: Request, error: SimError, headers: dict[str, str] | None = None
    ) -> Response:
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

    def headers(self, key: str, rate: RateDecision | None = None) -> dict[str, str]:
        rate = rate or self.ledger.peek(key)
        return {
            "X-Credits-Remaining": str(self.ledger.balance(key)),
            "X-RateLimit-Limit": str(rate.limit),
            "X-RateLimit-Remaining": str(rate.remaining),
            "X-RateLimit-Reset": str(rate.reset),
        }

    async def gate(self, request: Request) -> Admitted | Response:
        """Auth, then the fault (if any), then the rate limit; a Response means 'answer this'."""
        key = api_key_of(request)
        if key is None or not self.ledger.known(key):
            message = (
                "Invalid API key provided"
                if key
                else "Missing API key: send Authorization: Bearer <key> or X-API-Key"
            )
            error = SimError(401, "invalid_api_key", message, anthropic_type="authentication_error")
            return self.error(request, error)
        fault = None
        spec = request.headers.get("x-kimrel-fault") or self.settings.fault
        if spec:
            try:
                fault = parse_fault(spec)
            except FaultSpecError as exc:
                return self.error(request, invalid(str(exc)), self.headers(key))
            if not self.faults.applies(fault):
                fault = None
        if fault is not None and fault.delay:
            await asyncio.sleep(fault.delay)
        if fault is not None and fault.status:
            headers = self.headers(key)
            if fault.retry_after is not None:
                headers["Retry-After"] = f"{fault.retry_after:g}"
            return self.error(request, fault_error(fault, fault.status, key), headers)
        rate = self.ledger.admit(key)
        if not rate.allowed:
            headers = self.headers(key, rate)
            headers["Retry-After"] = str(max(1, round(rate.retry_after)))
            error = SimError(
                429,
                "rate_limit_exceeded",
                f"Rate limit exceeded: {rate.limit} requests per minute for this credit tier; "
                f"resets at {rate.reset}",
                openai_type="rate_limit_error",
                anthropic_type="rate_limit_error",
            )
            return self.error(request, error, headers)
        return Admitted(key, rate, fault)

    @staticmethod
    async def body(request: Request) -> dict[str, Any]:
        try:
            data = json.loads(await request.body() or b"null", parse_constant=_not_json)
            json.dumps(data, ensure_ascii=False).encode("utf-8")  # no lone surrogates
        except (ValueError, UnicodeDecodeError, UnicodeEncodeError, RecursionError):
            raise invalid("request body is not valid JSON") from None
        if not isinstance(data, dict):
            raise invalid("request body must be a JSON object")
        return data

    def require_credits(self, key: str, info: ModelInfo) -> int:
        price = credits_for(info.id)
        balance = self.ledger.available(key)  # less what streams in flight hold
        if balance < price:
            raise SimError(
                403,
                "insufficient_credits",
                f"Insufficient credits: {info.id} costs {price} per request and the balance "
                f"is {balance}",
                openai_type="insufficient_quota",
                anthropic_type="permission_error",
            )
        return price

    # ---- routes --------------------------------------------------------------------------
    async def models(self, request: Request) -> Response:
        gate = await self.gate(request)
        if isinstance(gate, Response):
            return gate
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
        body = {"object": "list", "data": data}
        return JSONResponse(body, headers=self.headers(gate.key, gate.rate))

    async def credits(self, request: Request) -> Response:
        gate = await self.gate(request)
        if isinstance(gate, Response):
            return gate
        tier = self.ledger.tier(gate.key)
        data = {
            "credits_remaining": self.ledger.balance(gate.key),
            "credits_used": self.ledger.used.get(gate.key, 0),
            "tier": tier.name,
            "limits": {
                "requests_per_minute": tier.per_minute,
                "requests_per_hour": tier.per_hour,
                "requests_per_day": tier.per_day,
            },
        }
        return JSONResponse(data, headers=self.headers(gate.key, gate.rate))

    async def chat(self, request: Request) -> Response:
        gate = await self.gate(request)
        if isinstance(gate, Response):
            return gate
        key = gate.key
        try:
            body = await self.body(request)
            info, plan, n = plan_chat(body)
            price = self.require_credits(key, info)
        except SimError as error:
            return self.error(request, error, self.headers(key, gate.rate))
        response_id = f"chatcmpl-sim-{self.next_id()}"
        if not body.get("stream"):
            self.ledger.charge(key, price)
            answer = chat_json(info, plan, n, response_id)
            return JSONResponse(answer, headers=self.headers(key, gate.rate))
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        chunks = chat_chunks(info, plan, n, include_usage, response_id)
        return self.stream(gate, price, [encode_data(c) for c in chunks] + [DONE])

    async def messages(self, request: Request) -> Response:
        gate = await self.gate(request)
        if isinstance(gate, Response):
            return gate
        key = gate.key
        try:
            body = await self.body(request)
            info, plan = plan_messages(body)
            price = self.require_credits(key, info)
        except SimError as error:
            return self.error(request, error, self.headers(key, gate.rate))
        tool_ids = [f"toolu_sim_{self.next_id()}" for _ in plan.calls]
        message = anthropic_message(info, plan, f"msg_sim_{self.next_id()}", tool_ids)
        if not body.get("stream"):
            self.ledger.charge(key, price)
            return JSONResponse(message, headers=self.headers(key, gate.rate))
        events = [encode_event(name, data) for name, data in anthropic_events(message)]
        return self.stream(gate, price, events)

    def stream(self, gate: Admitted, price: int, pieces: list[bytes]) -> Response:
        fault = gate.fault
        delay = self.settings.chunk_delay
        if fault is not None and fault.chunk_delay is not None:
            delay = fault.chunk_delay
        headers = self.headers(gate.key, gate.rate)
        headers["X-Credits-Remaining"] = str(self.ledger.balance(gate.key) - price)
        self.ledger.hold(gate.key, price)  # require_credits saw the room, with no await since
        return event_stream(
            pieces,
            on_complete=lambda: self.ledger.settle(gate.key, price),
            on_abandon=lambda: self.ledger.release(gate.key, price),
            chunk_delay=delay,
            drop_after=fault.drop_after if fault is not None else None,
            headers=headers,
        )

    async def refused(self, request: Request, exc: Exception) -> Response:
        """404 for unknown paths, 405 for wrong methods, in the route's shape."""
        status = getattr(exc, "status_code", 404)
        if status == 405:
            message = f"{request.method} is not allowed on {request.url.path}"
            error = SimError(405, "method_not_allowed", message)
        else:
            message = f"Invalid endpoint: {request.url.path}"
            error = SimError(404, "not_found", message, anthropic_type="not_found_error")
        key = api_key_of(request)
        headers = self.headers(key) if key is not None and self.ledger.known(key) else None
        return self.error(request, error, headers)


def create_app(settings: SimulatorSettings | None = None) -> Starlette:
    """A new simulator with its own state (balances, rate windows, fault counters)."""
    sim = Simulator(settings or SimulatorSettings())
    app = Starlette(
        routes=[
            Route("/api/v1/models", sim.models, methods=["GET"]),
            Route("/api/v1/chat/completions", sim.chat, methods=["POST"]),
            Route("/api/v1/messages", sim.messages, methods=["POST"]),
            Route("/api/user/credits", sim.credits, methods=["GET"]),
        ],
        exception_handlers={HTTPException: sim.refused},
    )
    app.state.simulator = sim
    return app
