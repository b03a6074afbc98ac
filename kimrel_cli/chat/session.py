"""One chat conversation: its messages and settings, and one streamed turn through the hosted client.

The session sends the reasoning of earlier answers back as `reasoning_content` (Kimi requires it
on tool-call turns with thinking on, and it keeps the model's own chain of thought). A turn that
fails leaves the user's message in place, so `/retry` can send it again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kimrel_cli.catalogue import credits_for, get_model
from kimrel_cli.hosted.client import Client


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
    account: str | None = None  # for spend caps (usage/budgets.py)
    budget: Any = None  # budgets.SpendCheck, made on the first turn

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
        text: list[str] = []
        reasoning: list[str] = []
        usage: dict[str, Any] = {}
        finish = None
        interrupted = False
        rate = None
        with self.client.stream_chat(self.request(), headers=self.headers) as stream:
            rate = stream.rate
            try:
                for chunk in stream:
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

    def _balance_now(self) -> int | None:
        """The balance as the API reports it now, or None if it cannot be asked."""
        from kimrel_cli.errors import KimrelError

        try:
            result = self.client.credits()
        except KimrelError:
            return None
        balance = _balance_of(result.data)
        return balance if balance is not None else result.rate.credits_remaining


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
