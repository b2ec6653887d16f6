"""Rows for `buy_eval`, `sell_eval` and `trade_audit`, built from the strategy's decisions."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from tradebot.core.indicators import IndicatorRow
from tradebot.core.krw_rules import to_decimal
from tradebot.core.models import Interval
from tradebot.core.strategy import Decision
from tradebot.services.records import BuyEvaluation, Position, SellEvaluation, TriggerKind


@dataclass(frozen=True, slots=True)
class EvaluationContext:
    """Where and under which settings versions an evaluation happened."""

    market: str
    interval: Interval
    candle_start: datetime
    params_version: int
    conditions_version: int
    evaluated_at: datetime


def _number(value: float) -> float | None:
    return value if math.isfinite(value) else None


def buy_evaluation(
    context: EvaluationContext, decision: Decision, row: IndicatorRow, note: str = ""
) -> BuyEvaluation:
    """The `buy_eval` row of a candle evaluated while flat."""
    return BuyEvaluation(
        market=context.market,
        interval=context.interval,
        candle_start=context.candle_start,
        price=to_decimal(row.close),
        macd=_number(row.macd),
        signal=_number(row.signal),
        hist=_number(row.hist),
        conditions=decision.conditions,
        decision=decision.action,
        reason=f"{decision.reason}; {note}" if note else decision.reason,
        params_version=context.params_version,
        conditions_version=context.conditions_version,
        evaluated_at=context.evaluated_at,
    )


def sell_evaluation(
    context: EvaluationContext,
    decision: Decision,
    position: Position,
    kind: TriggerKind,
    row: IndicatorRow | None = None,
    note: str = "",
) -> SellEvaluation:
    """The `sell_eval` row of a candle close (`kind='close'`) or a price check between closes."""
    levels = decision.levels
    if levels is None or decision.peak is None or position.entry_price is None:
        raise ValueError("a sell evaluation needs exit levels, a peak and an entry price")
    return SellEvaluation(
        market=context.market,
        interval=context.interval,
        candle_start=context.candle_start,
        trigger_kind=kind,
        price=to_decimal(decision.price),
        entry_price=position.entry_price,
        peak_price=to_decimal(decision.peak),
        stop_loss_price=to_decimal(levels.stop_loss),
        take_profit_price=to_decimal(levels.take_profit),
        trailing_stop_price=to_decimal(levels.trailing_stop),
        bars_held=position.bars_held,
        macd=_number(row.macd) if row else None,
        signal=_number(row.signal) if row else None,
        hist=_number(row.hist) if row else None,
        rules=decision.conditions,
        decision=decision.action,
        reason=f"{decision.reason}; {note}" if note else decision.reason,
        trigger_rule=decision.trigger,
        params_version=context.params_version,
        conditions_version=context.conditions_version,
        evaluated_at=context.evaluated_at,
    )


def realised_profit(
    volume: Decimal, entry_price: Decimal | None, sell_krw: Decimal, fee_rate: Decimal
) -> Decimal | None:
    """KRW gained by a sell after both fees, against the position's average entry price."""
    if entry_price is None:
        return None
    cost = volume * entry_price
    return sell_krw - cost - cost * fee_rate
