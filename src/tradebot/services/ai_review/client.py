"""One chat completion through the official `openai` package: budgeted, recorded, never raising.

`AiClient.complete` (1) refuses a prompt that contains the API key, (2) in one transaction sums
this month's recorded cost, adds a conservative estimate of this call and either records a
`budget` refusal (nothing is sent) or a `pending` row whose cost is the estimate (so a concurrent
caller, or a crash mid-request, still counts it), (3) sends the request with no retries, and (4)
records the outcome: the answer, token counts and the cost from the price table, or the error.
Timeouts, 429, 5xx, unreachable servers and malformed answers become an `AiResult`'s status.

Cost of a failure: an HTTP error costs 0 (the request was refused); a timeout keeps its estimate,
because the server may have finished (and billed) the answer the client stopped waiting for; an
answer without usage counts is charged the estimate.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from enum import StrEnum
from types import TracebackType

import openai

from tradebot.core.clock import Clock
from tradebot.services.ai_review.config import PRICES, ModelPrice
from tradebot.services.ai_review.setup import AiSetup
from tradebot.services.ai_review.store import (
    AiCallEnd,
    AiCallStart,
    Purpose,
    StoredStatus,
    finish_call,
    insert_call,
    spent_this_month,
)
from tradebot.services.storage import Store

logger = logging.getLogger(__name__)

Message = dict[str, str]  # {"role": "system" | "user", "content": ...}
Validator = Callable[[str], str | None]  # an answer's problem, or None if it is usable
CHARACTERS_PER_TOKEN = 3  # real text averages ~4; fewer overestimates, which is the safe side
TOKENS_PER_MESSAGE = 8
ZERO = Decimal(0)
# A body that is not JSON (ValueError) or lacks choices / message (the others) when it is read.
MALFORMED_SIGNS = (
    openai.APIResponseValidationError,
    ValueError,
    TypeError,
    AttributeError,
    IndexError,
    KeyError,
)
WITHHELD = '[{"role": "system", "content": "(withheld: the prompt contained a secret)"}]'


class CallStatus(StrEnum):
    """How a request ended, as the callers see it."""

    OK = "ok"
    TIMEOUT = "timeout"
    RATE_LIMITED = "rate_limited"
    SERVER_ERROR = "server_error"
    MALFORMED = "malformed"
    ERROR = "error"
    BUDGET = "budget"
    DISABLED = "disabled"


ESTIMATED = (CallStatus.OK, CallStatus.MALFORMED, CallStatus.TIMEOUT)
STORED: dict[CallStatus, StoredStatus] = {CallStatus.OK: "ok", CallStatus.TIMEOUT: "timeout"}


@dataclass(frozen=True, slots=True, kw_only=True)
class AiResult:
    """The answer text (status ok) or a one-line message saying why there is none."""

    status: CallStatus
    text: str
    call_id: int | None = None
    cost_usd: Decimal = ZERO
    input_tokens: int | None = None
    output_tokens: int | None = None
    cached: bool = False

    @property
    def ok(self) -> bool:
        """True when `text` is the model's answer."""
        return self.status is CallStatus.OK


@dataclass(frozen=True, slots=True)
class _Reply:
    status: CallStatus
    text: str | None = None
    error: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None


class AiClient:
    """Requests for one user, recorded in that user's database; use as a context manager."""

    def __init__(
        self, store: Store, setup: AiSetup, clock: Clock, prices: dict[str, ModelPrice] | None = None
    ) -> None:
        if setup.api_key is None:
            raise ValueError("an AiClient needs an API key; check setup.availability() first")
        self._store, self._clock, self._settings = store, clock, setup.settings
        self._key = setup.api_key
        self._price = setup.settings.price(PRICES if prices is None else prices)
        self._openai = openai.OpenAI(
            api_key=setup.api_key,
            base_url=setup.settings.endpoint,  # explicit: never OPENAI_BASE_URL from the environment
            timeout=setup.settings.timeout_seconds,
            max_retries=0,  # a retry would spend money and time the caller did not budget
        )

    def complete(
        self,
        purpose: Purpose,
        messages: list[Message],
        *,
        row_ref: str | None = None,
        timeout: float | None = None,
        validate: Validator | None = None,
    ) -> AiResult:
        """Send `messages` unless the month's cap forbids it; the outcome is recorded either way."""
        prompt = json.dumps(messages, ensure_ascii=False)
        if self._key in prompt:  # prompts are built from trading data only; this is the last guard
            return self._refuse(purpose, row_ref, WITHHELD, CallStatus.ERROR, "the prompt contained a secret")
        estimate = self._estimate(prompt, len(messages))
        call_id = self._reserve(purpose, row_ref, prompt, estimate)
        if call_id is None:
            cap = self._settings.monthly_cap_usd
            message = f"monthly AI budget reached: this call could exceed the {cap} USD cap"
            return self._refuse(purpose, row_ref, prompt, CallStatus.BUDGET, message)
        started = self._clock.monotonic()
        reply = self._send(messages, timeout, validate)
        duration = timedelta(seconds=max(0.0, self._clock.monotonic() - started))
        return self._finish(call_id, purpose, reply, estimate, duration)

    def _estimate(self, prompt: str, count: int) -> Decimal:
        input_tokens = math.ceil(len(prompt) / CHARACTERS_PER_TOKEN) + TOKENS_PER_MESSAGE * count
        return self._price.cost(input_tokens, self._settings.max_output_tokens)

    def _reserve(self, purpose: Purpose, row_ref: str | None, prompt: str, estimate: Decimal) -> int | None:
        now = self._clock.now()
        with self._store.transaction() as transaction:  # BEGIN IMMEDIATE: one budget check at a time
            if spent_this_month(transaction, now) + estimate >= self._settings.monthly_cap_usd:
                return None
            start = AiCallStart(
                purpose=purpose,
                row_ref=row_ref,
                model=self._settings.model,
                prompt=prompt,
                status="pending",
                error=None,
                cost_usd=estimate,
                created_at=now,
            )
            return insert_call(transaction, start)

    def _refuse(
        self, purpose: Purpose, row_ref: str | None, prompt: str, status: CallStatus, message: str
    ) -> AiResult:
        start = AiCallStart(
            purpose=purpose,
            row_ref=row_ref,
            model=self._settings.model,
            prompt=prompt,
            status="budget" if status is CallStatus.BUDGET else "error",
            error=message,
            cost_usd=ZERO,
            created_at=self._clock.now(),
        )
        with self._store.transaction() as transaction:
            call_id = insert_call(transaction, start)
        logger.info("AI %s call %d not sent: %s", purpose, call_id, status.value)
        return AiResult(status=status, text=message, call_id=call_id)

    def _send(self, messages: list[Message], timeout: float | None, validate: Validator | None) -> _Reply:
        try:
            completion = self._openai.chat.completions.create(
                model=self._settings.model,
                messages=messages,  # type: ignore[arg-type]  # plain role/content dicts are the wire format
                max_tokens=self._settings.max_output_tokens,
                timeout=timeout if timeout is not None else self._settings.timeout_seconds,
            )
            text = completion.choices[0].message.content
            usage = completion.usage
            tokens = (usage.prompt_tokens, usage.completion_tokens) if usage is not None else (None, None)
        except Exception as error:  # mapped to a status: the caller gets a result, never an exception
            return self._failure(error)
        return _checked(text, tokens, validate)

    def _failure(self, error: Exception) -> _Reply:
        if isinstance(error, openai.APITimeoutError):
            return _Reply(CallStatus.TIMEOUT, error="no answer within the timeout")
        if isinstance(error, openai.APIStatusError):
            code = error.status_code
            status = CallStatus.RATE_LIMITED if code == 429 else CallStatus.ERROR
            status = CallStatus.SERVER_ERROR if code >= 500 else status
            return _Reply(status, error=self._scrub(f"HTTP {code}: {error.message}"))
        if isinstance(error, openai.APIConnectionError):
            return _Reply(CallStatus.ERROR, error=f"cannot reach {self._settings.endpoint}")
        if isinstance(error, MALFORMED_SIGNS):
            return _Reply(CallStatus.MALFORMED, error=f"malformed answer ({type(error).__name__})")
        return _Reply(CallStatus.ERROR, error=self._scrub(f"{type(error).__name__}: {error}"))

    def _finish(
        self, call_id: int, purpose: Purpose, reply: _Reply, estimate: Decimal, duration: timedelta
    ) -> AiResult:
        cost = self._cost(reply, estimate)
        response = self._scrub(reply.text) if reply.text is not None else None
        end = AiCallEnd(
            status=STORED.get(reply.status, "error"),
            response=response,
            error=None if reply.error is None else f"{reply.status.value}: {reply.error}",
            input_tokens=reply.input_tokens,
            output_tokens=reply.output_tokens,
            cost_usd=cost,
            duration=duration,
        )
        with self._store.transaction() as transaction:
            finish_call(transaction, call_id, end)
        logger.info(
            "AI %s call %d: %s, tokens %s in / %s out, %s USD",
            purpose,
            call_id,
            reply.status.value,
            reply.input_tokens,
            reply.output_tokens,
            cost,
        )
        text = response if reply.status is CallStatus.OK and response else (end.error or reply.status.value)
        return AiResult(
            status=reply.status,
            text=text,
            call_id=call_id,
            cost_usd=cost,
            input_tokens=reply.input_tokens,
            output_tokens=reply.output_tokens,
        )

    def _cost(self, reply: _Reply, estimate: Decimal) -> Decimal:
        if reply.input_tokens is not None and reply.output_tokens is not None:
            return self._price.cost(reply.input_tokens, reply.output_tokens)
        # No usage counts: an answer (or a timed-out one) may have been billed, a refusal was not.
        return estimate if reply.status in ESTIMATED else ZERO

    def _scrub(self, text: str) -> str:
        # An error body or a misbehaving server may echo the key; it must not reach the database.
        return text.replace(self._key, "***")

    def close(self) -> None:
        """Close the HTTP connections."""
        self._openai.close()

    def __enter__(self) -> AiClient:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


def _checked(text: object, tokens: tuple[int | None, int | None], validate: Validator | None) -> _Reply:
    input_tokens, output_tokens = tokens
    if not isinstance(text, str) or not text.strip():
        return _Reply(
            CallStatus.MALFORMED,
            error="the answer has no text",
            input_tokens=input_tokens,
            output_tokens=output_tokens,
        )
    problem = validate(text) if validate is not None else None
    status = CallStatus.MALFORMED if problem else CallStatus.OK
    return _Reply(status, text.strip(), problem, input_tokens, output_tokens)
