"""What the shared feed keeps between requests: cached answers and the requests in flight.

Pure data and functions over them; `shared_feed.SharedQuotations` decides when to use them.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar

from tradebot.core.models import Candle, Interval
from tradebot.exchange.upbit import Dated, Ticker

ValueT = TypeVar("ValueT")


@dataclass(frozen=True, slots=True)
class CachedCandles:
    """One market's candles as an answer showed them, and until when they can be served."""

    answer: Dated[list[Candle]]
    requested: int  # the longest count this history answers
    valid_until: datetime | None  # exchange time at which a newer candle may have closed


@dataclass(frozen=True, slots=True)
class CachedTicker:
    """One market's latest ticker and when it was fetched."""

    ticker: Ticker
    server_time: datetime | None  # the exchange's time of the answer it came in
    fetched_at: float  # monotonic seconds


@dataclass(eq=False, slots=True)
class Flight(Generic[ValueT]):
    """One request in flight: its first asker fetches, the others wait a bounded time for `done`."""

    started: float  # monotonic seconds
    done: threading.Event = field(default_factory=threading.Event)
    value: ValueT | None = None
    error: BaseException | None = None

    def land(self, value: ValueT | None, error: BaseException | None) -> None:
        """Record the outcome and wake every waiter."""
        self.value, self.error = value, error
        self.done.set()


def with_validity(cached: CachedCandles, interval: Interval) -> CachedCandles:
    """`cached` valid until the end of the interval its answer was given in (or of its newest candle)."""
    answered_at = cached.answer.server_time
    if answered_at is None:
        return cached  # no exchange time: never served again from the cache
    until = interval.floor(answered_at) + interval.duration
    candles = cached.answer.value
    if candles and candles[-1].start + interval.duration > until:
        until = candles[-1].start + interval.duration
    return CachedCandles(cached.answer, cached.requested, until)


def merged(
    cached: CachedCandles | None, answer: Dated[list[Candle]], count: int, interval: Interval
) -> CachedCandles:
    """The newer of the two answers, with the older one's closed candles before it if they meet."""
    fresh = with_validity(CachedCandles(answer, count, None), interval)
    if cached is None:
        return fresh
    newer, older = (fresh, cached) if later(answer, cached.answer) else (cached, fresh)
    page = newer.answer.value
    closed = closed_part(older.answer, interval)
    if not page or not closed or closed[-1].start < page[0].start:
        return newer  # they do not meet (or nothing to join): the newer one alone
    kept = [candle for candle in closed if candle.start < page[0].start]
    joined = Dated(kept + page, newer.answer.server_time)
    return CachedCandles(joined, max(newer.requested, older.requested), newer.valid_until)


def closed_part(answer: Dated[list[Candle]], interval: Interval) -> list[Candle]:
    """The answer's candles that had closed when it was given."""
    candles = answer.value
    answered_at = answer.server_time
    if candles and answered_at is not None and candles[-1].is_closed(interval, answered_at):
        return candles
    return candles[:-1]


def later(first: Dated[list[Candle]], second: Dated[list[Candle]]) -> bool:
    """True when `first` was answered no earlier than `second` (an unknown time counts as oldest)."""
    if first.server_time is None or second.server_time is None:
        return second.server_time is None
    return first.server_time >= second.server_time


def tail(answer: Dated[list[Candle]], count: int) -> Dated[list[Candle]]:
    """The newest `count` candles of `answer`, with its time."""
    return Dated(answer.value[-count:], answer.server_time)
