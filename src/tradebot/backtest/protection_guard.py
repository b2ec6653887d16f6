"""The protections of a backtest (TRADING_RULES.md v2): one state shared by both replays.

Both `replay` (fast) and `replay_stepwise` tell this guard about every fill and closed trade and
ask it, on a flat candle, which protections block an entry there; the rules themselves are
`core.protections`, the functions a live loop calls too.
"""

from __future__ import annotations

from bisect import bisect_right
from decimal import Decimal

import numpy as np

from tradebot.backtest.execution import Trade
from tradebot.core.krw_rules import MONEY, to_decimal
from tradebot.core.ledger import PaperAccount
from tradebot.core.models import CandleSeries, IntArray, nanos_to_datetime
from tradebot.core.params import StrategyParams
from tradebot.core.protections import (
    KST_OFFSET_SECONDS,
    SECONDS_PER_DAY,
    ActiveProtection,
    ClosedTrade,
    ProtectionTracker,
    any_enabled,
)

NANOS_PER_SECOND = 1_000_000_000


def kst_day_numbers(start_ns: IntArray) -> IntArray:
    """Each candle's KST calendar day (of its start) as a day count, for a whole series at once."""
    seconds = start_ns // NANOS_PER_SECOND
    return (seconds + KST_OFFSET_SECONDS) // SECONDS_PER_DAY


class ProtectionGuard:
    """Closed trades and the account's history of one replay, asked about entry candles."""

    def __init__(self, series: CandleSeries, params: StrategyParams, cash: Decimal) -> None:
        self.enabled = any_enabled(params)
        self._series = series
        self._tracker = ProtectionTracker(params)
        self._days: IntArray | None = None
        if params.max_daily_loss > 0:
            self._days = kst_day_numbers(series.start_ns)
        # The account after each candle that changed it: (candle index, KRW, coin incl. dust).
        self._changed_at: list[int] = [-1]
        self._holdings: list[tuple[Decimal, Decimal]] = [(cash, Decimal(0))]

    def filled(self, index: int, account: PaperAccount) -> None:
        """The account after a buy, sale or dust write-off on candle `index`."""
        held = MONEY.add(account.volume, account.dust)
        self._changed_at.append(index)
        self._holdings.append((account.krw, held))

    def closed(self, trade: Trade, account: PaperAccount) -> None:
        """A position closed (any exit, dust included); `account` as it is after that."""
        assert trade.exit_index is not None  # a closed trade has its exit candle
        assert trade.profit is not None
        self.filled(trade.exit_index, account)
        start = nanos_to_datetime(int(self._series.start_ns[trade.exit_index]))
        self._tracker.add(ClosedTrade(trade.exit_index, start, trade.profit))

    def blocking(self, index: int) -> tuple[ActiveProtection, ...]:
        """The protections blocking an entry on candle `index` (empty when all are off)."""
        if not self.enabled:
            return ()
        start = nanos_to_datetime(int(self._series.start_ns[index]))
        return self._tracker.active(index, start, lambda: self._day_start_equity(index))

    def _day_start_equity(self, index: int) -> Decimal:
        """The equity after the previous KST day's last candle, at its close (cash on the first day)."""
        assert self._days is not None  # only asked when the daily loss is on
        first_of_day = int(np.searchsorted(self._days, self._days[index], side="left"))
        last_before = first_of_day - 1
        slot = bisect_right(self._changed_at, last_before) - 1
        krw, held = self._holdings[slot]
        if last_before < 0:
            return krw
        close = to_decimal(float(self._series.close[last_before]))
        return MONEY.add(krw, MONEY.multiply(held, close))
