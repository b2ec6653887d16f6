"""Closed-candle detection and catch-up of the market feed, over a fake quotation client."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from tradebot.core.models import Candle, Interval
from tradebot.engine.market_feed import MAX_CATCH_UP, MarketFeed
from tradebot.exchange.upbit import Ticker

START = datetime(2026, 1, 1, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


class FixedClock:
    def __init__(self, now: datetime) -> None:
        self.moment = now

    def now(self) -> datetime:
        return self.moment

    def monotonic(self) -> float:
        return 0.0

    def sleep(self, seconds: float) -> None:
        return None


class FakeQuotation:
    """Minute candles at every minute from START up to (excluding) `until`, the last one forming."""

    def __init__(self, until: datetime) -> None:
        self.until = until
        self.calls: list[tuple[int, datetime | None]] = []

    def get_candles(
        self, market: str, interval: Interval, count: int, *, to: datetime | None = None
    ) -> list[Candle]:
        self.calls.append((count, to))
        end = min(to or self.until, self.until)
        starts = [end - MINUTE * (offset + 1) for offset in range(count)]
        return [Candle(start, 1.0, 1.0, 1.0, 1.0, 1.0) for start in reversed(starts) if start >= START]

    def get_tickers(self, markets: list[str]) -> list[Ticker]:
        raise NotImplementedError


def feed_at(now: datetime) -> tuple[MarketFeed, FakeQuotation]:
    client = FakeQuotation(until=now.replace(second=0) + MINUTE)
    return MarketFeed(client, "KRW-BTC", Interval.MINUTE1, FixedClock(now)), client  # type: ignore[arg-type]


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

    def __init__(self, until: datetime, later: datetime) -> None:
        super().__init__(until)
        self.later = later

    def get_candles(
        self, market: str, interval: Interval, count: int, *, to: datetime | None = None
    ) -> list[Candle]:
        if to is None:
            self.until = self.later
        return super().get_candles(market, interval, count, to=to)


def test_an_answer_newer_than_asked_for_skips_no_candle_and_trades_none_of_them_late() -> None:
    # Regression (soak, issue 7): a retried request answered half an hour of exchange time later;
    # the newest few candles no longer reached back to the last one evaluated and the feed
    # silently skipped the minutes in between.
    now = START + timedelta(minutes=10, seconds=30)
    client = MovingQuotation(until=START + timedelta(minutes=11), later=START + timedelta(minutes=30))
    feed = MarketFeed(client, "KRW-BTC", Interval.MINUTE1, FixedClock(now))  # type: ignore[arg-type]
    after = START + timedelta(minutes=8)
    first = feed.closed_after(after)
    assert [candle.start for candle in first] == [START + MINUTE * minute for minute in (9, 10, 11)]
    assert feed.exchange_now() == START + timedelta(minutes=29)  # the old candles are judged stale
    second = feed.closed_after(first[-1].start)
    starts = [candle.start for candle in first + second]
    assert starts == [START + MINUTE * minute for minute in range(9, 29)]


def test_history_returns_only_closed_candles() -> None:
    feed, _ = feed_at(START + timedelta(minutes=100, seconds=1))
    history = feed.history(20)
    assert len(history) == 20
    assert history[-1].start == START + timedelta(minutes=99)
    assert Decimal(1) == Decimal(history[0].close)
