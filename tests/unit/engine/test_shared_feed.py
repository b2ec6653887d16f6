"""The shared feed: one candle request per (market, interval) per candle close, one ticker request for all."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tradebot.core.models import Candle, Interval
from tradebot.engine.market_feed import MarketFeed
from tradebot.engine.shared_feed import MIN_CANDLES_CACHED, NEWEST_PAGE, SharedQuotations
from tradebot.exchange.upbit import Dated, Ticker, UpbitNotFoundError

START = datetime(2026, 1, 1, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


class StepClock:
    def __init__(self) -> None:
        self.seconds = 0.0

    def now(self) -> datetime:
        return START + timedelta(seconds=self.seconds)

    def monotonic(self) -> float:
        return self.seconds

    def sleep(self, seconds: float) -> None:
        self.seconds += seconds


def _ticker(market: str, at: datetime) -> Ticker:
    price = Decimal(1000)
    return Ticker(
        market=market, trade_price=price, opening_price=price, high_price=price, low_price=price,
        prev_closing_price=price, change="EVEN", signed_change_rate=Decimal(0),
        acc_trade_price_24h=Decimal(0), acc_trade_volume_24h=Decimal(0), timestamp=at,
    )  # fmt: skip


class CountingExchange:
    """Minute candles every minute up to the clock's forming candle; tickers for known markets."""

    def __init__(self, clock: StepClock, unknown: Sequence[str] = (), silently_missing: Sequence[str] = ()):
        self.clock = clock
        self.unknown, self.silently_missing = set(unknown), set(silently_missing)
        self.candle_calls: list[tuple[str, int, datetime | None]] = []
        self.ticker_calls: list[list[str]] = []
        self.lock = threading.Lock()

    def read_candles(
        self, market: str, interval: Interval, count: int, *, to: datetime | None = None
    ) -> Dated[list[Candle]]:
        with self.lock:
            self.candle_calls.append((market, count, to))
        now = self.clock.now()
        newest = Interval.MINUTE1.floor(now if to is None else to - timedelta(microseconds=1))
        starts = [newest - MINUTE * offset for offset in range(count)]
        candles = [Candle(start, 1.0, 1.0, 1.0, 1.0, 1.0) for start in reversed(starts)]
        return Dated(candles, now.replace(microsecond=0))

    def read_tickers(self, markets: Sequence[str]) -> Dated[list[Ticker]]:
        self.ticker_calls.append(list(markets))
        if self.unknown & set(markets):
            raise UpbitNotFoundError("Code not found", name=404, status=404)
        now = self.clock.now()
        tickers = [_ticker(market, now) for market in markets if market not in self.silently_missing]
        return Dated(tickers, now.replace(microsecond=0))


def _setup(**exchange_options: Sequence[str]) -> tuple[StepClock, CountingExchange, SharedQuotations]:
    clock = StepClock()
    clock.seconds = 30.0  # half-way through the 00:00 candle
    exchange = CountingExchange(clock, **exchange_options)
    return clock, exchange, SharedQuotations(exchange, clock, ticker_max_age=1.0)


def _feeds(
    shared: SharedQuotations, clock: StepClock, count: int, market: str = "KRW-BTC"
) -> list[MarketFeed]:
    return [MarketFeed(shared, market, Interval.MINUTE1) for _ in range(count)]


def test_shared_candles_hundred_users_same_market_one_request_per_close() -> None:
    clock, exchange, shared = _setup()
    feeds = _feeds(shared, clock, 100)
    for _cycle in range(12):  # a minute of 5-second cycles
        for feed in feeds:
            feed.quote()
            feed.closed_after(START - 5 * MINUTE)
        clock.sleep(5.0)
    assert len(exchange.candle_calls) == 2  # the first read, and once after the 00:01 close


def test_shared_candles_after_close_every_user_sees_the_new_candle() -> None:
    clock, _exchange, shared = _setup()
    first, second = _feeds(shared, clock, 2)
    first.quote()
    assert first.closed_after(START - 5 * MINUTE)[-1].start == START - MINUTE
    clock.sleep(30.0)  # 00:01:00: the 00:00 candle has closed
    second.quote()
    assert second.closed_after(START - 5 * MINUTE)[-1].start == START
    first.quote()
    assert first.closed_after(START - 5 * MINUTE)[-1].start == START


def test_shared_candles_larger_count_fetched_again() -> None:
    _clock, exchange, shared = _setup()
    shared.get_candles("KRW-BTC", Interval.MINUTE1, 3)
    assert len(shared.get_candles("KRW-BTC", Interval.MINUTE1, 50)) == 50
    assert len(shared.get_candles("KRW-BTC", Interval.MINUTE1, 20)) == 20
    assert [count for _, count, _ in exchange.candle_calls] == [MIN_CANDLES_CACHED, 50]


def test_shared_candles_different_markets_separate_requests() -> None:
    _clock, exchange, shared = _setup()
    for market in ("KRW-BTC", "KRW-ETH", "KRW-BTC", "KRW-ETH"):
        shared.get_candles(market, Interval.MINUTE1, 3)
    assert sorted(market for market, _, _ in exchange.candle_calls) == ["KRW-BTC", "KRW-ETH"]


def test_shared_candles_paging_back_with_to_not_cached() -> None:
    _clock, exchange, shared = _setup()
    shared.get_candles("KRW-BTC", Interval.MINUTE1, 3, to=START - 60 * MINUTE)
    shared.get_candles("KRW-BTC", Interval.MINUTE1, 3, to=START - 60 * MINUTE)
    assert len(exchange.candle_calls) == 2


def test_shared_candles_concurrent_threads_one_request() -> None:
    _clock, exchange, shared = _setup()
    threads = [
        threading.Thread(target=shared.get_candles, args=("KRW-BTC", Interval.MINUTE1, 3)) for _ in range(50)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(exchange.candle_calls) == 1


def test_shared_tickers_every_watched_market_in_one_request() -> None:
    clock, exchange, shared = _setup()
    feeds = [
        feed for market in ("KRW-BTC", "KRW-ETH", "KRW-XRP") for feed in _feeds(shared, clock, 10, market)
    ]
    for feed in feeds:
        feed.quote()
    clock.sleep(1.5)
    for feed in feeds:
        feed.quote()
    assert exchange.ticker_calls[-1] == ["KRW-BTC", "KRW-ETH", "KRW-XRP"]
    assert len(exchange.ticker_calls) == 4  # 3 first sightings, then one batch for all


def test_shared_tickers_fresh_price_not_requested_again() -> None:
    clock, exchange, shared = _setup()
    shared.get_tickers(["KRW-BTC"])
    clock.sleep(0.5)
    shared.get_tickers(["KRW-BTC"])
    assert len(exchange.ticker_calls) == 1


def test_shared_tickers_unknown_market_does_not_break_the_others() -> None:
    clock, exchange, shared = _setup(unknown=["KRW-NOPE"])
    shared.get_tickers(["KRW-BTC"])
    with pytest.raises(UpbitNotFoundError):
        shared.get_tickers(["KRW-NOPE"])
    clock.sleep(2.0)
    [ticker] = shared.get_tickers(["KRW-BTC"])
    assert ticker.market == "KRW-BTC"
    assert exchange.ticker_calls[-1] == ["KRW-BTC"]  # the bad market left out of the batch


def test_shared_tickers_market_missing_from_answer_raises_not_found() -> None:
    _clock, _exchange, shared = _setup(silently_missing=["KRW-GONE"])
    assert shared.get_tickers(["KRW-BTC"])[0].market == "KRW-BTC"
    with pytest.raises(UpbitNotFoundError, match="KRW-GONE"):
        shared.get_tickers(["KRW-GONE"])


def test_shared_exchange_now_follows_the_exchanges_answers_only() -> None:
    host, exchange_clock = StepClock(), StepClock()
    exchange_clock.seconds = 30.0
    shared = SharedQuotations(CountingExchange(exchange_clock), host, ticker_max_age=1.0)
    assert shared.exchange_now() is None  # no answer yet; the host's clock is not a guess
    shared.get_tickers(["KRW-BTC"])
    exchange_clock.seconds -= 10  # the next answer is dated earlier (another server behind it)
    host.sleep(1.5)
    shared.get_tickers(["KRW-BTC"])
    assert shared.exchange_now() == START + timedelta(seconds=30)


def test_shared_cached_candles_keep_the_time_they_were_fetched_at() -> None:
    clock, _exchange, shared = _setup()
    first = shared.read_candles("KRW-BTC", Interval.MINUTE1, 3)
    clock.sleep(20.0)
    shared.read_tickers(["KRW-BTC"])  # the exchange's time moves to 00:00:50
    again = shared.read_candles("KRW-BTC", Interval.MINUTE1, 3)
    assert again.value == first.value
    assert again.server_time == START + timedelta(seconds=30)  # not 00:00:50: its candle was forming then


class WallClockless(StepClock):
    """A host clock whose wall time must never be read: only its monotonic seconds."""

    def now(self) -> datetime:
        raise AssertionError("the host's wall clock decided something")


def test_shared_feed_never_reads_the_hosts_wall_clock() -> None:
    exchange_clock = StepClock()
    exchange_clock.seconds = 90.0
    exchange = CountingExchange(exchange_clock)
    shared = SharedQuotations(exchange, WallClockless(), ticker_max_age=1.0)
    feed = MarketFeed(shared, "KRW-BTC", Interval.MINUTE1)
    feed.quote()
    assert [candle.start for candle in feed.closed_after(START - 2 * MINUTE)] == [
        START - MINUTE, START
    ]  # fmt: skip
    assert feed.exchange_now() == START + timedelta(seconds=90)


def test_shared_warm_up_history_fetched_once_per_market_and_kept_up_to_date() -> None:
    clock, exchange, shared = _setup()
    alice, bob = _feeds(shared, clock, 2)
    assert len(alice.history(2000)) == 2000
    assert len(bob.history(2000)) == 2000
    assert [count for _, count, _ in exchange.candle_calls] == [2001]  # bob shared alice's pages
    clock.sleep(30.0)  # 00:01:00: a candle closed
    alice.quote()
    alice.closed_after(START - MINUTE)
    assert exchange.candle_calls[-1][1] <= NEWEST_PAGE  # only the newest page is fetched again
    carol = _feeds(shared, clock, 1)[0]
    history = carol.history(2000)
    assert len(exchange.candle_calls) == 2  # carol's warm-up came from the store
    assert history[-1].start == START  # and includes the candle that closed meanwhile
    assert [candle.start for candle in history] == [START - MINUTE * offset for offset in range(1999, -1, -1)]


class BlockingHistory(CountingExchange):
    """Holds every long read (a warm-up's paging) until `release` is set."""

    def __init__(self, clock: StepClock) -> None:
        super().__init__(clock)
        self.paging, self.release = threading.Event(), threading.Event()

    def read_candles(
        self, market: str, interval: Interval, count: int, *, to: datetime | None = None
    ) -> Dated[list[Candle]]:
        if count > NEWEST_PAGE:
            self.paging.set()
            assert self.release.wait(30), "never released"
        return super().read_candles(market, interval, count, to=to)


def test_shared_warm_up_in_progress_does_not_hold_up_other_readers_of_the_market() -> None:
    clock = StepClock()
    clock.seconds = 30.0
    exchange = BlockingHistory(clock)
    shared = SharedQuotations(exchange, clock, ticker_max_age=1.0)
    hostile, other = _feeds(shared, clock, 2)
    warming = threading.Thread(target=hostile.history, args=(2000,))
    warming.start()
    try:
        assert exchange.paging.wait(30)
        other.quote()
        assert other.closed_after(START - 3 * MINUTE)[-1].start == START - MINUTE
        assert warming.is_alive()  # the warm-up is still paging: nobody waited for it
    finally:
        exchange.release.set()
        warming.join(30)
    assert not warming.is_alive()
