"""Market data shared by every user's loop in one engine process (the seed's shared feed).

Users who watch the same market and interval share one candle fetch and one cached candle list:
the request rate grows with the number of distinct markets, not of users. Every user's
`MarketFeed` reads through one `SharedQuotations`, which

- serves candles of (market, interval) from the last fetch until a new candle can have closed:
  closed candles never change, so nothing is lost, and a fresh fetch happens at most once per
  candle close (and so at most once per engine cycle) whatever the number of users;
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
from tradebot.exchange.upbit import Ticker, UpbitClientError, UpbitNotFoundError

MIN_CANDLES_CACHED = 3  # enough for a normal cycle's closed_after (the newest two and the forming one)
MARKET_IDLE_SECONDS = 120.0  # a market nobody asked for this long leaves the ticker batch
BAD_MARKET_SECONDS = 300.0  # a market that failed alone is retried in batches after this


class Quotations(Protocol):
    """The quotation reads a `MarketFeed` makes (`UpbitQuotationClient`, or the shared cache)."""

    def get_tickers(self, markets: Sequence[str]) -> list[Ticker]: ...

    def get_candles(
        self, market: str, interval: Interval, count: int, *, to: datetime | None = None
    ) -> list[Candle]: ...


@dataclass(frozen=True, slots=True)
class _CachedCandles:
    candles: list[Candle]
    requested: int
    valid_until: datetime  # exchange time at which a newer candle may have closed


@dataclass(frozen=True, slots=True)
class _CachedTicker:
    ticker: Ticker
    fetched_at: float  # monotonic seconds


class SharedQuotations:
    """One cache of candles and prices in front of a quotation client, safe across threads."""

    def __init__(self, client: Quotations, clock: Clock, ticker_max_age: float = 1.0) -> None:
        self._client, self._clock, self._ticker_max_age = client, clock, ticker_max_age
        self._candles: dict[tuple[str, Interval], _CachedCandles] = {}
        self._candle_locks: dict[tuple[str, Interval], threading.Lock] = {}
        self._locks_lock = threading.Lock()
        self._tickers: dict[str, _CachedTicker] = {}
        self._watched: dict[str, float] = {}  # market -> monotonic time it was last asked for
        self._bad_until: dict[str, float] = {}
        self._ticker_lock = threading.Lock()
        self._newest_trade: datetime | None = None
        self.candle_requests = 0  # requests sent, for tests and the benchmark
        self.ticker_requests = 0

    # --- candles --------------------------------------------------------------------------------

    def get_candles(
        self, market: str, interval: Interval, count: int, *, to: datetime | None = None
    ) -> list[Candle]:
        """The newest `count` candles (the forming one included), from the cache when still valid.

        A request with `to` (a long catch-up paging back in time) goes to the exchange directly.
        """
        if to is not None:
            self.candle_requests += 1
            return self._client.get_candles(market, interval, count, to=to)
        key = (market, interval)
        with self._lock_for(key):
            cached = self._candles.get(key)
            now = self.exchange_now()
            if cached is None or cached.requested < count or now >= cached.valid_until:
                cached = self._fetch_candles(market, interval, max(count, MIN_CANDLES_CACHED), now)
                self._candles[key] = cached
            return cached.candles[-count:]

    def _fetch_candles(self, market: str, interval: Interval, count: int, now: datetime) -> _CachedCandles:
        self.candle_requests += 1
        candles = self._client.get_candles(market, interval, count)
        next_close = interval.floor(now) + interval.duration
        if candles and candles[-1].start + interval.duration > next_close:
            next_close = candles[-1].start + interval.duration  # the exchange is ahead of our clock
        return _CachedCandles(candles, count, next_close)

    def _lock_for(self, key: tuple[str, Interval]) -> threading.Lock:
        with self._locks_lock:
            return self._candle_locks.setdefault(key, threading.Lock())

    # --- prices ---------------------------------------------------------------------------------

    def get_tickers(self, markets: Sequence[str]) -> list[Ticker]:
        """The latest ticker of each market, refreshed together with every watched market."""
        with self._ticker_lock:
            now = self._clock.monotonic()
            for market in markets:
                self._watched[market] = now
            stale = [market for market in markets if not self._is_fresh(market, now)]
            if stale:
                self._refresh(stale, now)
            return [self._tickers[market].ticker for market in markets]

    def exchange_now(self) -> datetime:
        """The later of our clock and the newest trade time seen on any market."""
        now = self._clock.now()
        return max(now, self._newest_trade) if self._newest_trade else now

    def _is_fresh(self, market: str, now: float) -> bool:
        cached = self._tickers.get(market)
        return cached is not None and now - cached.fetched_at < self._ticker_max_age

    def _refresh(self, stale: list[str], now: float) -> None:
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
            tickers = self._request_tickers([market])
        except UpbitClientError:
            self._bad_until[market] = now + BAD_MARKET_SECONDS
            raise
        if not any(ticker.market == market for ticker in tickers):
            self._bad_until[market] = now + BAD_MARKET_SECONDS
            raise UpbitNotFoundError(f"no ticker for {market}: is the market code right?")
        self._bad_until.pop(market, None)
        self._store_tickers(tickers, now)

    def _request_tickers(self, markets: list[str]) -> list[Ticker]:
        self.ticker_requests += 1
        return self._client.get_tickers(markets)

    def _store_tickers(self, tickers: list[Ticker], now: float) -> None:
        for ticker in tickers:
            self._tickers[ticker.market] = _CachedTicker(ticker, now)
            if self._newest_trade is None or ticker.timestamp > self._newest_trade:
                self._newest_trade = ticker.timestamp
