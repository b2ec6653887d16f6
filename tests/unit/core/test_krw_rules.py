"""Upbit KRW rules, checked against the recorded order bodies of upbit-api.md §3.5 and §7."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tradebot.core.krw_rules import (
    DEFAULT_FEE_RATE,
    buy_budget,
    floor_volume,
    is_on_tick,
    market_buy_fill,
    market_sell_fill,
    reserved_buy_fee,
    round_to_tick,
    tick_size,
    to_decimal,
)

D = Decimal


def test_market_buy_recorded_example_matches_upbit_to_the_last_digit() -> None:
    fill = market_buy_fill(D(10000), D(102945000), DEFAULT_FEE_RATE)
    assert fill.volume == D("0.00009713")
    assert fill.funds == D("9999.04785")
    assert fill.fee == D("4.999523925")
    assert reserved_buy_fee(D(10000), DEFAULT_FEE_RATE) == D(5)
    # locked 10,005 at order time; what remains locked after the fill is handed back (§3.5).
    assert D(10000) + D(5) + fill.krw_delta == D("0.952626075")


def test_market_sell_recorded_example_matches_upbit_to_the_last_digit() -> None:
    fill = market_sell_fill(D("0.00009713"), D(102902000), DEFAULT_FEE_RATE)
    assert fill.funds == D("9994.87126")
    assert fill.fee == D("4.99743563")
    assert fill.krw_delta == D("9989.87382437")


@pytest.mark.parametrize(
    ("price", "tick"),
    [
        ("2500000", "1000"),
        ("1000000", "1000"),
        ("999999", "500"),
        ("500000", "500"),
        ("100000", "100"),
        ("99999", "50"),
        ("50000", "50"),
        ("10000", "10"),
        ("9999", "5"),
        ("5000", "5"),
        ("4999", "1"),
        ("1000", "1"),
        ("100", "1"),
        ("99.9", "0.1"),
        ("10", "0.1"),
        ("9.99", "0.01"),
        ("1", "0.01"),
        ("0.5", "0.001"),
        ("0.05", "0.0001"),
        ("0.005", "0.00001"),
        ("0.0005", "0.000001"),
        ("0.00005", "0.0000001"),
        ("0.000005", "0.00000001"),
    ],
)
def test_tick_size_2025_07_31_table(price: str, tick: str) -> None:
    assert tick_size(D(price)) == D(tick)


def test_round_to_tick_up_and_down_and_across_band() -> None:
    assert round_to_tick(D("102945123"), up=False) == D("102945000")
    assert round_to_tick(D("102945123"), up=True) == D("102946000")
    assert round_to_tick(D("9999.3"), up=True) == D("10000")
    assert round_to_tick(D("0.12345"), up=False) == D("0.123")
    assert is_on_tick(D("102945000"))
    assert not is_on_tick(D("9997.5"))


def test_floor_volume_truncates_to_eight_decimals() -> None:
    assert floor_volume(D("0.000097139299")) == D("0.00009713")
    assert floor_volume(D("1.999999999")) == D("1.99999999")


def test_buy_budget_reserves_fee_and_never_exceeds_balance() -> None:
    budget = buy_budget(D(1_000_000), D(1), DEFAULT_FEE_RATE)
    assert budget == D(999_500)
    assert budget + reserved_buy_fee(budget, DEFAULT_FEE_RATE) <= D(1_000_000)
    assert buy_budget(D(1_000_000), D("0.1"), DEFAULT_FEE_RATE) == D(99_950)


def test_to_decimal_float_keeps_shortest_representation() -> None:
    assert to_decimal(0.1) == D("0.1")
    assert to_decimal(102945000.0) == D("102945000.0")
