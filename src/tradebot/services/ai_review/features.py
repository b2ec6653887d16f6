"""The AI review's features: explain one evaluation, review a day or a week, advise on entries.

Each feature first checks the user's set-up; while it is off, nothing is sent and the result's
status is `disabled` with how to enable it. Results never raise for a failed request: the status
says what happened (see `client.CallStatus`) and every request is recorded in `ai_calls`.
`EntryAdvisor` (the go / no-go before an entry) lives in `advisor` and is re-exported here.
"""

from __future__ import annotations

from dataclasses import dataclass

from tradebot.core.i18n import Language
from tradebot.core.models import Candle
from tradebot.services.ai_review.advisor import EntryAdvisor
from tradebot.services.ai_review.client import AiClient, AiResult, CallStatus
from tradebot.services.ai_review.prompts import (
    explain_messages,
    market_context,
    parse_conditions,
    parse_params,
    review_messages,
    settings_document,
)
from tradebot.services.ai_review.setup import AiAvailability, AiRuntime, AiSetup, load_setup
from tradebot.services.ai_review.statistics import ReviewStatistics, review_statistics
from tradebot.services.ai_review.store import (
    CachedExplanation,
    cached_explanation,
    row_reference,
    save_explanation,
)
from tradebot.services.records import BuyEvaluation, SellEvaluation
from tradebot.services.storage import Reader, Store, Window
from tradebot.services.trade_trace import (
    EvaluationKey,
    EvaluationTable,
    find_evaluation,
    trace_order,
    trace_trade,
)

__all__ = [
    "AiRuntime",
    "DailyReview",
    "EntryAdvisor",
    "EvaluationKey",
    "ai_status",
    "daily_review",
    "evaluation_for_order",
    "evaluation_for_trade",
    "explain_evaluation",
    "find_evaluation",
    "result_message",
]

LOOKBACK_CANDLES = 500  # indicators of the recent candles are recomputed over this many
REVIEW_DAYS = (1, 7)
HEADLINES: dict[CallStatus, str] = {
    CallStatus.TIMEOUT: "The model did not answer in time",
    CallStatus.RATE_LIMITED: "The AI service refused the request for now (rate limit); try again later",
    CallStatus.SERVER_ERROR: "The AI service failed to answer; try again later",
    CallStatus.MALFORMED: "The AI service's answer could not be read",
    CallStatus.BUDGET: "Monthly AI budget reached: nothing was sent (raise the cap or wait for next month)",
    CallStatus.ERROR: "The AI request failed",
}


@dataclass(frozen=True, slots=True)
class DailyReview:
    """The locally computed statistics of the period and the model's review of them."""

    statistics: ReviewStatistics
    result: AiResult


def ai_status(store: Store, username: str, runtime: AiRuntime) -> AiAvailability:
    """Whether the AI features are on for the user, or how to turn them on."""
    return load_setup(store, username, runtime.box, runtime.environment).availability()


def explain_evaluation(
    store: Store,
    username: str,
    table: EvaluationTable,
    key: EvaluationKey,
    runtime: AiRuntime,
    language: Language = "en",
) -> AiResult:
    """A short plain-language explanation of one evaluation row in `language`, cached per row and language.

    The cache holds while the row keeps its `evaluated_at` (a re-processed candle is explained
    again). A cache hit sends nothing and has `cached=True`. English keeps the plain row reference
    as its cache key, so explanations cached before languages existed stay valid.
    """
    setup, refusal = _usable_setup(store, username, runtime)
    if refusal is not None:
        return refusal
    evaluation = find_evaluation(store, table, key)
    if evaluation is None:
        return AiResult(status=CallStatus.ERROR, text=f"no {table} row for {row_reference(table, key)}")
    reference = row_reference(table, key) + ("" if language == "en" else f"@{language}")
    cached = cached_explanation(store, reference)
    if cached is not None and cached.row_evaluated_at == evaluation.evaluated_at:
        return AiResult(status=CallStatus.OK, text=cached.text, call_id=cached.call_id, cached=True)
    params = parse_params(store.settings_version(evaluation.params_version))
    conditions = parse_conditions(store.settings_version(evaluation.conditions_version))
    recent = market_context(_candles_until(store, evaluation), params) if params is not None else []
    messages = explain_messages(table, evaluation, settings_document(params, conditions), recent, language)
    with AiClient(store, setup, runtime.clock, runtime.prices) as client:
        result = client.complete("explain", messages, row_ref=reference)
    if result.ok and result.call_id is not None:
        _remember(store, reference, evaluation, result.call_id, result.text, runtime)
    return result


def daily_review(
    store: Store, username: str, runtime: AiRuntime, days: int = 1, language: Language = "en"
) -> DailyReview:
    """Statistics of the last `days` (1 or 7) computed locally, and the model's review of them.

    The review may suggest parameters to try in a backtest; nothing is ever applied.
    """
    if days not in REVIEW_DAYS:
        raise ValueError(f"a review covers 1 or 7 days, not {days}")
    end = runtime.clock.now()
    statistics = review_statistics(store, end, days)
    setup, refusal = _usable_setup(store, username, runtime)
    if refusal is not None:
        return DailyReview(statistics, refusal)
    reference = f"review/{days}d/{end.isoformat()}"
    with AiClient(store, setup, runtime.clock, runtime.prices) as client:
        messages = review_messages(statistics.as_document(), language)
        result = client.complete("review", messages, row_ref=reference)
    return DailyReview(statistics, result)


def result_message(result: AiResult) -> str:
    """One line for the user: the answer itself, or why there is none (budget, timeout, 429, ...)."""
    headline = HEADLINES.get(result.status)
    return result.text if headline is None else f"{headline}: {result.text}"


def evaluation_for_trade(reader: Reader, trade_id: int) -> tuple[EvaluationTable, EvaluationKey] | None:
    """The evaluation row behind a `trade_audit` row ("explain this trade"); None without one.

    The link is `services.trade_trace`'s: a force, manual or legacy-recovery trade has none.
    """
    trace = trace_trade(reader, trade_id)
    return trace.evaluation_reference if trace is not None else None


def evaluation_for_order(
    reader: Reader, order_identifier: str
) -> tuple[EvaluationTable, EvaluationKey] | None:
    """The same, found by the trade's order identifier (the Audit Viewer's trade frame shows it)."""
    trace = trace_order(reader, order_identifier)
    return trace.evaluation_reference if trace is not None else None


def _usable_setup(store: Store, username: str, runtime: AiRuntime) -> tuple[AiSetup, AiResult | None]:
    setup = load_setup(store, username, runtime.box, runtime.environment)
    availability = setup.availability()
    if availability.enabled:
        return setup, None
    return setup, AiResult(status=CallStatus.DISABLED, text=availability.message)


def _remember(
    store: Store,
    reference: str,
    evaluation: BuyEvaluation | SellEvaluation,
    call_id: int,
    text: str,
    runtime: AiRuntime,
) -> None:
    explanation = CachedExplanation(
        row_ref=reference,
        row_evaluated_at=evaluation.evaluated_at,
        call_id=call_id,
        text=text,
        created_at=runtime.clock.now(),
    )
    with store.transaction() as transaction:
        save_explanation(transaction, explanation)


def _candles_until(reader: Reader, evaluation: BuyEvaluation | SellEvaluation) -> list[Candle]:
    end = evaluation.candle_start + evaluation.interval.duration  # the row's own candle included
    return reader.candles(evaluation.market, evaluation.interval, Window(end=end, limit=LOOKBACK_CANDLES))
