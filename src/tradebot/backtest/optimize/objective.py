"""What a trial is scored on: figures of its closed trades, after both fees.

An open position at the end of a window is not counted (its value is a guess at one close), so
a trial cannot win by holding a lucky position. Ratios are per trade, not annualised: every trial
of a fold sees the same candles, so they compare trials fairly without assuming a calendar.
"""

from __future__ import annotations

import math
from decimal import Decimal

from tradebot.backtest.execution import Trade

OBJECTIVES = ("return", "sharpe", "sortino", "calmar", "profit_factor")
# A ratio with nothing below it (no losing trade, no drawdown) is reported as this instead of
# infinity: large enough to rank first, finite so Optuna and JSON can hold it.
RATIO_CAP = 100.0


def closed_trade_metrics(trades: list[Trade], cash: Decimal) -> dict[str, float]:
    """`closed_trades`, the five objectives and `win_rate` of the closed trades among `trades`."""
    profits: list[float] = []
    rates: list[float] = []
    for trade in trades:
        profit = trade.profit
        if profit is None:
            continue
        profits.append(float(profit))
        rates.append(float(profit / -trade.entry.krw_delta))
    total = sum(profits)
    starting = float(cash)
    return {
        "closed_trades": float(len(profits)),
        "return": total / starting,
        "sharpe": _sharpe(rates),
        "sortino": _sortino(rates),
        "calmar": _calmar(profits, starting),
        "profit_factor": _profit_factor(profits),
        "win_rate": sum(1 for profit in profits if profit > 0) / len(profits) if profits else 0.0,
    }


def _sharpe(rates: list[float]) -> float:
    """Mean over standard deviation of the per-trade returns (0 with fewer than two trades)."""
    if len(rates) < 2:
        return 0.0
    mean = sum(rates) / len(rates)
    variance = sum((rate - mean) ** 2 for rate in rates) / (len(rates) - 1)
    if variance <= 0:
        return _capped(mean)
    return mean / math.sqrt(variance)


def _sortino(rates: list[float]) -> float:
    """Mean over the downside deviation (root mean square of the losses, gains counted as 0)."""
    if not rates:
        return 0.0
    mean = sum(rates) / len(rates)
    downside = math.sqrt(sum(min(rate, 0.0) ** 2 for rate in rates) / len(rates))
    if downside <= 0:
        return _capped(mean)
    return mean / downside


def _calmar(profits: list[float], cash: float) -> float:
    """Closed-trade return over the largest fall of the cash after each exit."""
    balance, peak, deepest = cash, cash, 0.0
    for profit in profits:
        balance += profit
        peak = max(peak, balance)
        deepest = max(deepest, 1.0 - balance / peak)
    gained = balance / cash - 1.0
    if deepest <= 0:
        return _capped(gained)
    return gained / deepest


def _profit_factor(profits: list[float]) -> float:
    """Gross profit over gross loss."""
    gross_profit = sum(profit for profit in profits if profit > 0)
    gross_loss = -sum(profit for profit in profits if profit < 0)
    if gross_loss <= 0:
        return RATIO_CAP if gross_profit > 0 else 0.0
    return min(gross_profit / gross_loss, RATIO_CAP)


def _capped(value: float) -> float:
    """RATIO_CAP for a gain with nothing to divide by, 0 for none."""
    return RATIO_CAP if value > 0 else 0.0
