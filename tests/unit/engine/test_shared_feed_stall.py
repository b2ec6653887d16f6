"""No lock across I/O in the shared feed (issue 15, part 4): a stalled market never holds up another.

Market A's request hangs (as an 11-second timeout would) until the test releases it; readers of
market B and of the ticker go on at once, and other readers of A wait a bounded time, then use
their last good answer (or get a retryable error without one). Waits run on the test's step clock,
so nothing here sleeps for real; each read runs in a thread that must finish (an unbounded wait
would leave it blocked: the test then fails instead of hanging).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import TypeVar

import pytest

from tradebot.core.models import Candle, Interval
from tradebot.engine.halt import LoopHalted, halting_on
from tradebot.engine.market_feed import MarketFeed
from tradebot.engine.shared_feed import MarketDataDelayedError, SharedQuotations
from tradebot.exchange.upbit import Dated, Ticker, UpbitTemporaryError

from .test_shared_feed import MINUTE, START, BlockingHistory, CountingExchange, StepClock

ResultT = TypeVar("ResultT")
STALLED, OTHER = "KRW-ETH", "KRW-BTC"
M1 = Interval.MINUTE1


class StallingExchange(CountingExchange):
    """Candles of STALLED (and, when asked, tickers) hang once `stall` is set, until `release` is set."""

    def __init__(self, clock: StepClock) -> None:
        super().__init__(clock)
        self.stall_candles, self.stall_tickers = threading.Event(), threading.Event()
        self.entered, self.release = threading.Event(), threading.Event()

    def read_candles(
        self, market: str, interval: Interval, count: int, *, to: datetime | None = None
    ) -> Dated[list[Candle]]:
        if market == STALLED and self.stall_candles.is_set():
            self._hang()
        return super().read_candles(market, interval, count, to=to)

    def read_tickers(self, markets: Sequence[str]) -> Dated[list[Ticker]]:
        if self.stall_tickers.is_set():
            self._hang()
        return super().read_tickers(markets)

    def _hang(self) -> None:
        self.entered.set()
        assert self.release.wait(30), "never released"


def _finishes(call: Callable[[], ResultT]) -> ResultT:
    """`call()` run in a thread that must return (or raise) within a generous bound, never hang."""
    box: dict[str, object] = {}

    def run() -> None:
        try:
            box["value"] = call()
        except BaseException as error:  # handed to the test's thread
            box["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(10)
    assert not thread.is_alive(), "the read waited for the stalled request"
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]


@pytest.fixture
def stalled() -> Iterator[tuple[StepClock, StallingExchange, SharedQuotations, threading.Thread]]:
    """Both markets cached at 00:00:30; at 00:01:00 (a close) market A's next candle request hangs."""
    clock = StepClock()
    clock.seconds = 30.0
    exchange = StallingExchange(clock)
    shared = SharedQuotations(exchange, clock, ticker_max_age=1.0, wait_limit=1.5)
    for market in (STALLED, OTHER):
        shared.read_candles(market, M1, 3)
    clock.sleep(30.0)
    shared.read_tickers([OTHER])  # the exchange's time passes the close: both caches are due
    exchange.stall_candles.set()
    first = threading.Thread(target=shared.read_candles, args=(STALLED, M1, 3), daemon=True)
    first.start()
    assert exchange.entered.wait(10)
    yield clock, exchange, shared, first
    exchange.release.set()
    first.join(10)
    assert not first.is_alive()


def test_stalled_market_other_markets_reader_gets_its_new_candle_at_once(
    stalled: tuple[StepClock, StallingExchange, SharedQuotations, threading.Thread],
) -> None:
    _clock, _exchange, shared, _first = stalled
    feed = MarketFeed(shared, OTHER, M1)
    feed.quote()

    closed = _finishes(lambda: feed.closed_after(START - 3 * MINUTE))

    assert closed[-1].start == START  # the candle that closed at 00:01, fetched for B alone
    assert shared.stale_answers == 0


def test_stalled_market_second_reader_uses_its_last_good_answer_after_a_bounded_wait(
    stalled: tuple[StepClock, StallingExchange, SharedQuotations, threading.Thread],
) -> None:
    clock, exchange, shared, first = stalled
    feed = MarketFeed(shared, STALLED, M1)
    feed.quote()
    requests = len(exchange.candle_calls)

    closed = _finishes(lambda: feed.closed_after(START - 3 * MINUTE))

    assert closed[-1].start == START - MINUTE  # judged by the old answer's time: 00:00 still forming
    assert shared.stale_answers == 1
    assert len(exchange.candle_calls) == requests  # it waited for the request in flight, sent none
    clock.sleep(1.0)
    assert list(shared.delayed()) == [f"{STALLED} minute1 candles"]  # said: health and logs can show it
    exchange.release.set()
    first.join(10)
    assert _finishes(lambda: feed.closed_after(START - 3 * MINUTE))[-1].start == START  # none skipped


def test_stalled_ticker_other_readers_get_the_last_prices_and_candles_still_flow(
    stalled: tuple[StepClock, StallingExchange, SharedQuotations, threading.Thread],
) -> None:
    clock, exchange, shared, _first = stalled
    exchange.entered.clear()
    exchange.stall_tickers.set()
    clock.sleep(2.0)  # every cached price is stale now
    hung = threading.Thread(target=shared.read_tickers, args=([OTHER],), daemon=True)
    hung.start()
    assert exchange.entered.wait(10)

    [ticker] = _finishes(lambda: shared.read_tickers([OTHER])).value
    candles = _finishes(lambda: shared.read_candles(OTHER, M1, 3)).value

    assert ticker.timestamp == START + timedelta(seconds=60)  # the last good price, with its own time
    assert candles[-1].start == START + MINUTE  # the forming 00:01 candle: not held by the ticker
    assert shared.stale_answers == 1
    exchange.release.set()
    hung.join(10)


def test_stalled_market_reader_without_a_cached_answer_gets_a_retryable_error(
    stalled: tuple[StepClock, StallingExchange, SharedQuotations, threading.Thread],
) -> None:
    _clock, _exchange, shared, _first = stalled

    with pytest.raises(MarketDataDelayedError, match="in flight") as delayed:
        _finishes(lambda: shared.read_candles(STALLED, M1, 50))  # more than anyone cached

    assert isinstance(delayed.value, UpbitTemporaryError)  # the loop retries it next cycle


def test_stalled_market_waiting_reader_leaves_at_once_when_its_loop_is_halted(
    stalled: tuple[StepClock, StallingExchange, SharedQuotations, threading.Thread],
) -> None:
    _clock, _exchange, shared, _first = stalled
    halt = threading.Event()
    halt.set()

    def read() -> object:
        with halting_on(halt):
            return shared.read_candles(STALLED, M1, 3)

    with pytest.raises(LoopHalted):
        _finishes(read)


class FailingOnce(CountingExchange):
    """Market A's candle request fails with a timeout after the other reader started waiting."""

    def __init__(self, clock: StepClock) -> None:
        super().__init__(clock)
        self.waiting, self.entered = threading.Event(), threading.Event()
        self.calls = 0

    def read_candles(
        self, market: str, interval: Interval, count: int, *, to: datetime | None = None
    ) -> Dated[list[Candle]]:
        self.calls += 1
        self.entered.set()
        assert self.waiting.wait(10)
        raise UpbitTemporaryError("read timed out")


def test_failed_shared_request_fails_its_waiters_without_a_request_each() -> None:
    clock = StepClock()
    exchange = FailingOnce(clock)
    shared = SharedQuotations(exchange, clock, ticker_max_age=1.0, wait_limit=1_000.0)
    errors: list[BaseException] = []

    def first_reader() -> None:
        try:
            shared.read_candles(STALLED, M1, 3)
        except UpbitTemporaryError as error:
            errors.append(error)

    first = threading.Thread(target=first_reader, daemon=True)
    first.start()
    assert exchange.entered.wait(10)

    def second() -> object:
        exchange.waiting.set()  # the first request fails while this reader waits for it
        return shared.read_candles(STALLED, M1, 3)

    with pytest.raises(MarketDataDelayedError, match="read timed out"):
        _finishes(second)
    first.join(10)
    assert [str(error) for error in errors] == ["Upbit: read timed out"]
    assert exchange.calls == 1  # the waiter shared the failed request instead of sending its own


def test_second_warm_up_of_a_market_shares_a_slow_first_ones_pages() -> None:
    clock = StepClock()
    clock.seconds = 30.0
    exchange = BlockingHistory(clock)
    shared = SharedQuotations(exchange, clock, ticker_max_age=1.0, wait_limit=1.5)
    first = threading.Thread(target=shared.read_candles, args=(OTHER, M1, 2001), daemon=True)
    first.start()
    assert exchange.paging.wait(10)
    second = threading.Thread(target=shared.read_candles, args=(OTHER, M1, 2001), daemon=True)
    second.start()
    threading.Event().wait(0.05)  # the second one waits (on the step clock, past the cycle's 1.5 s)
    exchange.release.set()
    first.join(10)
    second.join(10)
    assert not second.is_alive()
    assert [count for _, count, _ in exchange.candle_calls] == [2001]  # paged once, for both
