"""Closed candles and the latest price of one market, from Upbit's quotation API.

A candle counts as closed once a newer candle exists or the exchange's time has passed its end.
The exchange's time is the later of our clock and the last trade's timestamp on the ticker, so a
simulator running faster than real time is judged by its own clock (TRADING_RULES.md, Candles).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from tradebot.core.clock import Clock
from tradebot.core.models import Candle, Interval
from tradebot.engine.shared_feed import Quotations

MAX_CATCH_UP = 10_000  # candles fetched at most in one catch-up; the rest come next cycle


@dataclass(frozen=True, slots=True)
class Quote:
    """The latest traded price and when it traded (exchange time)."""

    price: Decimal
    at: datetime


class MarketFeed:
    """Quotation reads for one market and interval."""

    def __init__(self, client: Quotations, market: str, interval: Interval, clock: Clock) -> None:
        self._client = client
        self.market = market
        self.interval = interval
        self._clock = clock
        self._exchange_time: datetime | None = None

    def quote(self) -> Quote:
        """The ticker's last price; also advances our notion of the exchange's time."""
        [ticker] = self._client.get_tickers([self.market])
        self._exchange_time = max(self._exchange_time or ticker.timestamp, ticker.timestamp)
        return Quote(ticker.trade_price, ticker.timestamp)

    def exchange_now(self) -> datetime:
        """The later of our clock and the newest trade time seen on the exchange."""
        now = self._clock.now()
        return max(now, self._exchange_time) if self._exchange_time else now

    def history(self, count: int) -> list[Candle]:
        """The newest `count` closed candles, oldest first (warm-up)."""
        candles = self._client.get_candles(self.market, self.interval, count + 1)
        return self._closed(candles)[-count:]

    def closed_after(self, after: datetime) -> list[Candle]:
        """Every closed candle that started after `after`, oldest first, paging back as needed."""
        slots = int((self.exchange_now() - after) / self.interval.duration) + 2
        if slots > MAX_CATCH_UP:
            # A long outage: take the oldest missed window first (all closed, it ends in the
            # past); the next cycles continue from there, so no candle is skipped.
            return self._window_after(after, MAX_CATCH_UP)
        count = max(slots, 2)
        candles = self._client.get_candles(self.market, self.interval, count)
        if len(candles) == count and candles[0].start > after + self.interval.duration:
            # The exchange moved on while we asked (a slow, retried or rate-limited request): the
            # newest `count` candles no longer reach back to `after`. Its time is at least the
            # newest candle's start; take the window right after `after` first, as after an outage.
            self._exchange_time = max(self.exchange_now(), candles[-1].start)
            return self._window_after(after, count)
        return [candle for candle in self._closed(candles) if candle.start > after]

    def _window_after(self, after: datetime, count: int) -> list[Candle]:
        """The candles after `after` that start before `count` intervals after it (all closed)."""
        end = after + count * self.interval.duration
        candles = self._client.get_candles(self.market, self.interval, count, to=end)
        return [candle for candle in candles if candle.start > after]

    def _closed(self, candles: list[Candle]) -> list[Candle]:
        if candles and not candles[-1].is_closed(self.interval, self.exchange_now()):
            return candles[:-1]  # the newest is still forming; every older one has closed
        return candles
