"""The paper ledger: a simulated Upbit KRW account that books market fills with Upbit's rules.

It is the one place where simulated orders turn into money, used by the backtest, by TEST mode
and by the exchange simulator, so the three cannot drift apart. Balances never go negative: an
order that cannot be funded is refused with the error name Upbit would answer with.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from tradebot.core.errors import OrderRejected
from tradebot.core.execution import dust_fill
from tradebot.core.krw_rules import (
    DEFAULT_FEE_RATE,
    MAX_ORDER_KRW,
    MIN_ORDER_KRW,
    MONEY,
    Fill,
    floor_volume,
    market_buy_fill,
    market_sell_fill,
    reserved_buy_fee,
)

ZERO = Decimal(0)


@dataclass(slots=True)
class PaperAccount:
    """KRW cash plus one coin position (volume, average entry price, peak price since entry).

    `dust` is coin written off the position (too little to sell): still in the wallet and in the
    equity, never part of the position again.
    """

    krw: Decimal
    fee_rate: Decimal = DEFAULT_FEE_RATE
    volume: Decimal = ZERO
    entry_price: Decimal | None = None
    peak: Decimal | None = None
    dust: Decimal = ZERO

    def __post_init__(self) -> None:
        if self.krw < 0 or self.volume < 0:
            raise ValueError("a paper account cannot start with a negative balance")
        if not ZERO <= self.fee_rate < 1:
            raise ValueError(f"fee rate {self.fee_rate} is not a fraction in [0, 1)")

    @property
    def in_position(self) -> bool:
        """True while the account holds coin."""
        return self.volume > 0

    def market_buy(self, total_krw: Decimal, price: Decimal) -> Fill:
        """Spend `total_krw` (fee on top) at `price`, like an Upbit `ord_type=price` bid."""
        self._check_buy(total_krw, price)
        fill = market_buy_fill(total_krw, price, self.fee_rate)
        if fill.volume <= 0:
            raise OrderRejected("under_min_total_bid", f"{total_krw} KRW buys no volume at {price}")
        self.krw = MONEY.add(self.krw, fill.krw_delta)
        if self.volume == 0:
            self.volume, self.entry_price, self.peak = fill.volume, price, price
            return fill
        held_value = MONEY.multiply(self.volume, self.entry_price or ZERO)
        self.volume = MONEY.add(self.volume, fill.volume)
        self.entry_price = MONEY.divide(MONEY.add(held_value, fill.funds), self.volume)
        self.peak = max(self.peak or ZERO, self.entry_price, price)
        return fill

    def market_sell(self, volume: Decimal, price: Decimal) -> Fill:
        """Sell `volume` coin at `price`, like an Upbit `ord_type=market` ask."""
        if price <= 0:
            raise OrderRejected("invalid_price_ask", f"price {price} is not positive")
        if volume <= 0 or floor_volume(volume) != volume:
            raise OrderRejected("invalid_volume_ask", f"volume {volume} is not a positive 8-decimal amount")
        if volume > self.volume:
            raise OrderRejected("insufficient_funds_ask", f"selling {volume} but holding {self.volume}")
        fill = market_sell_fill(volume, price, self.fee_rate)
        if fill.funds < MIN_ORDER_KRW:
            raise OrderRejected(
                "under_min_total_ask", f"order total {fill.funds} KRW is under {MIN_ORDER_KRW} KRW"
            )
        self.krw = MONEY.add(self.krw, fill.krw_delta)
        self.volume = MONEY.subtract(self.volume, volume)
        if self.volume == 0:
            self.entry_price = None
            self.peak = None
        return fill

    def write_off_dust(self, price: Decimal) -> Fill:
        """Close the position without an order: its coins become wallet dust (TRADING_RULES.md v2)."""
        if not self.in_position:
            raise ValueError("no position to write off")
        fill = dust_fill(self.volume, price)
        self.dust = MONEY.add(self.dust, self.volume)
        self.volume, self.entry_price, self.peak = ZERO, None, None
        return fill

    def observe_price(self, price: Decimal) -> None:
        """Raise the peak if `price` is a new high since entry."""
        if self.in_position and (self.peak is None or price > self.peak):
            self.peak = price

    def equity(self, price: Decimal) -> Decimal:
        """Cash plus the position and the dust marked at `price` (no exit fee deducted)."""
        return MONEY.add(self.krw, MONEY.multiply(MONEY.add(self.volume, self.dust), price))

    def _check_buy(self, total_krw: Decimal, price: Decimal) -> None:
        if price <= 0:
            raise OrderRejected("invalid_price_bid", f"price {price} is not positive")
        if total_krw < MIN_ORDER_KRW:
            raise OrderRejected(
                "under_min_total_bid", f"order total {total_krw} KRW is under {MIN_ORDER_KRW} KRW"
            )
        if total_krw > MAX_ORDER_KRW:
            raise OrderRejected(
                "invalid_funds_bid", f"order total {total_krw} KRW is over {MAX_ORDER_KRW} KRW"
            )
        needed = total_krw + reserved_buy_fee(total_krw, self.fee_rate)
        if needed > self.krw:
            raise OrderRejected(
                "insufficient_funds_bid", f"needs {needed} KRW with fee, {self.krw} KRW available"
            )
