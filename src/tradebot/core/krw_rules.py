"""Upbit KRW-market rules: price ticks, minimum order, fee, volume precision and fill arithmetic.

Numbers follow `upbit-api.md` §3.5, §7.1-§7.3 (tick table in force since 2025-07-31). LIVE trading
reads the real tick size from `/v1/orderbook/instruments` and the fee from `orders/chance`; these
values are the defaults for TEST mode, the simulator and backtests.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, Context, Decimal
from typing import NamedTuple

MIN_ORDER_KRW = Decimal(5000)
MAX_ORDER_KRW = Decimal(1_000_000_000)
DEFAULT_FEE_RATE = Decimal("0.0005")
VOLUME_QUANTUM = Decimal("0.00000001")

# (lower bound, tick) from the highest band down; the first band whose bound <= price applies.
KRW_TICK_TABLE: tuple[tuple[Decimal, Decimal], ...] = (
    (Decimal(1_000_000), Decimal(1000)),
    (Decimal(500_000), Decimal(500)),
    (Decimal(100_000), Decimal(100)),
    (Decimal(50_000), Decimal(50)),
    (Decimal(10_000), Decimal(10)),
    (Decimal(5_000), Decimal(5)),
    (Decimal(100), Decimal(1)),
    (Decimal(10), Decimal("0.1")),
    (Decimal(1), Decimal("0.01")),
    (Decimal("0.1"), Decimal("0.001")),
    (Decimal("0.01"), Decimal("0.0001")),
    (Decimal("0.001"), Decimal("0.00001")),
    (Decimal("0.0001"), Decimal("0.000001")),
    (Decimal("0.00001"), Decimal("0.0000001")),
)
SMALLEST_TICK = Decimal("0.00000001")

# Money arithmetic runs with enough digits that products of 8-decimal volumes, prices and fee
# rates are exact; Upbit reports fees to 9+ decimals (e.g. 4.999523925), so nothing is rounded.
# The context's methods are called directly (no `with localcontext`): this is the backtest's
# innermost loop, and the result is the same.
MONEY = Context(prec=50)


def to_decimal(value: float | int | str | Decimal) -> Decimal:
    """Convert a price or amount to Decimal without binary-float noise (0.1 -> Decimal('0.1'))."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(value)


def tick_size(price: Decimal) -> Decimal:
    """The KRW-market price tick for `price` (2025-07-31 table)."""
    for lower_bound, tick in KRW_TICK_TABLE:
        if price >= lower_bound:
            return tick
    return SMALLEST_TICK


def round_to_tick(price: Decimal, *, up: bool) -> Decimal:
    """Move `price` onto the tick grid: up (for a buyer's limit) or down (for a seller's)."""
    tick = tick_size(price)
    rounding = ROUND_CEILING if up else ROUND_FLOOR
    steps = (price / tick).to_integral_value(rounding=rounding)
    on_grid = steps * tick
    # Crossing a band boundary can change the tick; re-check once on the new price.
    return on_grid if tick_size(on_grid) == tick else round_to_tick(on_grid, up=up)


def is_on_tick(price: Decimal) -> bool:
    """True if `price` is a whole number of ticks."""
    return price % tick_size(price) == 0


def floor_volume(volume: Decimal) -> Decimal:
    """Floor a coin volume to Upbit's 8 decimals."""
    return volume.quantize(VOLUME_QUANTUM, rounding=ROUND_DOWN)


def buy_budget(krw_available: Decimal, order_ratio: Decimal, fee_rate: Decimal) -> Decimal:
    """KRW to spend on a market buy: `krw * ratio / (1 + fee)`, floored to whole KRW.

    The fee is reserved on top of the budget, so `budget + fee <= krw_available` always holds
    (LESSONS.md #10); flooring to whole KRW keeps the order total a plain number.
    """
    raw = MONEY.divide(MONEY.multiply(krw_available, order_ratio), MONEY.add(1, fee_rate))
    return raw.to_integral_value(rounding=ROUND_FLOOR)


class Fill(NamedTuple):
    """The money outcome of one market order, as Upbit books it."""

    side: str  # "bid" (buy) or "ask" (sell)
    price: Decimal  # average fill price
    volume: Decimal  # coin volume executed
    funds: Decimal  # price x volume, KRW
    fee: Decimal  # paid fee, KRW
    krw_delta: Decimal  # change of the KRW balance (negative for a buy)


def market_buy_fill(total_krw: Decimal, price: Decimal, fee_rate: Decimal) -> Fill:
    """Fill a market buy (`ord_type=price`) of `total_krw` at one price level.

    volume = floor8(total / price); funds = volume x price; fee = funds x fee_rate; the KRW debited
    is funds + fee, and the unspent remainder stays in the account (§3.5: state `cancel`).
    """
    volume = floor_volume(MONEY.divide(total_krw, price))
    funds = MONEY.multiply(volume, price)
    fee = MONEY.multiply(funds, fee_rate)
    return Fill("bid", price, volume, funds, fee, MONEY.minus(MONEY.add(funds, fee)))


def market_sell_fill(volume: Decimal, price: Decimal, fee_rate: Decimal) -> Fill:
    """Fill a market sell (`ord_type=market`) of `volume` at one price level: KRW += funds - fee."""
    funds = MONEY.multiply(volume, price)
    fee = MONEY.multiply(funds, fee_rate)
    return Fill("ask", price, volume, funds, fee, MONEY.subtract(funds, fee))


def reserved_buy_fee(total_krw: Decimal, fee_rate: Decimal) -> Decimal:
    """Fee Upbit locks on top of a market buy at order time (§7.3)."""
    return MONEY.multiply(total_krw, fee_rate)
