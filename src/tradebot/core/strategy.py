"""The MACD strategy's decision: closed candle + indicators + position + settings -> decision.

This is the one implementation of TRADING_RULES.md's entry and exit rules that the live engine
calls for every closed candle (and, for price exits, every cycle); the backtest's fast path is
checked against it candle by candle. It does no I/O, reads no clock and keeps no globals.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import NamedTuple

import numpy as np

from tradebot.core.conditions import BUY_RULES, INDICATOR_EXIT_RULES, IndicatorFrame
from tradebot.core.errors import TradebotError
from tradebot.core.execution import exact
from tradebot.core.indicators import IndicatorRow, IndicatorState
from tradebot.core.krw_rules import MONEY, to_decimal
from tradebot.core.models import Candle, FloatArray
from tradebot.core.params import PRICE_EXIT_KEYS, Conditions, StrategyParams
from tradebot.core.protections import ActiveProtection

WINDOW = 3  # the rules look back at most two candles (macd_trending_up)


class Action(StrEnum):
    """What the strategy wants done."""

    BUY = "buy"
    SELL = "sell"
    HOLD = "hold"


class PositionError(TradebotError):
    """A position whose entry price is unknown or invalid: an alarm, never a reason to skip exits."""


@dataclass(frozen=True, slots=True)
class ConditionResult:
    """One rule's outcome, as written to `buy_eval` / `sell_eval`."""

    enabled: bool
    passed: bool
    value: float | None


@dataclass(frozen=True, slots=True)
class PositionView:
    """What the strategy needs to know about an open position; prices are exact (Decimal)."""

    entry_price: Decimal
    peak: Decimal
    bars_held: int

    def __post_init__(self) -> None:
        if not (self.entry_price.is_finite() and self.entry_price > 0):
            raise PositionError(
                f"open position has no valid entry price ({self.entry_price!r}); "
                "price exits cannot be evaluated"
            )


class ExitLevels(NamedTuple):
    """Prices at which the price exits fire, exactly (TRADING_RULES.md v2)."""

    stop_loss: Decimal
    take_profit: Decimal
    trailing_stop: Decimal


@dataclass(frozen=True, slots=True)
class Decision:
    """The strategy's verdict on one candle or price, with every condition and the reason."""

    action: Action
    reason: str
    trigger: str | None = None
    conditions: dict[str, ConditionResult] = field(default_factory=dict)
    price: float = math.nan
    peak: Decimal | None = None
    levels: ExitLevels | None = None


def exit_levels(entry_price: Decimal, peak: Decimal, params: StrategyParams) -> ExitLevels:
    """Stop, target and trailing prices in Decimal, each parameter taken as its decimal text.

    Entry 1,000 with a 7% stop loss stops at exactly 930; the float product is 929.9999999999999,
    which a price of 930 does not reach.
    """
    return ExitLevels(
        stop_loss=MONEY.multiply(entry_price, MONEY.subtract(1, exact(params.stop_loss))),
        take_profit=MONEY.multiply(entry_price, MONEY.add(1, exact(params.take_profit))),
        trailing_stop=MONEY.multiply(peak, MONEY.subtract(1, exact(params.trailing_stop))),
    )


def price_exit_results(
    price: Decimal, levels: ExitLevels, conditions: Conditions
) -> dict[str, ConditionResult]:
    """Stop loss, take profit and trailing stop against `price`; they are never gated."""
    hits = {
        "stop_loss": (price <= levels.stop_loss, levels.stop_loss),
        "take_profit": (price >= levels.take_profit, levels.take_profit),
        "trailing_stop": (price <= levels.trailing_stop, levels.trailing_stop),
    }
    return {
        key: ConditionResult(getattr(conditions.sell, key), bool(hit), float(value))
        for key, (hit, value) in hits.items()
    }


def check_price_exits(
    price: Decimal, position: PositionView, params: StrategyParams, conditions: Conditions
) -> Decision:
    """Evaluate only the price exits against the latest price (the every-cycle check)."""
    peak = max(position.peak, position.entry_price, price)
    levels = exit_levels(position.entry_price, peak, params)
    results = price_exit_results(price, levels, conditions)
    return _first_exit(results, PRICE_EXIT_KEYS, price, peak, levels)


class IndicatorWindow:
    """The last three closed candles' indicator rows, as the rules' frame."""

    def __init__(self) -> None:
        self._rows: deque[IndicatorRow] = deque(maxlen=WINDOW)

    def push(self, row: IndicatorRow) -> None:
        """Append the newest closed candle's row."""
        self._rows.append(row)

    @property
    def latest(self) -> IndicatorRow:
        """The newest row."""
        return self._rows[-1]

    def frame(self) -> IndicatorFrame:
        """A length-3 frame, NaN-padded in front when fewer candles were seen."""
        padding = [math.nan] * (WINDOW - len(self._rows))

        def column(name: str) -> FloatArray:
            return np.array(padding + [getattr(row, name) for row in self._rows], dtype=np.float64)

        return IndicatorFrame(
            open=column("open"),
            close=column("close"),
            macd=column("macd"),
            signal=column("signal"),
            ma20=column("ma20"),
            ma60=column("ma60"),
        )


@dataclass(slots=True)
class IndicatorSeries:
    """Indicator state over the closed candles since a series began, carried forward one candle at a time.

    A live loop keeps one from its first cached candle on, so it is never re-seeded mid-run.
    """

    indicators: IndicatorState
    window: IndicatorWindow = field(default_factory=IndicatorWindow)
    seen: int = 0
    last_start: datetime | None = None

    def push(self, candle: Candle) -> IndicatorRow:
        """Take the next closed candle; its indicator row."""
        row = self.indicators.update(candle.open, candle.close)
        self.window.push(row)
        self.seen += 1
        self.last_start = candle.start
        return row


def decide(
    window: IndicatorWindow,
    candles_seen: int,
    position: PositionView | None,
    params: StrategyParams,
    conditions: Conditions,
    protections: tuple[ActiveProtection, ...] = (),
) -> Decision:
    """Decide on the newest closed candle in `window`.

    `candles_seen` counts closed candles since the series began, this one included; no entry or
    indicator exit is decided during the first `params.warmup_bars` of them. Price exits of an
    open position apply even then. `position.bars_held` counts closed candles since the entry
    candle, this one included. `protections` (`core.protections`) active on this candle turn an
    entry into a hold whose reason names the first of them; they never touch an exit.
    """
    warming_up = candles_seen <= params.warmup_bars
    if position is None:
        if warming_up:
            return _warming_up(window, candles_seen, params)
        decision = _decide_entry(window.frame(), params, conditions)
        if decision.action is Action.BUY and protections:
            return replace(decision, action=Action.HOLD, reason=protections[0].describe(), trigger=None)
        return decision
    return _decide_exit(window, position, params, conditions, warming_up)


def _warming_up(window: IndicatorWindow, candles_seen: int, params: StrategyParams) -> Decision:
    reason = f"warming up: {candles_seen} of {params.warmup_bars} candles"
    return Decision(Action.HOLD, reason, price=window.latest.close)


def _decide_entry(frame: IndicatorFrame, params: StrategyParams, conditions: Conditions) -> Decision:
    results: dict[str, ConditionResult] = {}
    for key, rule in BUY_RULES.items():
        passed, value = rule(frame, params.macd_threshold)
        results[key] = _result(getattr(conditions.buy, key), bool(passed[-1]), float(value[-1]))
    enabled = [key for key, result in results.items() if result.enabled]
    failed = [key for key in enabled if not results[key].passed]
    price = float(frame.close[-1])
    if failed:
        return Decision(Action.HOLD, "no entry: " + ", ".join(failed) + " failed", None, results, price)
    return Decision(Action.BUY, "entry: " + ", ".join(enabled) + " held", "entry", results, price)


def _decide_exit(
    window: IndicatorWindow,
    position: PositionView,
    params: StrategyParams,
    conditions: Conditions,
    warming_up: bool,
) -> Decision:
    price = to_decimal(window.latest.close)
    peak = max(position.peak, position.entry_price, price)
    levels = exit_levels(position.entry_price, peak, params)
    results = price_exit_results(price, levels, conditions)
    frame = window.frame()
    for key, rule in INDICATOR_EXIT_RULES.items():
        passed, value = rule(frame, params.macd_threshold)
        results[key] = _result(getattr(conditions.sell, key), bool(passed[-1]), float(value[-1]))
    gated = warming_up or position.bars_held < params.min_holding_bars
    order = PRICE_EXIT_KEYS if gated else PRICE_EXIT_KEYS + tuple(INDICATOR_EXIT_RULES)
    decision = _first_exit(results, order, price, peak, levels)
    if decision.action is Action.HOLD and gated:
        wait = "warming up" if warming_up else f"held {position.bars_held} of {params.min_holding_bars} bars"
        reason = f"no exit; indicator exits not yet allowed ({wait})"
        return Decision(Action.HOLD, reason, None, results, float(price), peak, levels)
    return decision


def _first_exit(
    results: dict[str, ConditionResult],
    order: tuple[str, ...],
    price: Decimal,
    peak: Decimal,
    levels: ExitLevels,
) -> Decision:
    for key in order:
        result = results[key]
        if result.enabled and result.passed:
            return Decision(Action.SELL, f"exit: {key}", key, results, float(price), peak, levels)
    return Decision(Action.HOLD, "no exit rule held", None, results, float(price), peak, levels)


def _result(enabled: bool, passed: bool, value: float) -> ConditionResult:
    return ConditionResult(enabled, passed, value if math.isfinite(value) else None)
