"""Realised profit in the audit: sell proceeds minus the position's cost with its buy fee."""

from __future__ import annotations

from decimal import Decimal

from tradebot.core.krw_rules import DEFAULT_FEE_RATE, market_buy_fill, market_sell_fill
from tradebot.engine.audit_rows import realised_profit


def test_realised_profit_equals_the_two_fills_cash_flows_for_one_round_trip() -> None:
    bought = market_buy_fill(Decimal(10_000), Decimal(102_945_000), DEFAULT_FEE_RATE)
    sold = market_sell_fill(bought.volume, Decimal(102_902_000), DEFAULT_FEE_RATE)
    profit = realised_profit(bought.volume, bought.price, sold.krw_delta, DEFAULT_FEE_RATE)
    assert profit == sold.krw_delta + bought.krw_delta
    assert profit == Decimal("-14.173549555")


def test_realised_profit_unknown_entry_is_none() -> None:
    assert realised_profit(Decimal(1), None, Decimal(100), DEFAULT_FEE_RATE) is None
