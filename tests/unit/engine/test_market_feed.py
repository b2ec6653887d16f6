"""Closed-candle detection and catch-up of the market feed, over a fake quotation client."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tradebot.core.models import Candle, Interval
from tradebot.engine.market_feed import MAX_CATCH_UP, ExchangeTimeUnknown, MarketFeed
from tradebot.exchange.upbit import Dated, Ticker

START = datetime(2026, 1, 1, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def _ticker(at: datetime) -> Ticker:
    price = Decimal(1000)
    return Ticker(
        market="KRW-BTC", trade_price=price, opening_price=price, high_price=price, low_price=price,
        prev_closing_price=price, change="EVEN", signed_change_rate=Decimal(0),
        acc_trade_price_24h=Decimal(0), acc_trade_volume_24h=Decimal(0), timestamp=at,
    )  # fmt: skip


class FakeQuotation:
    """Minute candles every minute from START up to the forming one at the exchange's `now`.

    Every answer is dated `now` (its `Date`); the last trade happened `trade_lag` before it.
    """

    def __init__(self, now: datetime, trade_lag: timedelta = timedelta(0)) -> None:
        self.now = now
        self.trade_lag = trade_lag
        self.calls: list[tuple[int, datetime | None]] = []

    @property
    def until(self) -> datetime:
        return Interval.MINUTE1.floor(self.now) + MINUTE

    def read_candles(
        self, market: str, interval: Interval, count: int, *, to: datetime | None = None
    ) -> Dated[list[Candle]]:
        self.calls.append((count, to))
        end = min(to or self.until, self.until)
        starts = [end - MINUTE * (offset + 1) for offset in range(count)]
        candles = [Candle(start, 1.0, 1.0, 1.0, 1.0, 1.0) for start in reversed(starts) if start >= START]
        return Dated(candles, self.now.replace(microsecond=0))

    def read_tickers(self, markets: list[str]) -> Dated[list[Ticker]]:
        return Dated([_ticker(self.now - self.trade_lag)], self.now.replace(microsecond=0))


def feed_at(now: datetime) -> tuple[MarketFeed, FakeQuotation]:
    client = FakeQuotation(now)
    feed = MarketFeed(client, "KRW-BTC", Interval.MINUTE1)
    feed.quote()  # as every loop cycle does first
    return feed, client


def test_forming_candle_is_not_returned() -> None:
    feed, _ = feed_at(START + timedelta(minutes=10, seconds=30))
    closed = feed.closed_after(START + timedelta(minutes=7))
    assert [candle.start for candle in closed] == [START + timedelta(minutes=8), START + timedelta(minutes=9)]


def test_long_outage_catches_up_oldest_window_first_without_skipping() -> None:
    after = START + timedelta(minutes=5)
    feed, client = feed_at(after + MINUTE * (MAX_CATCH_UP * 2))
    closed = feed.closed_after(after)
    assert client.calls[-1] == (MAX_CATCH_UP, after + MAX_CATCH_UP * MINUTE)
    assert closed[0].start == after + MINUTE
    assert len(closed) == MAX_CATCH_UP - 1
    assert all(later.start - earlier.start == MINUTE for earlier, later in itertools.pairwise(closed))


class MovingQuotation(FakeQuotation):
    """The exchange's time jumps to `later` while the newest candles are asked for (a slow answer)."""

    def __init__(self, now: datetime, later: datetime) -> None:
        super().__init__(now)
        self.later = later

    def read_candles(
        self, market: str, interval: Interval, count: int, *, to: datetime | None = None
    ) -> Dated[list[Candle]]:
        if to is None:
            self.now = self.later
        return super().read_candles(market, interval, count, to=to)


def test_an_answer_newer_than_asked_for_skips_no_candle_and_trades_none_of_them_late() -> None:
    # Regression (soak, issue 7): a retried request answered half an hour of exchange time later;
    # the newest few candles no longer reached back to the last one evaluated and the feed
    # silently skipped the minutes in between.
    now = START + timedelta(minutes=10, seconds=30)
    client = MovingQuotation(now, later=START + timedelta(minutes=29, seconds=30))
    feed = MarketFeed(client, "KRW-BTC", Interval.MINUTE1)
    feed.quote()
    after = START + timedelta(minutes=8)
    first = feed.closed_after(after)
    assert [candle.start for candle in first] == [START + MINUTE * minute for minute in (9, 10, 11)]
    assert feed.exchange_now() == START + timedelta(minutes=29, seconds=30)  # the old ones are stale
    second = feed.closed_after(first[-1].start)
    starts = [candle.start for candle in first + second]
    assert starts == [START + MINUTE * minute for minute in range(9, 29)]


def test_history_returns_only_closed_candles() -> None:
    feed, _ = feed_at(START + timedelta(minutes=100, seconds=1))
    history = feed.history(20)
    assert len(history) == 20
    assert history[-1].start == START + timedelta(minutes=99)
    assert Decimal(1) == Decimal(history[0].close)


def test_catch_up_at_exactly_9999_missed_intervals_excludes_forming_candle() -> None:
    # Regression (issue 12): the window after `after` ended one interval past the forming candle.
    after = START + timedelta(minutes=5)
    now = after + MINUTE * (MAX_CATCH_UP - 1) + timedelta(seconds=30)
    feed, _ = feed_at(now)
    closed = feed.closed_after(after)
    assert closed[-1].start + MINUTE <= now
    assert closed[-1].start == Interval.MINUTE1.floor(now) - MINUTE
    assert len(closed) == MAX_CATCH_UP - 2


@pytest.mark.parametrize("missed", [MAX_CATCH_UP - 3, MAX_CATCH_UP - 2, MAX_CATCH_UP - 1, MAX_CATCH_UP])
def test_catch_up_near_the_window_size_never_returns_the_forming_candle(missed: int) -> None:
    after = START + timedelta(minutes=5)
    now = after + MINUTE * missed + timedelta(seconds=59)
    feed, _ = feed_at(now)
    closed = feed.closed_after(after)
    assert all(candle.start + MINUTE <= now for candle in closed)
    assert closed[0].start == after + MINUTE


def test_newest_candle_closed_only_by_the_answers_own_date() -> None:
    # The ticker's trade time is well past the minute, but the candle answer was dated before
    # its end (a cached or slow answer): the newest candle in it stays unfinished.
    client = FakeQuotation(START + timedelta(minutes=3, seconds=59))
    feed = MarketFeed(client, "KRW-BTC", Interval.MINUTE1)
    closed = feed.history(2)
    assert [candle.start for candle in closed] == [START + MINUTE, START + 2 * MINUTE]
    client.now = START + timedelta(minutes=4)  # its Date reaches the end of the 00:03 candle
    assert feed.history(1)[-1].start == START + 3 * MINUTE


def test_exchange_time_comes_only_from_answers_and_never_goes_back() -> None:
    client = FakeQuotation(START + timedelta(minutes=3, seconds=20), trade_lag=timedelta(seconds=40))
    feed = MarketFeed(client, "KRW-BTC", Interval.MINUTE1)
    with pytest.raises(ExchangeTimeUnknown):
        feed.exchange_now()
    feed.quote()
    assert feed.exchange_now() == START + timedelta(minutes=3, seconds=20)  # the Date, not the trade
    client.now = START + timedelta(minutes=2)  # an older (cached) answer
    feed.quote()
    assert feed.exchange_now() == START + timedelta(minutes=3, seconds=20)


def test_answers_without_date_close_candles_only_by_a_newer_candle() -> None:
    class Undated(FakeQuotation):
        @property
        def until(self) -> datetime:
            return Interval.MINUTE1.floor(self.now)  # a quiet market: no trade in the current minute

        def read_candles(
            self, market: str, interval: Interval, count: int, *, to: datetime | None = None
        ) -> Dated[list[Candle]]:
            return Dated(super().read_candles(market, interval, count, to=to).value, None)

    client = Undated(START + timedelta(minutes=10, seconds=30))  # 00:09 has closed, nothing says so
    feed = MarketFeed(client, "KRW-BTC", Interval.MINUTE1)
    assert feed.history(3)[-1].start == START + 8 * MINUTE
