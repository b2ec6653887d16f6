"""The one paper-fill path: slippage, entry checks and dust in Decimal (TRADING_RULES.md v2)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tradebot.core.execution import (
    BELOW_MIN_EXIT,
    BELOW_MIN_ORDER,
    check_entry,
    dust_fill,
    dust_profit,
    exit_floor,
    is_dust,
    paper_fill_price,
)
from tradebot.core.krw_rules import DEFAULT_FEE_RATE, market_buy_fill
from tradebot.core.ledger import PaperAccount
from tradebot.core.params import Conditions, SellConditions, StrategyParams

FEE = DEFAULT_FEE_RATE
STOP_3 = StrategyParams(order_ratio=0.5, stop_loss=0.03)
NO_STOP = Conditions(sell=SellConditions(stop_loss=False))


@pytest.mark.parametrize(
    ("price", "side", "bps", "expected"),
    [
        ("10000", "bid", 5.0, "10005.0000"),
        ("10000", "ask", 5.0, "9995.0000"),
        ("0.5", "bid", 0.1, "0.500005000"),  # 0.1 bp is exactly 0.00001, not a binary fraction
        ("93000000", "ask", 0.0, "93000000"),
    ],
)
def test_paper_fill_price_slippage_exact_decimal(price: str, side: str, bps: float, expected: str) -> None:
    assert paper_fill_price(Decimal(price), side, bps) == Decimal(expected)  # type: ignore[arg-type]


def test_exit_floor_uses_decimal_text_of_stop_loss_or_one_when_disabled() -> None:
    assert exit_floor(StrategyParams(stop_loss=0.07), Conditions()) == Decimal("0.93")
    assert exit_floor(StrategyParams(stop_loss=0.07), NO_STOP) == 1


def test_check_entry_issue_12_small_account_refused_below_min_exit() -> None:
    """10,110 KRW at order_ratio 0.5 buys 5,052 KRW; at a 3% stop it is worth ~4,900 KRW."""
    check = check_entry(Decimal(10_110), FEE, Decimal(80_000_000), STOP_3, Conditions())
    assert check.budget == Decimal(5_052)
    assert check.refusal == BELOW_MIN_EXIT
    assert check.value_at_exit == check.volume * Decimal(80_000_000) * Decimal("0.97")
    assert check.explanation().startswith("below_min_exit: 5,052 KRW of coin would be worth 4,900 KRW")


def test_check_entry_budget_under_minimum_refused_below_min_order() -> None:
    check = check_entry(Decimal(9_000), FEE, Decimal(1_000), STOP_3, Conditions())
    assert (check.budget, check.refusal) == (Decimal(4_497), BELOW_MIN_ORDER)
    assert check.explanation() == "below_min_order: budget 4,497 KRW is under 5,000 KRW"


@pytest.mark.parametrize(("krw", "refusal"), [(Decimal(10_210), BELOW_MIN_EXIT), (Decimal(10_212), None)])
def test_check_entry_below_min_exit_boundary(krw: Decimal, refusal: str | None) -> None:
    # At 1 KRW a coin, 10,210 KRW -> budget 5,102 -> worth 4,999.96 at a 2% stop: refused;
    # 10,212 KRW -> budget 5,103 -> worth 5,000.94 at the stop: sent.
    params = StrategyParams(order_ratio=0.5, stop_loss=0.02)
    check = check_entry(krw, FEE, Decimal(1), params, Conditions())
    assert check.refusal == refusal


def test_check_entry_without_stop_loss_needs_value_at_entry_only() -> None:
    check = check_entry(Decimal(10_110), FEE, Decimal(80_000_000), STOP_3, NO_STOP)
    assert check.refusal is None
    assert check.volume == market_buy_fill(check.budget, check.fill_price, FEE).volume


@pytest.mark.parametrize(("volume", "price", "dust"), [("1", "4999.99", True), ("1", "5000", False)])
def test_is_dust_under_5000_at_fill_price(volume: str, price: str, dust: bool) -> None:
    assert is_dust(Decimal(volume), Decimal(price)) is dust


def test_dust_write_off_books_value_without_fee_and_keeps_coins_in_equity() -> None:
    account = PaperAccount(krw=Decimal(10_110))
    bought = account.market_buy(Decimal(5_052), Decimal(1_000))
    fill = account.write_off_dust(Decimal(970))
    assert fill == dust_fill(bought.volume, Decimal(970))
    assert (fill.fee, fill.krw_delta, fill.funds) == (0, 0, bought.volume * 970)
    assert (account.volume, account.entry_price, account.peak, account.dust) == (0, None, None, bought.volume)
    assert account.krw == Decimal(10_110) - bought.funds - bought.fee
    assert account.equity(Decimal(980)) == account.krw + bought.volume * 980
    profit = dust_profit(bought.volume, Decimal(970), bought.funds, bought.fee)
    assert profit == fill.funds - fill.fee + bought.krw_delta
    assert profit == bought.volume * 970 - bought.funds - bought.fee


def test_buy_after_dust_opens_new_position_with_its_own_entry_price() -> None:
    account = PaperAccount(krw=Decimal(20_000))
    account.market_buy(Decimal(5_000), Decimal(1_000))
    account.write_off_dust(Decimal(900))
    account.market_buy(Decimal(6_000), Decimal(800))
    assert (account.volume, account.entry_price, account.dust) == (Decimal("7.5"), Decimal(800), Decimal(5))
