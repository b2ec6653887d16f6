"""The paper ledger books fills with Upbit's rules and refuses what Upbit would refuse."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tradebot.core.errors import OrderRejected
from tradebot.core.ledger import PaperAccount

D = Decimal


def test_buy_then_sell_books_fees_and_clears_position() -> None:
    account = PaperAccount(krw=D(50_000))
    bought = account.market_buy(D(10_000), D(102_945_000))
    assert account.krw == D(50_000) - D("10004.047373925")
    assert account.volume == D("0.00009713")
    assert account.entry_price == D(102_945_000)
    assert account.peak == D(102_945_000)
    sold = account.market_sell(account.volume, D(102_902_000))
    assert account.volume == 0
    assert account.entry_price is None
    assert account.peak is None
    assert account.krw == D(50_000) + bought.krw_delta + sold.krw_delta


@pytest.mark.parametrize(
    ("krw", "total", "name"),
    [
        (D(100_000), D(4_999), "under_min_total_bid"),
        (D(10_000), D(10_000), "insufficient_funds_bid"),  # the fee does not fit on top
        (D(10_004), D(10_000), "insufficient_funds_bid"),
    ],
)
def test_buy_refused_with_upbit_error_name_leaves_account_unchanged(
    krw: Decimal, total: Decimal, name: str
) -> None:
    account = PaperAccount(krw=krw)
    with pytest.raises(OrderRejected) as refusal:
        account.market_buy(total, D(1_000_000))
    assert refusal.value.name == name
    assert account == PaperAccount(krw=krw)


def test_buy_exactly_affordable_with_fee_leaves_zero_or_more() -> None:
    account = PaperAccount(krw=D("10005"))
    account.market_buy(D(10_000), D(1_000))
    assert account.krw >= 0


def test_sell_more_than_held_refused_insufficient_funds_ask() -> None:
    account = PaperAccount(krw=D(100_000))
    account.market_buy(D(50_000), D(1_000))
    with pytest.raises(OrderRejected) as refusal:
        account.market_sell(account.volume + D("0.00000001"), D(1_000))
    assert refusal.value.name == "insufficient_funds_ask"


def test_sell_worth_under_minimum_refused_under_min_total_ask() -> None:
    account = PaperAccount(krw=D(100_000))
    account.market_buy(D(5_000), D(1_000))
    before = (account.krw, account.volume)
    with pytest.raises(OrderRejected) as refusal:
        account.market_sell(account.volume, D(999))
    assert refusal.value.name == "under_min_total_ask"
    assert (account.krw, account.volume) == before


def test_sell_volume_with_nine_decimals_refused() -> None:
    account = PaperAccount(krw=D(100_000))
    account.market_buy(D(50_000), D(1_000))
    with pytest.raises(OrderRejected) as refusal:
        account.market_sell(D("0.000000001"), D(1_000))
    assert refusal.value.name == "invalid_volume_ask"


def test_second_buy_averages_entry_price_by_funds() -> None:
    account = PaperAccount(krw=D(1_000_000))
    account.market_buy(D(10_000), D(1_000))
    account.market_buy(D(10_000), D(2_000))
    assert account.volume == D(15)
    assert account.entry_price is not None
    assert round(account.entry_price, 10) == round(D(20_000) / D(15), 10)


def test_observe_price_raises_peak_only_while_in_position() -> None:
    account = PaperAccount(krw=D(100_000))
    account.observe_price(D(5))
    assert account.peak is None
    account.market_buy(D(10_000), D(1_000))
    account.observe_price(D(1_200))
    account.observe_price(D(1_100))
    assert account.peak == D(1_200)
    assert account.equity(D(1_100)) == account.krw + account.volume * D(1_100)


def test_negative_starting_balance_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        PaperAccount(krw=D(-1))
