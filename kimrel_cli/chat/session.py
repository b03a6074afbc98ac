"""One chat conversation: its messages and settings, and one streamed turn through the hosted client.

The session sends the reasoning of earlier answers back as `reasoning_content` (Kimi requires it
on tool-call turns with thinking on, and it keeps the model's own chain of thought). A turn that
fails leaves the user's message in place, so `/retry` can send it again. Every request it sends,
answered, refused or stopped, is one row in the usage ledger when it has one (protocol "repl",
client "kimrel-chat"; docs/usage.md).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kimrel_cli.catalogue import credits_for, get_model
from kimrel_cli.hosted.client import Client

if TYPE_CHECKING:
    from kimrel_cli.usage.ledger import LedgerWriter


@dataclass
class TurnResult:
    text: str
    reasoning: str
    prompt_tokens: int | None
    completion_tokens: int | None
    credits_left: int | None
    credits_charged: int | None
    latency: float
    interrupted: bool = False
    finish_reason: str | None = None
    budget_left: tuple[str, int, int] | None = None  # (cap, left, limit): the tightest cap


@dataclass
class Session:
    client: Client
    model: str
    system: str | None = None
    thinking: bool = True
    messages: list[dict[str, Any]] = field(default_factory=list)
    tokens_in: int = 0
    tokens_out: int = 0
    credits_spent: int = 0
    turns: int = 0
    last_credits: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    ledger: LedgerWriter | None = None  # the usage ledger (None: not recorded)
    account: str | None = None  # as the ledger names it ("simulator" for --simulate)
    budget: Any = None  # budgets.SpendCheck (spend caps of `account`), made on the first turn

    def request(self) -> dict[str, Any]:
        messages = (
            [{"role": "system", "content": self.system}] if self.system else []
        ) + self.messages
        body: dict[str, Any] = {"model": self.model, "messages": messages}
        info = get_model(self.model)
        if info is not None:
            body["max_tokens"] = info.max_output_tokens
            if info.thinking == "switchable":
                body["thinking"] = {"type": "enabled" if self.thinking else "disabled"}
        return body

    def check_budget(self) -> None:
        """Refuse a turn that would cross a spend cap (SpendLimitReached): nothing is sent."""
        if self.budget is None:
            from kimrel_cli.usage.budgets import Scope, SpendCheck

            self.budget = SpendCheck(Scope(account=self.account))
        self.budget.check(credits_for(self.model))

    def add_user(self, content: Any) -> None:
        self.messages.append({"role": "user", "content": content})

    def undo(self) -> bool:
        """Drop the last exchange (the last user message and what followed it)."""
        for index in range(len(self.messages) - 1, -1, -1):
            if self.messages[index]["role"] == "user":
                del self.messages[index:]
                return True
        return False

    def pending_question(self) -> bool:
        return bool(self.messages) and self.messages[-1]["role"] == "user"

    def stream_turn(
        self,
        on_reasoning: Callable[[str], None],
        on_text: Callable[[str], None],
    ) -> TurnResult:
        """Send the conversation and stream the answer; KeyboardInterrupt stops it (kept as partial)."""
        started = time.monotonic()
        self.check_budget()
        wall = time.time()
        text: list[str] = []
        reasoning: list[str] = []
        usage: dict[str, Any] = {}
        finish = None
        interrupted = False
        rate = None
        first: float | None = None
        try:
            opened = self.client.stream_chat(self.request(), headers=self.headers)
            stream = opened.__enter__()
        except Exception as exc:
            self._record(wall, started, error=exc)
            raise
        with contextlib.ExitStack() as stack:
            stack.push(opened)
            rate = stream.rate
            try:
                for chunk in stream:
                    first = first or time.monotonic()
                    if chunk.get("usage"):
                        usage = chunk["usage"]
                    for choice in chunk.get("choices") or []:
                        if choice.get("usage"):
                            usage = choice["usage"]
                        delta = choice.get("delta") or {}
                        if delta.get("reasoning_content"):
                            reasoning.append(delta["reasoning_content"])
                            on_reasoning(delta["reasoning_content"])
                        if delta.get("content"):
                            text.append(delta["content"])
                            on_text(delta["content"])
                        finish = choice.get("finish_reason") or finish
            except KeyboardInterrupt:
                interrupted = True
            except Exception as exc:  # the stream broke off: recorded, then raised
                self._record(
                    wall, started, error=exc, first=first, usage=usage, rate=rate, stream_began=True
                )
                raise
        answer = "".join(text)
        message: dict[str, Any] = {"role": "assistant", "content": answer}
        if reasoning:
            message["reasoning_content"] = "".join(reasoning)
        if answer or reasoning:
            self.messages.append(message)
        credits_left = rate.credits_remaining if rate is not None else None
        if interrupted:
            # The API bills completed answers; what a stopped one cost is what the balance says.
            after = self._balance_now()
            charged = (
                max(0, credits_left - after)
                if credits_left is not None and after is not None
                else None
            )
            credits_left = after if after is not None else credits_left
        else:
            charged = credits_for(self.model)
        self.turns += 1
        self.tokens_in += int(usage.get("prompt_tokens") or 0)
        self.tokens_out += int(usage.get("completion_tokens") or 0)
        self.credits_spent += charged or 0
        self.budget.charged(charged or 0)
        self.last_credits = credits_left if credits_left is not None else self.last_credits
        self._record(
            wall,
            started,
            first=first,
            usage=usage,
            credits_after=credits_left,
            charged=charged or 0,
            status=499 if interrupted else 200,
            error_code="interrupted" if interrupted else None,
        )
        return TurnResult(
            text=answer,
            reasoning="".join(reasoning),
            prompt_tokens=usage.get("prompt_tokens"),
            completion_tokens=usage.get("completion_tokens"),
            credits_left=credits_left,
            credits_charged=charged,
            latency=time.monotonic() - started,
            interrupted=interrupted,
            finish_reason=finish,
            budget_left=self.budget.left(),
        )

    def complete(self) -> Any:
        """One whole (non-streamed) answer's JSON (`kimrel chat -m … --json`), recorded."""
        self.check_budget()
        started, wall = time.monotonic(), time.time()
        try:
            result = self.client.chat(self.request(), headers=self.headers)
        except Exception as exc:
            self._record(wall, started, error=exc, stream=False)
            raise
        data = result.data
        self._record(
            wall,
            started,
            usage=data.get("usage") if isinstance(data, dict) else None,
            credits_after=result.rate.credits_remaining,
            charged=credits_for(self.model),
            stream=False,
        )
        return data

    def _record(
        self,
        wall: float,
        started: float,
        *,
        error: BaseException | None = None,
        first: float | None = None,
        usage: Any = None,
        rate: Any = None,
        credits_after: int | None = None,
        charged: int = 0,
        status: int = 200,
        error_code: str | None = None,
        stream: bool = True,
        stream_began: bool = False,
    ) -> None:
        """One ledger row for a request this session sent (never raises)."""
        if self.ledger is None:
            return
        try:
            self.ledger.submit(
                chat_row(
                    model=self.model,
                    account=self.account,
                    wall=wall,
                    latency_ms=(time.monotonic() - started) * 1000.0,
                    ttfb_ms=None if first is None else (first - started) * 1000.0,
                    error=error,
                    usage=usage,
                    credits_after=credits_after
                    if credits_after is not None
                    else getattr(rate, "credits_remaining", None),
                    charged=charged,
                    status=status,
                    error_code=error_code,
                    stream=stream,
                    stream_began=stream_began,
                )
            )
        except Exception:  # the ledger never fails a chat
            return

    def _balance_now(self) -> int | None:
        """The balance as the API reports it now, or None if it cannot be asked."""
        from kimrel_cli.errors import KimrelError

        try:
            result = self.client.credits()
        except KimrelError:
            return None
        balance = _balance_of(result.data)
        return balance if balance is not None else result.rate.credits_remaining


def chat_row(
    *,
    model: str,
    account: str | None,
    wall: float,
    latency_ms: float,
    ttfb_ms: float | None,
    error: BaseException | None,
    usage: Any,
    credits_after: int | None,
    charged: int,
    status: int,
    error_code: str | None,
    stream: bool,
    stream_began: bool = False,
) -> Any:
    """The ledger row of one `kimrel chat` request (a failed one: `error`, never charged)."""
    from kimrel_cli import __version__
    from kimrel_cli.errors import KimrelError, UpstreamError
    from kimrel_cli.usage.ledger import UsageRow

    if error is not None:
        charged = 0
        if isinstance(error, UpstreamError):
            error_code = error.wire_code or error.code
            status = 200 if stream_began else error.status
            if credits_after is None:
                credits_after = error.credits_remaining
        else:
            error_code = error.code if isinstance(error, KimrelError) else type(error).__name__
            status = 200 if stream_began else 502
    if ttfb_ms is None and not stream:
        ttfb_ms = latency_ms  # a whole answer: its first byte is its last
    usage = usage if isinstance(usage, dict) else {}
    details = usage.get("completion_tokens_details")
    reasoning = details.get("reasoning_tokens") if isinstance(details, dict) else None
    return UsageRow(
        ts=wall,
        protocol="repl",
        client="kimrel-chat",
        status=status,
        stream=stream,
        credits_charged=charged,
        account=account,
        user_agent=f"kimrel/{__version__}",
        model_requested=model,
        model=model,
        error_code=error_code,
        tokens_in=usage.get("prompt_tokens"),
        tokens_out=usage.get("completion_tokens"),
        tokens_reasoning=reasoning if isinstance(reasoning, int) else None,
        ttfb_ms=None if ttfb_ms is None else round(ttfb_ms, 1),
        latency_ms=round(latency_ms, 1),
        credits_after=credits_after,
    )


def _balance_of(data: Any) -> int | None:
    value = data.get("credits_remaining") if isinstance(data, dict) else None
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def image_part(
    source: str, *, fetch: Callable[[str], tuple[bytes, str]] | None = None
) -> dict[str, Any]:
    """An image_url part for a local file or a remote URL, checked as the relay checks it."""
    from kimrel_cli.errors import BadRequest
    from kimrel_cli.protocols.images import check_image, data_url

    if source.startswith(("http://", "https://")):
        from kimrel_cli.hosted.images import fetch_image

        data, _ = (fetch or fetch_image)(source)
    else:
        path = Path(source).expanduser()
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise BadRequest(f"cannot read {path}: {exc.strerror}") from None
    return {"type": "image_url", "image_url": {"url": data_url(data, check_image(data))}}
