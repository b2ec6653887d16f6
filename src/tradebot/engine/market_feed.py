"""Closed candles and the latest price of one market, from Upbit's quotation API.

A candle counts as closed once the exchange shows it (TRADING_RULES.md, Candles, v2): a newer
candle exists in the same answer, or the exchange's own time when it answered (the answer's `Date`)
has passed the candle's end. This host's clock never decides it: a host clock minutes ahead of or
behind the exchange changes no decision and no stored candle. Each answer is judged by its own
time, never by a later one: a cached answer read a minute after it was fetched still shows its
newest candle as it was then, possibly unfinished.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from tradebot.core.errors import TradebotError
from tradebot.core.models import Candle, Interval
from tradebot.engine.shared_feed import Quotations
from tradebot.exchange.upbit import Dated

MAX_CATCH_UP = 10_000  # candles fetched at most in one catch-up; the rest come next cycle


class ExchangeTimeUnknown(TradebotError):  # noqa: N818 - a state, like the project's other outcomes
    """The exchange has not answered yet, so its time is not known."""


@dataclass(frozen=True, slots=True)
class Quote:
    """The latest traded price and when it traded (exchange time)."""

    price: Decimal
    at: datetime


class MarketFeed:
    """Quotation reads for one market and interval, and the exchange's time they showed."""

    def __init__(self, client: Quotations, market: str, interval: Interval) -> None:
        self._client = client
        self.market = market
        self.interval = interval
        self._exchange_time: datetime | None = None

    def quote(self) -> Quote:
        """The ticker's last price; its answer also advances our notion of the exchange's time."""
        answer = self._client.read_tickers([self.market])
        [ticker] = answer.value
        self._observe(answer.server_time, ticker.timestamp)
        return Quote(ticker.trade_price, ticker.timestamp)

    def exchange_now(self) -> datetime:
        """The exchange's time: the newest `Date`, trade time or candle start its answers showed.

        It never goes backwards. Raises ExchangeTimeUnknown before the first answer.
        """
        if self._exchange_time is None:
            raise ExchangeTimeUnknown(f"no answer from the exchange yet for {self.market}")
        return self._exchange_time

    def history(self, count: int) -> list[Candle]:
        """The newest `count` closed candles, oldest first (warm-up)."""
        answer = self._client.read_candles(self.market, self.interval, count + 1)
        return self._closed(answer)[-count:]

    def closed_after(self, after: datetime) -> list[Candle]:
        """Every closed candle that started after `after`, oldest first, paging back as needed."""
        known = self._exchange_time
        slots = int((known - after) / self.interval.duration) + 2 if known is not None else 2
        if slots > MAX_CATCH_UP:
            # A long outage: take the oldest missed window first; the next cycles continue from
            # there, so no candle is skipped.
            return self._window_after(after, MAX_CATCH_UP)
        count = max(slots, 2)
        answer = self._client.read_candles(self.market, self.interval, count)
        closed = self._closed(answer)
        candles = answer.value
        if len(candles) == count and candles[0].start > after + self.interval.duration:
            # The exchange moved on while we asked (a slow, retried or rate-limited request), or
            # its time was not known yet: the newest `count` candles no longer reach back to
            # `after`. Take the window right after `after` first, as after an outage.
            return self._window_after(after, count)
        return [candle for candle in closed if candle.start > after]

    def _window_after(self, after: datetime, count: int) -> list[Candle]:
        """The closed candles after `after` that start before `count` intervals after it.

        The window's end may lie beyond the exchange's present (at exactly MAX_CATCH_UP - 1
        missed intervals it ends right after the forming candle): its newest candle is judged
        like any other answer's, never assumed closed.
        """
        end = after + count * self.interval.duration
        answer = self._client.read_candles(self.market, self.interval, count, to=end)
        return [candle for candle in self._closed(answer) if candle.start > after]

    def _closed(self, answer: Dated[list[Candle]]) -> list[Candle]:
        """The answer's candles without its newest one unless the answer's own time closed it."""
        candles = answer.value
        self._observe(answer.server_time, candles[-1].start if candles else None)
        if not candles:
            return candles
        answered_at = answer.server_time
        if answered_at is not None and candles[-1].is_closed(self.interval, answered_at):
            return candles
        return candles[:-1]  # still forming when the exchange answered; every older one has closed

    def _observe(self, *moments: datetime | None) -> None:
        for moment in moments:
            if moment is not None and (self._exchange_time is None or moment > self._exchange_time):
                self._exchange_time = moment
