"""Market data shared by every user's loop in one engine process (the seed's shared feed).

Users who watch the same market and interval share one candle fetch and one cached candle list:
the request rate grows with the number of distinct markets, not of users. Every user's
`MarketFeed` reads through one `SharedQuotations`, which

- serves candles of (market, interval) from the last fetch until a new candle can have closed
  (by the exchange's time, from the `Date` of its answers): closed candles never change, so
  nothing is lost, and a fresh fetch happens at most once per candle close whatever the number
  of users. A cached answer keeps the time it was fetched at, so a reader judges its newest
  candle as the exchange showed it then: a cache never makes time run forwards or backwards;
- keeps the longest history asked for (a warm-up) and extends it with the newest page at each
  close: users on the same market and interval share the warm-up pages, and one user's long
  warm-up is fetched outside the lock every other reader of that market takes each cycle;
- serves the latest price of every market watched from one multi-market ticker request
  (`/v1/ticker?markets=A,B,...`) at most every `ticker_max_age` seconds.

Concurrent readers of the same data wait for the one request in flight instead of sending their own.
A market the exchange does not know (a user's typo or a delisted coin) must not break the others'
prices: when the batch fails with a client error, the asking market is fetched alone, and a market
that fails alone is left out of batches for a while.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from tradebot.core.clock import Clock
from tradebot.core.models import Candle, Interval
from tradebot.exchange.upbit import Dated, Ticker, UpbitClientError, UpbitNotFoundError

MIN_CANDLES_CACHED = 3  # enough for a normal cycle's closed_after (the newest two and the forming one)
NEWEST_PAGE = 200  # one Upbit page: what a refresh of a long cached history fetches
MARKET_IDLE_SECONDS = 120.0  # a market nobody asked for this long leaves the ticker batch
BAD_MARKET_SECONDS = 300.0  # a market that failed alone is retried in batches after this


class Quotations(Protocol):
    """The quotation reads a `MarketFeed` makes (`UpbitQuotationClient`, or the shared cache)."""

    def read_tickers(self, markets: Sequence[str]) -> Dated[list[Ticker]]: ...

    def read_candles(
        self, market: str, interval: Interval, count: int, *, to: datetime | None = None
    ) -> Dated[list[Candle]]: ...


@dataclass(frozen=True, slots=True)
class _CachedCandles:
    answer: Dated[list[Candle]]
    requested: int  # the longest count this history answers
    valid_until: datetime | None  # exchange time at which a newer candle may have closed


@dataclass(frozen=True, slots=True)
class _CachedTicker:
    ticker: Ticker
    server_time: datetime | None  # the exchange's time of the answer it came in
    fetched_at: float  # monotonic seconds


class SharedQuotations:
    """One cache of candles and prices in front of a quotation client, safe across threads."""

    def __init__(self, client: Quotations, clock: Clock, ticker_max_age: float = 1.0) -> None:
        self._client, self._clock, self._ticker_max_age = client, clock, ticker_max_age
        self._candles: dict[tuple[str, Interval], _CachedCandles] = {}
        self._candle_locks: dict[tuple[str, Interval], threading.Lock] = {}
        self._history_locks: dict[tuple[str, Interval], threading.Lock] = {}
        self._locks_lock = threading.Lock()
        self._tickers: dict[str, _CachedTicker] = {}
        self._watched: dict[str, float] = {}  # market -> monotonic time it was last asked for
        self._bad_until: dict[str, float] = {}
        self._ticker_lock = threading.Lock()
        self._time_lock = threading.Lock()
        self._exchange_time: datetime | None = None
        self.candle_requests = 0  # requests sent, for tests and the benchmark
        self.ticker_requests = 0

    # --- candles --------------------------------------------------------------------------------

    def read_candles(
        self, market: str, interval: Interval, count: int, *, to: datetime | None = None
    ) -> Dated[list[Candle]]:
        """The newest `count` candles (the forming one included) with the time they were fetched at.

        A request with `to` (a long catch-up paging back in time) goes to the exchange directly;
        one longer than a page (a warm-up) is fetched once per market and kept (`_history`).
        """
        if to is not None:
            return self._fetch(market, interval, count, to)
        key = (market, interval)
        if count > NEWEST_PAGE:
            return self._history(key, count)
        with self._lock_for(key, self._candle_locks):
            cached = self._candles.get(key)
            if not self._serves(cached, count):
                cached = self._refresh(key, cached, max(count, MIN_CANDLES_CACHED))
            assert cached is not None  # refreshed above
            return _tail(cached.answer, count)

    def get_candles(
        self, market: str, interval: Interval, count: int, *, to: datetime | None = None
    ) -> list[Candle]:
        """`read_candles` without the time."""
        return self.read_candles(market, interval, count, to=to).value

    def _history(self, key: tuple[str, Interval], count: int) -> Dated[list[Candle]]:
        # One warm-up per market at a time (a second one waits for the first's pages and shares
        # them); the paging runs outside the candle lock, so other users' cycles never wait for it.
        with self._lock_for(key, self._history_locks):
            with self._lock_for(key, self._candle_locks):
                cached = self._candles.get(key)
                if self._serves(cached, count):
                    assert cached is not None
                    return _tail(cached.answer, count)
            answer = self._fetch(*key, count, None)
            with self._lock_for(key, self._candle_locks):
                self._candles[key] = self._merged(self._candles.get(key), answer, count, key[1])
            return answer

    def _refresh(
        self, key: tuple[str, Interval], cached: _CachedCandles | None, count: int
    ) -> _CachedCandles:
        market, interval = key
        if cached is None or cached.requested <= NEWEST_PAGE:
            answer = self._fetch(market, interval, count, None)
            fresh = _with_validity(_CachedCandles(answer, count, None), interval)
        else:
            # A long history (a warm-up) stays: only the newest page is fetched and joined to it
            # (if they do not meet, the page alone is kept and the next warm-up fetches again).
            answer = self._fetch(market, interval, NEWEST_PAGE, None)
            fresh = self._merged(cached, answer, NEWEST_PAGE, interval)
        self._candles[key] = fresh
        return fresh

    def _merged(
        self, cached: _CachedCandles | None, answer: Dated[list[Candle]], count: int, interval: Interval
    ) -> _CachedCandles:
        """The newer of the two answers, with the older one's closed candles before it if they meet."""
        fresh = _with_validity(_CachedCandles(answer, count, None), interval)
        if cached is None:
            return fresh
        newer, older = (fresh, cached) if _later(answer, cached.answer) else (cached, fresh)
        page = newer.answer.value
        closed = _closed_part(older.answer, interval)
        if not page or not closed or closed[-1].start < page[0].start:
            return newer  # they do not meet (or nothing to join): the newer one alone
        kept = [candle for candle in closed if candle.start < page[0].start]
        joined = Dated(kept + page, newer.answer.server_time)
        return _CachedCandles(joined, max(newer.requested, older.requested), newer.valid_until)

    def _fetch(self, market: str, interval: Interval, count: int, to: datetime | None) -> Dated[list[Candle]]:
        self.candle_requests += 1
        answer = self._client.read_candles(market, interval, count, to=to)
        self._observe(answer.server_time)
        return answer

    def _serves(self, cached: _CachedCandles | None, count: int) -> bool:
        if cached is None or cached.requested < count or cached.valid_until is None:
            return False
        now = self._exchange_time
        return now is not None and now < cached.valid_until

    def _lock_for(
        self, key: tuple[str, Interval], locks: dict[tuple[str, Interval], threading.Lock]
    ) -> threading.Lock:
        with self._locks_lock:
            return locks.setdefault(key, threading.Lock())

    # --- prices ---------------------------------------------------------------------------------

    def read_tickers(self, markets: Sequence[str]) -> Dated[list[Ticker]]:
        """The latest ticker of each market, refreshed together with every watched market.

        The time is the earliest of their answers' times: never later than what any of them saw.
        """
        with self._ticker_lock:
            now = self._clock.monotonic()
            for market in markets:
                self._watched[market] = now
            stale = [market for market in markets if not self._is_fresh(market, now)]
            if stale:
                self._refresh_tickers(stale, now)
            cached = [self._tickers[market] for market in markets]
        times = [item.server_time for item in cached]
        known = [moment for moment in times if moment is not None]
        server_time = min(known) if known and len(known) == len(times) else None
        return Dated([item.ticker for item in cached], server_time)

    def get_tickers(self, markets: Sequence[str]) -> list[Ticker]:
        """`read_tickers` without the time."""
        return self.read_tickers(markets).value

    def exchange_now(self) -> datetime | None:
        """The newest exchange time seen in any answer (`Date` or trade time); None before one."""
        return self._exchange_time

    def _observe(self, moment: datetime | None) -> None:
        with self._time_lock:
            if moment is not None and (self._exchange_time is None or moment > self._exchange_time):
                self._exchange_time = moment

    def _is_fresh(self, market: str, now: float) -> bool:
        cached = self._tickers.get(market)
        return cached is not None and now - cached.fetched_at < self._ticker_max_age

    def _refresh_tickers(self, stale: list[str], now: float) -> None:
        batch = self._batch(stale, now)
        try:
            self._store_tickers(self._request_tickers(batch), now)
        except UpbitClientError:
            if batch == stale:
                raise
            for market in stale:  # someone else's market may be the unknown one
                self._fetch_alone(market, now)
        for market in stale:
            if market not in self._tickers or self._tickers[market].fetched_at != now:
                self._fetch_alone(market, now)  # missing from a 200 answer

    def _batch(self, stale: list[str], now: float) -> list[str]:
        watched = {
            market
            for market, asked in self._watched.items()
            if now - asked <= MARKET_IDLE_SECONDS and self._bad_until.get(market, 0.0) <= now
        }
        return sorted(watched | set(stale))

    def _fetch_alone(self, market: str, now: float) -> None:
        try:
            answer = self._request_tickers([market])
        except UpbitClientError:
            self._bad_until[market] = now + BAD_MARKET_SECONDS
            raise
        if not any(ticker.market == market for ticker in answer.value):
            self._bad_until[market] = now + BAD_MARKET_SECONDS
            raise UpbitNotFoundError(f"no ticker for {market}: is the market code right?")
        self._bad_until.pop(market, None)
        self._store_tickers(answer, now)

    def _request_tickers(self, markets: list[str]) -> Dated[list[Ticker]]:
        self.ticker_requests += 1
        return self._client.read_tickers(markets)

    def _store_tickers(self, answer: Dated[list[Ticker]], now: float) -> None:
        self._observe(answer.server_time)
        for ticker in answer.value:
            self._tickers[ticker.market] = _CachedTicker(ticker, answer.server_time, now)
            self._observe(ticker.timestamp)


def _with_validity(cached: _CachedCandles, interval: Interval) -> _CachedCandles:
    """`cached` valid until the end of the interval its answer was given in (or of its newest candle)."""
    answered_at = cached.answer.server_time
    if answered_at is None:
        return cached  # no exchange time: never served again from the cache
    until = interval.floor(answered_at) + interval.duration
    candles = cached.answer.value
    if candles and candles[-1].start + interval.duration > until:
        until = candles[-1].start + interval.duration
    return _CachedCandles(cached.answer, cached.requested, until)


def _closed_part(answer: Dated[list[Candle]], interval: Interval) -> list[Candle]:
    candles = answer.value
    answered_at = answer.server_time
    if candles and answered_at is not None and candles[-1].is_closed(interval, answered_at):
        return candles
    return candles[:-1]


def _later(first: Dated[list[Candle]], second: Dated[list[Candle]]) -> bool:
    if first.server_time is None or second.server_time is None:
        return second.server_time is None
    return first.server_time >= second.server_time


def _tail(answer: Dated[list[Candle]], count: int) -> Dated[list[Candle]]:
    return Dated(answer.value[-count:], answer.server_time)
