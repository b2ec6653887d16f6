"""Replaying closed candles through the strategy.

`replay` is the fast path: entry conditions and indicator exits do not depend on the position,
so they are evaluated for every candle at once with the rule functions of `core.conditions`;
only the position is walked, hopping from one entry signal to that position's first exit
(`backtest.exits`). `replay_stepwise` feeds the candles one at a time through
`core.strategy.decide`, exactly as the live engine does. Tests prove both give the same trades,
refusals and money on every series they try.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np

from tradebot.backtest.execution import PaperExecutor, SkipLog, Trade
from tradebot.backtest.exits import ExitFinder
from tradebot.backtest.protection_guard import ProtectionGuard
from tradebot.core.conditions import (
    BUY_RULES,
    INDICATOR_EXIT_RULES,
    RULES_NEEDING_MA20,
    RULES_NEEDING_MA60,
    IndicatorFrame,
)
from tradebot.core.execution import BELOW_MIN_ORDER
from tradebot.core.indicators import IndicatorState, macd_arrays, sma_array
from tradebot.core.krw_rules import Fill
from tradebot.core.models import BoolArray, CandleSeries
from tradebot.core.params import Conditions, StrategyParams
from tradebot.core.protections import ActiveProtection
from tradebot.core.strategy import Action, IndicatorWindow, PositionView, decide

ProgressCallback = Callable[[int, int], None]


@dataclass(slots=True)
class ReplayResult:
    """Trades in entry order, refused or unsent orders, and the final paper account."""

    executor: PaperExecutor
    trades: list[Trade] = field(default_factory=list)
    skipped: SkipLog = field(default_factory=SkipLog)


def indicator_frame(series: CandleSeries, params: StrategyParams, conditions: Conditions) -> IndicatorFrame:
    """MACD/signal for every candle, and the MAs only when an enabled rule reads them."""
    lines = macd_arrays(series.close, params.fast_period, params.slow_period, params.signal_period)
    enabled = set(conditions.enabled_buy())
    unused = np.broadcast_to(np.nan, len(series))  # read-only NaNs without allocating them
    return IndicatorFrame(
        open=series.open,
        close=series.close,
        macd=lines.macd,
        signal=lines.signal,
        ma20=sma_array(series.close, 20) if enabled & RULES_NEEDING_MA20 else unused,
        ma60=sma_array(series.close, 60) if enabled & RULES_NEEDING_MA60 else unused,
    )


def entry_signals(frame: IndicatorFrame, params: StrategyParams, conditions: Conditions) -> BoolArray:
    """Candles where every enabled buy condition holds, warm-up excluded."""
    entry = np.ones(frame.close.shape[0], dtype=np.bool_)
    for key in conditions.enabled_buy():
        entry &= BUY_RULES[key](frame, params.macd_threshold)[0]
    entry[: params.warmup_bars] = False
    return entry


def indicator_exit_signals(
    frame: IndicatorFrame, params: StrategyParams, conditions: Conditions
) -> dict[str, BoolArray]:
    """Enabled indicator exits per candle, in checking order."""
    return {
        key: rule(frame, params.macd_threshold)[0]
        for key, rule in INDICATOR_EXIT_RULES.items()
        if getattr(conditions.sell, key)
    }


def replay(
    series: CandleSeries,
    params: StrategyParams,
    conditions: Conditions,
    cash: Decimal,
    progress: ProgressCallback | None = None,
    frame: IndicatorFrame | None = None,
) -> ReplayResult:
    """Backtest `series` with the fast path; the result equals `replay_stepwise`'s.

    `frame`, when given, must be `indicator_frame(series, params, conditions)` (the optimiser
    shares one per period triple and window across its trials); None computes it here.
    """
    if frame is None:
        frame = indicator_frame(series, params, conditions)
    entries = np.flatnonzero(entry_signals(frame, params, conditions))
    finder = ExitFinder(series.close, indicator_exit_signals(frame, params, conditions), params, conditions)
    executor = PaperExecutor(cash, params, conditions)
    # The look-ahead's float pre-filter needs entry prices to ~1e-15 (its levels are widened by
    # 1e-9); the exact ones come from the fills, through the same core function.
    finder.prepare(entries, series.close[entries] * float(executor.buy_price(1.0)))
    result = ReplayResult(executor)
    guard = ProtectionGuard(series, params, cash)
    entry_list: list[int] = entries.tolist()
    count, slot = len(series), 0
    while slot < len(entry_list):
        entry_index = entry_list[slot]
        bought = _enter(guard, executor, entry_index, float(series.close[entry_index]))
        if not isinstance(bought, Fill):
            # Cash is unchanged while flat: every later signal is refused too. No later one can be
            # blocked by a protection either: with no trade closing, a signal not blocked now
            # lies past every cooldown and pause, and later days have no closed loss.
            if bought == BELOW_MIN_ORDER:
                result.skipped.add(entry_index, "bid", bought, len(entry_list) - slot, entry_list[-1])
                break
            result.skipped.add(entry_index, "bid", bought)
            slot += 1
            continue
        result.skipped.end_run()
        trade = _hold_until_exit(finder, executor, slot, entry_index, bought)
        result.trades.append(trade)
        if trade.exit_index is None:
            break
        guard.closed(trade, executor.account)
        if progress is not None:
            progress(trade.exit_index, count)
        slot = bisect_right(entry_list, trade.exit_index)
    return result


def _enter(guard: ProtectionGuard, executor: PaperExecutor, index: int, close: float) -> Fill | str:
    """The entry at candle `index`, or why there is none: a protection's code or the refusal."""
    blocked = guard.blocking(index)
    if blocked:
        return blocked[0].code
    bought = executor.buy(close)
    if isinstance(bought, Fill):
        guard.filled(index, executor.account)
    return bought


def _hold_until_exit(
    finder: ExitFinder, executor: PaperExecutor, slot: int, entry_index: int, bought: Fill
) -> Trade:
    """Walk an open position to its exit: a sale, or a dust write-off when too small to sell."""
    found = finder.first_exit(slot, entry_index, executor.entry_price)
    if found is None:
        return Trade(entry_index, bought)
    sold = executor.sell(float(finder.close[found.index]), found.rule)
    if isinstance(sold, str):  # a whole position at a positive price: the paper ledger sells it
        raise AssertionError(f"the paper ledger refused a sell at candle {found.index}: {sold}")
    fill, reason = sold
    return Trade(entry_index, bought, found.index, fill, reason)


def replay_stepwise(
    series: CandleSeries, params: StrategyParams, conditions: Conditions, cash: Decimal
) -> ReplayResult:
    """Backtest `series` candle by candle through `core.strategy.decide`, as the live loop does."""
    state = IndicatorState(params.fast_period, params.slow_period, params.signal_period)
    window = IndicatorWindow()
    result = ReplayResult(PaperExecutor(cash, params, conditions))
    guard = ProtectionGuard(series, params, cash)
    open_trade: Trade | None = None
    peak = Decimal(0)
    for index in range(len(series)):
        window.push(state.update(float(series.open[index]), float(series.close[index])))
        position: PositionView | None = None
        blocked: tuple[ActiveProtection, ...] = ()
        if open_trade is not None:
            position = PositionView(result.executor.entry_price, peak, index - open_trade.entry_index)
        elif index >= params.warmup_bars:
            blocked = guard.blocking(index)
        decision = decide(window, index + 1, position, params, conditions, blocked)
        peak = decision.peak if decision.peak is not None else peak
        if blocked and decision.reason == blocked[0].describe():
            result.skipped.add(index, "bid", blocked[0].code)
        elif decision.action is Action.BUY:
            open_trade, peak = _step_buy(result, index, decision.price, peak)
            if open_trade is not None:
                guard.filled(index, result.executor.account)
        elif decision.action is Action.SELL and open_trade is not None:
            open_trade = _step_sell(result, open_trade, index, decision.price, decision.trigger)
            if open_trade is None:
                guard.closed(result.trades[-1], result.executor.account)
    if open_trade is not None:
        result.trades.append(open_trade)
    return result


def _step_buy(result: ReplayResult, index: int, price: float, peak: Decimal) -> tuple[Trade | None, Decimal]:
    bought = result.executor.buy(price)
    if isinstance(bought, Fill):
        result.skipped.end_run()
        return Trade(index, bought), result.executor.entry_price
    result.skipped.add(index, "bid", bought)
    return None, peak


def _step_sell(
    result: ReplayResult, trade: Trade, index: int, price: float, rule: str | None
) -> Trade | None:
    sold = result.executor.sell(price, rule or "")
    if isinstance(sold, str):
        result.skipped.add(index, "ask", sold)
        return trade
    fill, reason = sold
    result.trades.append(Trade(trade.entry_index, trade.entry, index, fill, reason))
    return None
