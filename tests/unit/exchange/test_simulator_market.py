"""The simulated market: price path growth, prices set by hand and the order book grid."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from tradebot.core.krw_rules import is_on_tick
from tradebot.exchange.simulator.formatting import utc_to_nanos
from tradebot.exchange.simulator.market import MarketData
from tradebot.exchange.simulator.orderbook import build_levels, next_tick_down, next_tick_up
from tradebot.exchange.simulator.pricepath import MINUTE_NS, generated_path

NOW_NS = utc_to_nanos(datetime(2026, 3, 22, 12, 47, 8, tzinfo=UTC))


def make_market() -> MarketData:
    first = (NOW_NS // MINUTE_NS - 100) * MINUTE_NS
    return MarketData(
        "KRW-BTC", generated_path("KRW-BTC", seed=1, first_start_ns=first, count=200, start_price=1e8), seed=1
    )


def test_path_grows_in_one_piece_for_a_long_jump() -> None:
    market = make_market()
    later = NOW_NS + 90 * 86_400 * 10**9
    assert market.index(later) == 100 + 90 * 1440
    assert len(market.path) > 90 * 1440
    assert market.path.start_ns[market.index(later)] == (later // MINUTE_NS) * MINUTE_NS


def test_set_price_moves_the_current_candle_and_the_walk_continues_from_it() -> None:
    market = make_market()
    market.set_price(NOW_NS, Decimal(90_000_000))
    index = market.index(NOW_NS)
    assert market.price(NOW_NS) == Decimal(90_000_000)
    assert market.best_quotes(NOW_NS) == (Decimal(90_000_000), Decimal(90_001_000))
    assert market.path.low[index] <= 90_000_000
    assert market.path.open[index + 1] == 90_000_000
    market.set_price(NOW_NS, Decimal(90_000_000), bid=Decimal(89_990_000), ask=Decimal(90_020_000))
    assert market.best_quotes(NOW_NS) == (Decimal(89_990_000), Decimal(90_020_000))
    assert market.best_quotes(NOW_NS + MINUTE_NS)[0] == market.price(
        NOW_NS + MINUTE_NS
    )  # pinned for one candle
    for bad in (Decimal(90_000_500), Decimal(0), Decimal("NaN"), Decimal(10) ** 13):
        with pytest.raises(ValueError, match="tick grid"):
            market.set_price(NOW_NS, bad)
    with pytest.raises(ValueError, match="below"):
        market.set_price(NOW_NS, Decimal(90_000_000), bid=Decimal(90_010_000), ask=Decimal(90_000_000))


def test_book_walks_the_tick_grid_across_band_boundaries() -> None:
    assert next_tick_down(Decimal(1_000_000)) == Decimal(999_500)
    assert next_tick_up(Decimal(999_500)) == Decimal(1_000_000)
    assert next_tick_up(Decimal(9995)) == Decimal(10_000)
    levels = build_levels(Decimal(1_001_000), Decimal(1_002_000), "seed", 30)
    prices = [level.bid_price for level in levels] + [level.ask_price for level in levels]
    assert all(is_on_tick(price) for price in prices)
    assert [level.bid_price for level in levels[:4]] == [
        Decimal(p) for p in (1_001_000, 1_000_000, 999_500, 999_000)
    ]
    assert build_levels(Decimal(1_001_000), Decimal(1_002_000), "seed", 30) == levels  # same seed, same book
    assert all(level.ask_size > 0 and level.bid_size > 0 for level in levels)
