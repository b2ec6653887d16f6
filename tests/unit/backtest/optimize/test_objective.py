"""Objectives are figures of closed trades after both fees; open positions do not count."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tradebot.backtest.execution import Trade
from tradebot.backtest.optimize.objective import RATIO_CAP, closed_trade_metrics
from tradebot.core.krw_rules import Fill

CASH = Decimal(1_000_000)


def _trade(cost: int, proceeds: int | None) -> Trade:
    """A round trip that spent `cost` KRW (fee included) and got `proceeds` KRW back after its fee."""
    entry = Fill("bid", Decimal(100), Decimal(1), Decimal(cost), Decimal(0), Decimal(-cost))
    if proceeds is None:
        return Trade(0, entry)
    exit_fill = Fill("ask", Decimal(100), Decimal(1), Decimal(proceeds), Decimal(0), Decimal(proceeds))
    return Trade(0, entry, 5, exit_fill, "take_profit")


def test_closed_trade_metrics_known_trades_give_known_figures() -> None:
    trades = [_trade(100_000, 110_000), _trade(100_000, 95_000), _trade(100_000, 105_000)]

    figures = closed_trade_metrics(trades, CASH)

    assert figures["closed_trades"] == 3
    assert figures["return"] == pytest.approx(10_000 / 1_000_000)
    assert figures["profit_factor"] == pytest.approx(15_000 / 5_000)
    assert figures["win_rate"] == pytest.approx(2 / 3)
    rates = [0.10, -0.05, 0.05]
    mean = sum(rates) / 3
    deviation = (sum((rate - mean) ** 2 for rate in rates) / 2) ** 0.5
    assert figures["sharpe"] == pytest.approx(mean / deviation)
    assert figures["sortino"] == pytest.approx(mean / ((0.05**2) / 3) ** 0.5)
    # cash 1,000,000 -> 1,010,000 -> 1,005,000 -> 1,010,000: deepest fall 5,000 / 1,010,000
    assert figures["calmar"] == pytest.approx(0.01 / (5_000 / 1_010_000))


def test_closed_trade_metrics_open_position_is_not_counted() -> None:
    figures = closed_trade_metrics([_trade(100_000, 90_000), _trade(100_000, None)], CASH)

    assert figures["closed_trades"] == 1
    assert figures["return"] == pytest.approx(-0.01)


def test_closed_trade_metrics_no_losses_caps_ratios_and_no_trades_scores_zero() -> None:
    winning = closed_trade_metrics([_trade(100_000, 101_000), _trade(100_000, 102_000)], CASH)
    empty = closed_trade_metrics([], CASH)

    assert winning["profit_factor"] == RATIO_CAP
    assert winning["sortino"] == RATIO_CAP
    assert winning["calmar"] == RATIO_CAP
    assert all(value == 0 for value in empty.values())
