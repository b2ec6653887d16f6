"""The entry advisor: before an entry, ask the model for a go / no-go (`core.advisor`'s contract).

It only ever vetoes an entry the rules chose. Off, no key, timeout, HTTP error, unparseable answer,
exhausted budget or any unexpected error: the verdict is `go=True`, `source="fallback"`, and its
reason says why, so the bot trades by its rules alone. Every request is recorded in `ai_calls`
(purpose `advisor`, the `buy_eval` row as `row_ref`).

Wiring (the live loop, `_on_flat`): build one `EntryAdvisor(store, username, runtime)` per loop
with the loop's own `Store` (connections are per thread). When the decision is BUY, nothing vetoed
it (`note` empty) and the budget is at least the minimum order, call `advise(AdvisorContext(...))`
outside any transaction. `go=False`: record the evaluation with the note `advisor: no-go (<reason>)`
and send nothing. `go=True` from a fallback: trade, noting `advisor unavailable (<reason>)`. The call
blocks for at most `advisor_timeout_seconds` (default 3 s) plus a database write.
"""

from __future__ import annotations

import json
import logging

from tradebot.core.advisor import AdvisorContext, AdvisorVerdict
from tradebot.core.models import Candle
from tradebot.services.ai_review.client import AiClient
from tradebot.services.ai_review.prompts import advisor_messages, market_context
from tradebot.services.ai_review.setup import AiRuntime, load_setup
from tradebot.services.ai_review.store import row_reference
from tradebot.services.storage import Store, Window
from tradebot.services.trade_trace import EvaluationKey

logger = logging.getLogger(__name__)

RECENT_CANDLES = 300  # enough history for MA60 and a settled MACD over the last 20 candles sent
MAX_REASON_CHARACTERS = 300


class EntryAdvisor:
    """Asks the user's model before an entry; satisfies `core.advisor.EntryAdvisorProtocol`."""

    def __init__(self, store: Store, username: str, runtime: AiRuntime) -> None:
        self._store, self._username, self._runtime = store, username, runtime

    def advise(self, context: AdvisorContext) -> AdvisorVerdict:
        """The model's go / no-go, or go by the rules when it cannot answer. Never raises."""
        try:
            return self._advise(context)
        except Exception as error:  # the loop must go on by its rules whatever failed here
            logger.warning("entry advisor failed (%s); the rules decide", type(error).__name__)
            return AdvisorVerdict(
                True, f"advisor failed ({type(error).__name__}); the rules decide", "fallback"
            )

    def _advise(self, context: AdvisorContext) -> AdvisorVerdict:
        setup = load_setup(self._store, self._username, self._runtime.box, self._runtime.environment)
        availability = setup.availability()
        if not availability.enabled or not setup.settings.advisor_enabled:
            return AdvisorVerdict(True, "advisor off; the rules decide", "fallback")
        messages = advisor_messages(context, market_context(self._recent(context), context.params))
        key = EvaluationKey(
            market=context.params.market, interval=context.params.interval, candle_start=context.candle.start
        )
        with AiClient(self._store, setup, self._runtime.clock, self._runtime.prices) as client:
            result = client.complete(
                "advisor",
                messages,
                row_ref=row_reference("buy_eval", key),
                timeout=setup.settings.advisor_timeout_seconds,
                validate=verdict_problem,
            )
        if not result.ok:
            return AdvisorVerdict(
                True, f"advisor {result.status.value}: {result.text}; the rules decide", "fallback"
            )
        go, reason = parse_verdict(result.text)
        return AdvisorVerdict(go, reason, "model")

    def _recent(self, context: AdvisorContext) -> list[Candle]:
        market, interval = context.params.market, context.params.interval
        # The candle being decided is cached only with its evaluation, after this call: add it here.
        window = Window(end=context.candle.start, limit=RECENT_CANDLES - 1)
        return [*self._store.candles(market, interval, window), context.candle]


def parse_verdict(text: str) -> tuple[bool, str]:
    """`(go, reason)` from an answer like `{"go": false, "reason": "..."}`; ValueError if it is not one."""
    opening, closing = text.find("{"), text.rfind("}")
    if opening < 0 or closing < opening:
        raise ValueError("no JSON object in the answer")
    try:
        document = json.loads(text[opening : closing + 1])
    except json.JSONDecodeError:
        raise ValueError("the answer's JSON object is not valid JSON") from None
    if not isinstance(document, dict):
        raise ValueError("the answer is not a JSON object")
    go, reason = document.get("go"), document.get("reason")
    if not isinstance(go, bool) or not isinstance(reason, str) or not reason.strip():
        raise ValueError('the answer lacks a boolean "go" and a "reason"')
    return go, reason.strip()[:MAX_REASON_CHARACTERS]


def verdict_problem(text: str) -> str | None:
    """Why an answer is not a usable verdict, or None (the client's validator)."""
    try:
        parse_verdict(text)
    except ValueError as error:
        return f"unparseable verdict: {error}"
    return None
