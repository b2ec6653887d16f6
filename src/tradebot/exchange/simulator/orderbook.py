"""The order book around the current price: 30 levels per side on the KRW tick grid (§2.5).

The best bid is the last trade price and the best ask `spread_ticks` ticks above (one by
default; none puts both at the last price), unless an admin call set them. Sizes are
pseudo-random but fixed for a given market, candle and price, so repeated requests within one
candle see the same book. Simulated orders do not consume it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from tradebot.core.krw_rules import MONEY, floor_volume, round_to_tick, to_decimal
from tradebot.exchange.simulator.formatting import json_number

BOOK_DEPTH = 30
_NUDGE = Decimal("1E-12")  # less than any tick: rounding from price +- this finds the next tick
_TYPICAL_LEVEL_KRW = 30_000_000.0
_MIN_SIZE = Decimal("0.0001")


@dataclass(frozen=True, slots=True)
class Level:
    """One price level pair; level 0 holds the best bid and ask."""

    ask_price: Decimal
    ask_size: Decimal
    bid_price: Decimal
    bid_size: Decimal


def next_tick_up(price: Decimal) -> Decimal:
    """The grid price just above `price`."""
    return round_to_tick(MONEY.add(price, _NUDGE), up=True)


def ticks_above(price: Decimal, ticks: int) -> Decimal:
    """The grid price `ticks` ticks above `price` (`price` itself for 0)."""
    for _ in range(ticks):
        price = next_tick_up(price)
    return price


def next_tick_down(price: Decimal) -> Decimal:
    """The grid price just below `price` (never below the smallest tick)."""
    lower = round_to_tick(MONEY.subtract(price, _NUDGE), up=False)
    return lower if lower > 0 else price


def build_levels(
    best_bid: Decimal, best_ask: Decimal, seed_text: str, depth: int = BOOK_DEPTH
) -> list[Level]:
    """`depth` levels walking away from the best bid and ask one tick at a time."""
    generator = np.random.default_rng(int.from_bytes(hashlib.sha256(seed_text.encode()).digest()[:8], "big"))
    depths = generator.lognormal(np.log(_TYPICAL_LEVEL_KRW), 0.8, size=(2, depth))
    levels = []
    bid, ask = best_bid, best_ask
    for position in range(depth):
        levels.append(
            Level(
                ask_price=ask,
                ask_size=_size(float(depths[0, position]), ask),
                bid_price=bid,
                bid_size=_size(float(depths[1, position]), bid),
            )
        )
        ask, bid = next_tick_up(ask), next_tick_down(bid)
    return levels


def _size(krw: float, price: Decimal) -> Decimal:
    return max(floor_volume(MONEY.divide(to_decimal(round(krw)), price)), _MIN_SIZE)


def orderbook_document(market: str, levels: list[Level], timestamp_ms: int) -> dict[str, object]:
    """Upbit's order book object (level 0 = best prices; prices as JSON numbers)."""
    units = [
        {
            "ask_price": json_number(level.ask_price),
            "bid_price": json_number(level.bid_price),
            "ask_size": float(level.ask_size),
            "bid_size": float(level.bid_size),
        }
        for level in levels
    ]
    return {
        "market": market,
        "timestamp": timestamp_ms,
        "total_ask_size": round(float(sum(level.ask_size for level in levels)), 8),
        "total_bid_size": round(float(sum(level.bid_size for level in levels)), 8),
        "orderbook_units": units,
        "level": 0,
    }
