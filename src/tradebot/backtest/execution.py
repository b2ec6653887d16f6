"""Paper execution for backtests: market fills at the candle close, worsened by slippage.

Both replays (the fast one and the candle-by-candle one) trade through this class, so they book
identical money for identical decisions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import NamedTuple

from tradebot.core.errors import OrderRejected
from tradebot.core.krw_rules import MIN_ORDER_KRW, MONEY, Fill, buy_budget, to_decimal
from tradebot.core.ledger import PaperAccount
from tradebot.core.params import StrategyParams

BASIS_POINTS = Decimal(10_000)


class Trade(NamedTuple):
    """One round trip; `exit_*` are None while the position is still open."""

    entry_index: int
    entry: Fill
    exit_index: int | None = None
    exit: Fill | None = None
    exit_reason: str | None = None

    @property
    def fee(self) -> Decimal:
        """Fees of both sides, KRW."""
        return self.entry.fee + (self.exit.fee if self.exit else Decimal(0))

    @property
    def profit(self) -> Decimal | None:
        """Realised KRW after both fees, or None while open."""
        if self.exit is None:
            return None
        return self.exit.krw_delta + self.entry.krw_delta


@dataclass(frozen=True, slots=True)
class SkippedOrder:
    """Decisions that did not become orders or fills, with the reason (e.g. `below_min_order`).

    Consecutive refusals of the same side and reason with no fill between them form one record:
    a position too small to sell is retried on every exit signal until the price allows it.
    """

    first_index: int
    last_index: int
    side: str
    reason: str
    count: int


@dataclass(slots=True)
class SkipLog:
    """Collects refusals, merging each run of identical ones (see `SkippedOrder`)."""

    records: list[SkippedOrder] = field(default_factory=list)
    _run_open: bool = False

    def add(self, index: int, side: str, reason: str, count: int = 1, last_index: int | None = None) -> None:
        """Record `count` refusals from candle `index` to `last_index` (default: `index`)."""
        last = index if last_index is None else last_index
        previous = self.records[-1] if self.records else None
        if self._run_open and previous and (previous.side, previous.reason) == (side, reason):
            merged = SkippedOrder(previous.first_index, last, side, reason, previous.count + count)
            self.records[-1] = merged
        else:
            self.records.append(SkippedOrder(index, last, side, reason, count))
        self._run_open = True

    def end_run(self) -> None:
        """A fill happened: the next refusal starts a new record."""
        self._run_open = False


class PaperExecutor:
    """Turns buy/sell decisions at a candle close into fills on a `PaperAccount`."""

    def __init__(self, cash: Decimal, params: StrategyParams) -> None:
        self.account = PaperAccount(krw=cash)
        self._order_ratio = to_decimal(params.order_ratio)
        self._slippage = to_decimal(params.slippage_bps) / BASIS_POINTS
        self._buy_factor = 1 + self._slippage
        self._sell_factor = 1 - self._slippage

    def buy_price(self, close: float) -> Decimal:
        """The fill price of a market buy at `close`: worse by the slippage."""
        return MONEY.multiply(Decimal(repr(close)), self._buy_factor)

    def sell_price(self, close: float) -> Decimal:
        """The fill price of a market sell at `close`: worse by the slippage."""
        return MONEY.multiply(Decimal(repr(close)), self._sell_factor)

    def buy(self, close: float) -> Fill | str:
        """Buy at `close` plus slippage; returns the fill, or why no order was sent/filled."""
        budget = buy_budget(self.account.krw, self._order_ratio, self.account.fee_rate)
        if budget < MIN_ORDER_KRW:
            return "below_min_order"
        try:
            return self.account.market_buy(budget, self.buy_price(close))
        except OrderRejected as rejection:
            return rejection.name

    def sell(self, close: float) -> Fill | str:
        """Sell the whole position at `close` minus slippage; returns the fill or the rejection name."""
        try:
            return self.account.market_sell(self.account.volume, self.sell_price(close))
        except OrderRejected as rejection:
            return rejection.name

    def smallest_sellable_close(self) -> float:
        """A close a little below the lowest at which selling the position reaches 5,000 KRW.

        Used only to skip candles where a sell would certainly be refused; the candle it lets
        through is still sold (or refused) by `sell`, so rounding here cannot change a result.
        """
        volume = self.account.volume
        if volume <= 0:
            return 0.0
        return float(MIN_ORDER_KRW / (volume * self._sell_factor)) * (1 - 1e-9)

    @property
    def entry_price(self) -> float:
        """The open position's average entry price, as the strategy compares prices (float)."""
        if self.account.entry_price is None:
            raise RuntimeError("no open position")
        return float(self.account.entry_price)
