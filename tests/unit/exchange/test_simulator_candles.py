"""Candle aggregation from a price path: buckets, gaps, `to` and calendar periods."""

from __future__ import annotations

import numpy as np

from tradebot.core.models import NANOS_PER_SECOND, CandleSeries
from tradebot.exchange.simulator.candles import DAY_NS, Period, aggregate, candle_documents, visible_end
from tradebot.exchange.simulator.pricepath import MINUTE_NS, PricePath

DAY0 = 20_534 * DAY_NS  # 2026-03-22 00:00 UTC, a Sunday


def sparse_path(minutes: list[int]) -> PricePath:
    count = len(minutes)
    close = 1000.0 + np.arange(count, dtype=np.float64)
    series = CandleSeries.checked(
        np.array([DAY0 + minute * MINUTE_NS for minute in minutes], dtype=np.int64),
        close - 1,
        close + 5,
        close - 5,
        close,
        np.ones(count),
    )
    return PricePath(series, interval_ns=MINUTE_NS)


def test_five_minute_buckets_skip_empty_intervals() -> None:
    path = sparse_path([0, 1, 2, 11, 12, 30])
    period = Period("minutes", 5)
    buckets = aggregate(path, period, len(path), 10)
    starts = [period.bucket_start_ns(int(bucket)) for bucket in buckets.ids]
    assert [(start - DAY0) // MINUTE_NS for start in starts] == [0, 10, 30]  # no zero-filled 5, 15, 20, 25
    assert list(buckets.open) == [999.0, 1002.0, 1004.0]
    assert list(buckets.close) == [1002.0, 1004.0, 1005.0]
    assert list(buckets.volume) == [3.0, 2.0, 1.0]


def test_to_is_exclusive_and_the_newest_bucket_may_be_partial() -> None:
    path = sparse_path(list(range(20)))
    period = Period("minutes", 5)
    end = visible_end(path, period, current_index=17, to_ns=DAY0 + 10 * MINUTE_NS)
    assert end == 10
    end = visible_end(path, period, current_index=17, to_ns=DAY0 + 16 * MINUTE_NS + 1)
    assert end == 18  # bucket 15 starts before `to`; it shows what exists up to now
    buckets = aggregate(path, period, end, 2)
    documents = candle_documents("KRW-X", period, path, buckets, 2, now_ns=DAY0 + 17 * MINUTE_NS)
    assert [document["candle_date_time_utc"] for document in documents] == [
        "2026-03-22T00:15:00",
        "2026-03-22T00:10:00",
    ]
    assert documents[0]["candle_acc_trade_volume"] == 3.0


def test_calendar_periods_start_on_monday_and_the_first_of_the_month() -> None:
    sunday = np.array([DAY0 + 12 * 3600 * NANOS_PER_SECOND], dtype=np.int64)
    week = Period("weeks")
    assert (week.bucket_start_ns(int(week.bucket_ids(sunday)[0])) - DAY0) // DAY_NS == -6  # Monday 16th
    month = Period("months")
    assert (DAY0 - month.bucket_start_ns(int(month.bucket_ids(sunday)[0]))) // DAY_NS == 21
    year = Period("years")
    assert year.bucket_start_ns(int(year.bucket_ids(sunday)[0])) == 20_454 * DAY_NS  # 2026-01-01


def test_day_candles_carry_the_previous_close() -> None:
    path = sparse_path([0, 1, 1440, 1441])
    period = Period("days")
    buckets = aggregate(path, period, len(path), 2)
    documents = candle_documents("KRW-X", period, path, buckets, 1, now_ns=DAY0 + 1442 * MINUTE_NS)
    assert len(documents) == 1
    assert documents[0]["prev_closing_price"] == 1001.0
    assert documents[0]["change_price"] == 2.0
    assert Period("minutes", 3).supported_by(MINUTE_NS)
    assert not Period("minutes", 5).supported_by(15 * MINUTE_NS)
