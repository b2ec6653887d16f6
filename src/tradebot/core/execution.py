"""The one paper-fill path: slippage, the entry checks and dust, in Decimal (TRADING_RULES.md v2).

The backtest replays, TEST mode and the live loop all call these functions, so a slippage, a
sellable-entry refusal or a dust write-off is decided by the same arithmetic everywhere. A paper
order then fills on `core.ledger.PaperAccount` at the price computed here.
"""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from typing import Literal, NamedTuple

from tradebot.core.krw_rules import MIN_ORDER_KRW, MONEY, Fill, buy_budget, floor_volume
from tradebot.core.params import Conditions, StrategyParams

BASIS_POINTS = Decimal(10_000)
BELOW_MIN_ORDER = "below_min_order"
BELOW_MIN_EXIT = "below_min_exit"
DUST = "dust"
ZERO = Decimal(0)
OrderSide = Literal["bid", "ask"]


@lru_cache(maxsize=256)  # a handful of parameter values, converted on every candle and order
def exact(parameter: float) -> Decimal:
    """A float parameter as the Decimal of its decimal text: 0.07 is exactly Decimal('0.07')."""
    return Decimal(str(parameter))


def paper_fill_price(price: Decimal, side: OrderSide, slippage_bps: float) -> Decimal:
    """A market order's fill price at `price`, worsened by the slippage: `price * (1 ± bps/10000)`.

    Buys pay more and sells receive less; the result is not moved onto the tick grid (it models
    the average of a market order's fills).
    """
    slippage = MONEY.divide(exact(slippage_bps), BASIS_POINTS)
    factor = MONEY.add(1, slippage) if side == "bid" else MONEY.subtract(1, slippage)
    return MONEY.multiply(price, factor)


def exit_floor(params: StrategyParams, conditions: Conditions) -> Decimal:
    """The fraction of its entry value a position can fall to before it must be sellable.

    `1 - stop_loss` with the stop loss enabled (the position must still be sellable when the stop
    fires), 1 without it (it must be sellable at entry).
    """
    if conditions.sell.stop_loss:
        return MONEY.subtract(1, exact(params.stop_loss))
    return Decimal(1)


class EntryCheck(NamedTuple):
    """The order an entry would send, and why it is not sent (`refusal` None: send it)."""

    budget: Decimal  # whole-KRW order total
    fill_price: Decimal  # the expected fill price (the latest price worsened by slippage)
    volume: Decimal  # what the budget buys at that price, floored to 8 decimals
    value_at_exit: Decimal  # its value at the stop loss (at entry without a stop loss), KRW
    refusal: str | None

    def explanation(self) -> str:
        """Why the entry is not sent, for the evaluation's reason (empty when it is sent)."""
        if self.refusal == BELOW_MIN_ORDER:
            return f"{BELOW_MIN_ORDER}: budget {self.budget:,} KRW is under {MIN_ORDER_KRW:,} KRW"
        if self.refusal == BELOW_MIN_EXIT:
            value = self.value_at_exit.quantize(Decimal(1))
            return (
                f"{BELOW_MIN_EXIT}: {self.budget:,} KRW of coin would be worth {value:,} KRW at its "
                f"stop loss, under Upbit's {MIN_ORDER_KRW:,} KRW minimum: it could not be sold"
            )
        return ""


def check_entry(
    krw_available: Decimal,
    fee_rate: Decimal,
    fill_price: Decimal,
    params: StrategyParams,
    conditions: Conditions,
) -> EntryCheck:
    """The budget, volume and refusal of an entry at `fill_price` (TRADING_RULES.md, v2).

    `below_min_order`: the whole-KRW budget is under 5,000 KRW. `below_min_exit`: the position
    it buys would be worth under 5,000 KRW at its own stop loss (`volume * fill_price *
    (1 - stop_loss)`), or at entry when the stop loss is disabled.
    """
    budget = buy_budget(krw_available, exact(params.order_ratio), fee_rate)
    if budget < MIN_ORDER_KRW:
        return EntryCheck(budget, fill_price, ZERO, ZERO, BELOW_MIN_ORDER)
    volume = floor_volume(MONEY.divide(budget, fill_price)) if fill_price > 0 else ZERO
    value_at_exit = MONEY.multiply(MONEY.multiply(volume, fill_price), exit_floor(params, conditions))
    refusal = BELOW_MIN_EXIT if value_at_exit < MIN_ORDER_KRW else None
    return EntryCheck(budget, fill_price, volume, value_at_exit, refusal)


def is_dust(volume: Decimal, fill_price: Decimal) -> bool:
    """True when selling `volume` at `fill_price` is under Upbit's 5,000 KRW minimum."""
    return MONEY.multiply(volume, fill_price) < MIN_ORDER_KRW


def dust_fill(volume: Decimal, price: Decimal) -> Fill:
    """The books' side of a dust write-off: valued at `price`, no fee, and no KRW moves.

    The coins stay in the wallet outside the bot's position, so `krw_delta` is 0; the trade's
    profit is `funds - fee + entry krw_delta` as for any sell (`volume * price - entry funds -
    entry fee`).
    """
    return Fill("ask", price, volume, MONEY.multiply(volume, price), ZERO, ZERO)


def dust_profit(volume: Decimal, exit_price: Decimal, entry_funds: Decimal, entry_fee: Decimal) -> Decimal:
    """Realised KRW of a dust write-off: `volume * exit_price - entry funds - entry fee`."""
    return MONEY.subtract(MONEY.multiply(volume, exit_price), MONEY.add(entry_funds, entry_fee))


def dust_note(volume: Decimal, fill_price: Decimal) -> str:
    """The status/audit wording of a write-off."""
    value = MONEY.multiply(volume, fill_price).quantize(Decimal(1))
    return (
        f"dust: position worth {value:,} KRW (under {MIN_ORDER_KRW:,} KRW) written off, no order sent; "
        "the coins stay in the wallet"
    )
