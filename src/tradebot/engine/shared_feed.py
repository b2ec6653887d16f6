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
  close: users on the same market and interval share the warm-up pages;
- serves the latest price of every market watched from one multi-market ticker request
  (`/v1/ticker?markets=A,B,...`) at most every `ticker_max_age` seconds.

No lock is ever held across a request (issue 15, part 4: one 11-second timeout on one market
delayed every user's cycle). Each request is a *flight*: the first reader that needs it fetches,
readers of the same data that come meanwhile wait for its answer at most `wait_limit` seconds
after it started, and then use what they already had (the last good answer, judged by its own
time, so no candle is taken early, skipped or taken twice: a newer one comes at a later cycle),
counted in `stale_answers` and listed by `delayed()`. With nothing cached they get
`MarketDataDelayedError`, an exchange error the loop retries next cycle. Readers of other markets
never wait for it, and the ticker never waits for candles nor candles for the ticker. A failed
flight fails its waiters the same way (an unknown market's client error: they ask themselves).

A market the exchange does not know (a user's typo or a delisted coin) must not break the others'
prices: when the batch fails with a client error, the asking market is fetched alone, and a market
that fails alone is left out of batches for a while.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from tradebot.core.clock import Clock
from tradebot.core.models import Candle, Interval
from tradebot.engine.feed_cache import CachedCandles, CachedTicker, Flight, merged, tail, with_validity
from tradebot.engine.halt import wait_for
from tradebot.exchange.upbit import (
    Dated,
    Ticker,
    UpbitClientError,
    UpbitNotFoundError,
    UpbitTemporaryError,
)

# Enough for a normal cycle's closed_after (the newest two and the forming one) and for a user a few
# candles behind: a reader whose market's request is slow is answered from the cache only when it
# holds at least as many candles as asked (fewer could skip one), so the cache keeps some spare.
MIN_CANDLES_CACHED = 10
NEWEST_PAGE = 200  # one Upbit page: what a refresh of a long cached history fetches
MARKET_IDLE_SECONDS = 120.0  # a market nobody asked for this long leaves the ticker batch
BAD_MARKET_SECONDS = 300.0  # a market that failed alone is retried in batches after this
# Readers wait for another reader's request at most this long after it started: well inside a
# 5-second cycle, so a stalled market costs its other users one short wait, not the timeout.
FLIGHT_WAIT_SECONDS = 1.5
# A second warm-up of a market waits this long for the first one's pages (at an engine start every
# user of a market warms up at once, and paging in the rate limiter's background lane can take tens
# of seconds): it is that user's start, not anyone's cycle, and fetching its own would page again.
HISTORY_WAIT_SECONDS = 120.0
ROUNDS = 3  # looks at the cache per read (a flight may answer fewer candles than asked, or fail)

Key = tuple[str, Interval]


class MarketDataDelayedError(UpbitTemporaryError):
    """Another reader's request for these data is slow or failed, and nothing usable is cached."""


class Quotations(Protocol):
    """The quotation reads a `MarketFeed` makes (`UpbitQuotationClient`, or the shared cache)."""

    def read_tickers(self, markets: Sequence[str]) -> Dated[list[Ticker]]: ...

    def read_candles(
        self, market: str, interval: Interval, count: int, *, to: datetime | None = None
    ) -> Dated[list[Candle]]: ...


class SharedQuotations:
    """One cache of candles and prices in front of a quotation client, safe across threads."""

    def __init__(
        self,
        client: Quotations,
        clock: Clock,
        ticker_max_age: float = 1.0,
        wait_limit: float = FLIGHT_WAIT_SECONDS,
    ) -> None:
        self._client, self._clock = client, clock
        self._ticker_max_age, self._wait_limit = ticker_max_age, wait_limit
        self._lock = threading.Lock()  # guards every dictionary below; never held across a request
        self._candles: dict[Key, CachedCandles] = {}
        self._candle_flights: dict[Key, Flight[None]] = {}
        self._history_flights: dict[Key, Flight[None]] = {}
        self._tickers: dict[str, CachedTicker] = {}
        self._ticker_flight: Flight[None] | None = None
        self._watched: dict[str, float] = {}  # market -> monotonic time it was last asked for
        self._bad_until: dict[str, float] = {}
        self._time_lock = threading.Lock()
        self._exchange_time: datetime | None = None
        self.candle_requests = 0  # requests sent, for tests and the benchmark
        self.ticker_requests = 0
        self.stale_answers = 0  # reads answered from an older fetch because another request was slow

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
        for _round in range(ROUNDS):
            with self._lock:
                cached = self._candles.get(key)
                if self._serves(cached, count):
                    assert cached is not None  # served above
                    return tail(cached.answer, count)
                flight = self._candle_flights.get(key)
                leading = flight is None
                if flight is None:
                    flight = self._candle_flights[key] = Flight(self._clock.monotonic())
            if leading:
                return self._lead_candles(key, flight, cached, count)
            slow = self._await(flight, f"{market} {interval.value} candles")
            if slow is not None:
                return self._stale_candles(key, count, slow)
        return self._stale_candles(key, count, "other readers' answers kept falling short")

    def get_candles(
        self, market: str, interval: Interval, count: int, *, to: datetime | None = None
    ) -> list[Candle]:
        """`read_candles` without the time."""
        return self.read_candles(market, interval, count, to=to).value

    def _lead_candles(
        self, key: Key, flight: Flight[None], cached: CachedCandles | None, count: int
    ) -> Dated[list[Candle]]:
        """Fetch for everyone waiting on `flight`, outside every lock."""
        long_history = cached is not None and cached.requested > NEWEST_PAGE
        wanted = NEWEST_PAGE if long_history else max(count, MIN_CANDLES_CACHED)
        try:
            answer = self._fetch(*key, wanted, None)
        except BaseException as error:
            self._land(self._candle_flights, key, flight, error)
            raise
        with self._lock:
            self._store_newest(key, answer, wanted)
        self._land(self._candle_flights, key, flight, None)
        return tail(answer, count)

    def _store_newest(self, key: Key, answer: Dated[list[Candle]], wanted: int) -> None:
        current = self._candles.get(key)
        if current is not None and current.requested > NEWEST_PAGE:
            # A long history (a warm-up) stays: the newest page is joined to it (if they do not
            # meet, the page alone is kept and the next warm-up fetches again).
            self._candles[key] = merged(current, answer, wanted, key[1])
        elif current is None or _not_older(answer, current.answer):
            self._candles[key] = with_validity(CachedCandles(answer, wanted, None), key[1])

    def _history(self, key: Key, count: int) -> Dated[list[Candle]]:
        # One warm-up per market at a time: a second one waits (bounded) for the first's pages and
        # shares them, or fetches its own if the first is stuck; other readers never wait for it.
        with self._lock:
            cached = self._candles.get(key)
            if self._serves(cached, count):
                assert cached is not None
                return tail(cached.answer, count)
            flight = self._history_flights.get(key)
            leading = flight is None
            if flight is None:
                flight = self._history_flights[key] = Flight(self._clock.monotonic())
        history_wait = max(self._wait_limit, HISTORY_WAIT_SECONDS)
        if not leading and wait_for(self._clock, flight.done, flight.started + history_wait):
            with self._lock:
                cached = self._candles.get(key)
                if self._serves(cached, count):
                    assert cached is not None
                    return tail(cached.answer, count)
        try:
            answer = self._fetch(*key, count, None)
        except BaseException as error:
            if leading:
                self._land(self._history_flights, key, flight, error)
            raise
        with self._lock:
            self._candles[key] = merged(self._candles.get(key), answer, count, key[1])
        if leading:
            self._land(self._history_flights, key, flight, None)
        return answer

    def _stale_candles(self, key: Key, count: int, why: str) -> Dated[list[Candle]]:
        """The last good answer (judged by its own time), or MarketDataDelayedError without one."""
        with self._lock:
            cached = self._candles.get(key)
            if cached is not None and cached.requested >= count:
                self.stale_answers += 1
                return tail(cached.answer, count)
        raise MarketDataDelayedError(f"{key[0]} {key[1].value} candles: {why}; retried next cycle")

    def _fetch(self, market: str, interval: Interval, count: int, to: datetime | None) -> Dated[list[Candle]]:
        with self._time_lock:
            self.candle_requests += 1
        answer = self._client.read_candles(market, interval, count, to=to)
        self._observe(answer.server_time)
        return answer

    def _serves(self, cached: CachedCandles | None, count: int) -> bool:
        if cached is None or cached.requested < count or cached.valid_until is None:
            return False
        now = self._exchange_time
        return now is not None and now < cached.valid_until

    # --- flights --------------------------------------------------------------------------------

    def _await(self, flight: Flight[None], what: str) -> str | None:
        """Wait for another reader's request: None once it answered, else why it is slow.

        A failed request raises MarketDataDelayedError, except a client error (an unknown market in
        someone's batch): then None, and the caller asks itself.
        """
        if not wait_for(self._clock, flight.done, flight.started + self._wait_limit):
            age = self._clock.monotonic() - flight.started
            return f"another reader's request has been in flight for {age:.1f} s"
        if flight.error is not None and not isinstance(flight.error, UpbitClientError):
            failure = f"{what}: the shared request failed: {flight.error}"
            raise MarketDataDelayedError(failure) from flight.error
        return None

    def _land(
        self, flights: dict[Key, Flight[None]], key: Key, flight: Flight[None], error: BaseException | None
    ) -> None:
        with self._lock:
            if flights.get(key) is flight:
                del flights[key]
        flight.land(None, error)

    def delayed(self) -> dict[str, float]:
        """Requests in flight for longer than readers wait for them: what, and seconds so far."""
        now = self._clock.monotonic()
        with self._lock:
            flights = [
                (f"{market} {interval.value} candles", flight)
                for (market, interval), flight in self._candle_flights.items()
            ]
            if self._ticker_flight is not None:
                flights.append(("tickers", self._ticker_flight))
        ages = {what: now - flight.started for what, flight in flights}
        return {what: age for what, age in ages.items() if age >= self._wait_limit}

    # --- prices ---------------------------------------------------------------------------------

    def read_tickers(self, markets: Sequence[str]) -> Dated[list[Ticker]]:
        """The latest ticker of each market, refreshed together with every watched market.

        The time is the earliest of their answers' times: never later than what any of them saw.
        """
        for _round in range(ROUNDS):
            with self._lock:
                now = self._clock.monotonic()
                for market in markets:
                    self._watched[market] = now
                stale = [market for market in markets if not self._is_fresh(market, now)]
                if not stale:
                    return self._dated_tickers(markets)
                flight = self._ticker_flight
                leading = flight is None
                if flight is None:
                    flight = self._ticker_flight = Flight(now)
                    batch = self._batch(stale, now)
            if leading:
                self._lead_tickers(flight, stale, batch, now)
                with self._lock:  # fetched just now: served even if that took longer than max age
                    return self._dated_tickers(markets)
            slow = self._await(flight, "tickers")
            if slow is not None:
                return self._stale_tickers(markets, slow)
        return self._stale_tickers(markets, "other readers' batches kept missing them")

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

    def _dated_tickers(self, markets: Sequence[str]) -> Dated[list[Ticker]]:
        cached = [self._tickers[market] for market in markets]
        times = [item.server_time for item in cached]
        known = [moment for moment in times if moment is not None]
        server_time = min(known) if known and len(known) == len(times) else None
        return Dated([item.ticker for item in cached], server_time)

    def _stale_tickers(self, markets: Sequence[str], why: str) -> Dated[list[Ticker]]:
        """The last prices fetched (each with its own trade time), or MarketDataDelayedError."""
        with self._lock:
            if all(market in self._tickers for market in markets):
                self.stale_answers += 1
                return self._dated_tickers(markets)
        raise MarketDataDelayedError(f"tickers of {', '.join(markets)}: {why}; retried next cycle")

    def _is_fresh(self, market: str, now: float) -> bool:
        cached = self._tickers.get(market)
        return cached is not None and now - cached.fetched_at < self._ticker_max_age

    def _lead_tickers(self, flight: Flight[None], stale: list[str], batch: list[str], now: float) -> None:
        """Fetch for everyone waiting on `flight`, outside every lock."""
        try:
            self._refresh_tickers(stale, batch, now)
        except BaseException as error:
            self._land_tickers(flight, error)
            raise
        self._land_tickers(flight, None)

    def _land_tickers(self, flight: Flight[None], error: BaseException | None) -> None:
        with self._lock:
            if self._ticker_flight is flight:
                self._ticker_flight = None
        flight.land(None, error)

    def _refresh_tickers(self, stale: list[str], batch: list[str], now: float) -> None:
        try:
            self._store_tickers(self._request_tickers(batch), now)
        except UpbitClientError:
            if batch == stale:
                raise
            for market in stale:  # someone else's market may be the unknown one
                self._fetch_alone(market, now)
        for market in stale:
            with self._lock:
                missing = market not in self._tickers or self._tickers[market].fetched_at != now
            if missing:
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
            with self._lock:
                self._bad_until[market] = now + BAD_MARKET_SECONDS
            raise
        if not any(ticker.market == market for ticker in answer.value):
            with self._lock:
                self._bad_until[market] = now + BAD_MARKET_SECONDS
            raise UpbitNotFoundError(f"no ticker for {market}: is the market code right?")
        with self._lock:
            self._bad_until.pop(market, None)
        self._store_tickers(answer, now)

    def _request_tickers(self, markets: list[str]) -> Dated[list[Ticker]]:
        with self._time_lock:
            self.ticker_requests += 1
        return self._client.read_tickers(markets)

    def _store_tickers(self, answer: Dated[list[Ticker]], now: float) -> None:
        self._observe(answer.server_time)
        with self._lock:
            for ticker in answer.value:
                self._tickers[ticker.market] = CachedTicker(ticker, answer.server_time, now)
        for ticker in answer.value:
            self._observe(ticker.timestamp)


def _not_older(first: Dated[list[Candle]], second: Dated[list[Candle]]) -> bool:
    """True unless `second` was answered later than `first` (a slow answer never replaces a newer)."""
    if first.server_time is None or second.server_time is None:
        return True
    return first.server_time >= second.server_time
