"""Paper execution for backtests: market fills at the candle close, worsened by slippage.

Both replays (the fast one and the candle-by-candle one) trade through this class, so they book
identical money for identical decisions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import NamedTuple

from tradebot.core.errors import OrderRejected
from tradebot.core.execution import DUST, check_entry, is_dust, paper_fill_price
from tradebot.core.krw_rules import Fill, to_decimal
from tradebot.core.ledger import PaperAccount
from tradebot.core.params import Conditions, StrategyParams


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
        """Realised KRW after both fees, or None while open (a dust exit: its value at the exit)."""
        if self.exit is None:
            return None
        return self.exit.funds - self.exit.fee + self.entry.krw_delta


@dataclass(frozen=True, slots=True)
class SkippedOrder:
    """Decisions that did not become orders or fills, with the reason (e.g. `below_min_order`).

    Consecutive refusals of the same side and reason with no fill between them form one record
    (e.g. every entry signal refused as `below_min_exit` while the cash is too small).
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
    """Turns buy/sell decisions at a candle close into fills on a `PaperAccount`.

    Prices, the entry checks and dust come from `core.execution`, the functions TEST and LIVE
    call too; only the bookkeeping of a whole backtest lives here.
    """

    def __init__(self, cash: Decimal, params: StrategyParams, conditions: Conditions) -> None:
        self.account = PaperAccount(krw=cash)
        self._params, self._conditions = params, conditions

    def buy_price(self, close: float) -> Decimal:
        """The fill price of a market buy at `close`: worse by the slippage."""
        return paper_fill_price(to_decimal(close), "bid", self._params.slippage_bps)

    def sell_price(self, close: float) -> Decimal:
        """The fill price of a market sell at `close`: worse by the slippage."""
        return paper_fill_price(to_decimal(close), "ask", self._params.slippage_bps)

    def buy(self, close: float) -> Fill | str:
        """Buy at `close` plus slippage; returns the fill, or why no order was sent/filled."""
        account = self.account
        check = check_entry(
            account.krw, account.fee_rate, self.buy_price(close), self._params, self._conditions
        )
        if check.refusal is not None:
            return check.refusal
        try:
            return account.market_buy(check.budget, check.fill_price)
        except OrderRejected as rejection:
            return rejection.name

    def sell(self, close: float, rule: str) -> tuple[Fill, str] | str:
        """Close the position at `close` minus slippage: the fill and the exit reason (`rule`, or
        `dust` when it is worth under 5,000 KRW there and is written off), or a rejection name."""
        price = self.sell_price(close)
        if is_dust(self.account.volume, price):
            return self.account.write_off_dust(price), DUST
        try:
            return self.account.market_sell(self.account.volume, price), rule
        except OrderRejected as rejection:
            return rejection.name

    @property
    def entry_price(self) -> Decimal:
        """The open position's average entry price."""
        if self.account.entry_price is None:
            raise RuntimeError("no open position")
        return self.account.entry_price
