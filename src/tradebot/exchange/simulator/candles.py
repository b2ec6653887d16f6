"""Candles of every unit aggregated from a price path (upbit-api.md §2.1, §2.3).

A candle exists only where the path has a base candle (sparse stays sparse). Minute and day
buckets are aligned on the UTC epoch, weeks start on Monday 00:00 UTC, months and years on their
first day. Responses are newest first; the newest candle may still be in progress, and then it
shows only what has traded so far (close, high, low and volume up to now).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from tradebot.core.models import NANOS_PER_SECOND, FloatArray, IntArray
from tradebot.exchange.simulator.formatting import candle_times, millis, nanos_to_utc
from tradebot.exchange.simulator.pricepath import Forming, PricePath

DAY_NS = 86_400 * NANOS_PER_SECOND
MINUTE_UNITS = frozenset({1, 3, 5, 10, 15, 30, 60, 240})
_LONGEST_NS = {"weeks": 7 * DAY_NS, "months": 31 * DAY_NS, "years": 366 * DAY_NS}
_CALENDAR_UNIT = {"months": "M", "years": "Y"}


@dataclass(frozen=True, slots=True)
class Period:
    """A candle size: `minutes` (with a unit), `days`, `weeks`, `months` or `years`."""

    kind: str
    unit: int = 0

    @property
    def longest_ns(self) -> int:
        """The longest a bucket of this period can be."""
        if self.kind == "minutes":
            return self.unit * 60 * NANOS_PER_SECOND
        return _LONGEST_NS.get(self.kind, DAY_NS)

    def supported_by(self, base_interval_ns: int) -> bool:
        """True when whole base candles make up each bucket."""
        if self.kind == "minutes":
            return self.longest_ns % base_interval_ns == 0
        return DAY_NS % base_interval_ns == 0

    def bucket_ids(self, start_ns: IntArray) -> IntArray:
        """The bucket number of every start; increasing with time."""
        if self.kind in _CALENDAR_UNIT:
            calendar = start_ns.astype("datetime64[ns]").astype(f"datetime64[{_CALENDAR_UNIT[self.kind]}]")
            return calendar.astype(np.int64)
        if self.kind == "weeks":
            # Day 0 (1970-01-01) was a Thursday; shifting by 3 days puts week starts on Monday.
            return np.asarray((start_ns // DAY_NS + 3) // 7)
        return np.asarray(start_ns // self.longest_ns)

    def bucket_start_ns(self, bucket: int) -> int:
        """Epoch nanoseconds at which bucket number `bucket` starts."""
        if self.kind in _CALENDAR_UNIT:
            calendar = np.array([bucket], dtype=np.int64).astype(f"datetime64[{_CALENDAR_UNIT[self.kind]}]")
            return int(calendar.astype("datetime64[ns]").astype(np.int64)[0])
        if self.kind == "weeks":
            return (bucket * 7 - 3) * DAY_NS
        return bucket * self.longest_ns


@dataclass(frozen=True, slots=True)
class Buckets:
    """Aggregated candles, oldest first; `first`/`last` index the base candles of each."""

    ids: IntArray
    first: IntArray
    last: IntArray
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray
    turnover: FloatArray

    def __len__(self) -> int:
        return int(self.ids.shape[0])


def visible_end(path: PricePath, period: Period, current_index: int, to_ns: int | None) -> int:
    """How many base candles may show: those up to now, in buckets starting before `to`."""
    end = current_index + 1
    if to_ns is not None:
        cutoff = int(period.bucket_ids(np.array([to_ns - 1], dtype=np.int64))[0])
        limit = int(np.searchsorted(path.start_ns, period.bucket_start_ns(cutoff + 1), side="left"))
        end = min(end, limit)
    return max(end, 0)


def aggregate(path: PricePath, period: Period, end: int, count: int) -> Buckets:
    """The newest `count` buckets made of base candles `[0, end)`."""
    per_bucket = max(1, math.ceil(period.longest_ns / path.interval_ns))
    span = (count + 1) * per_bucket
    while True:
        begin = max(0, end - span)
        ids = period.bucket_ids(path.start_ns[begin:end])
        firsts = (
            np.concatenate([[0], np.flatnonzero(np.diff(ids)) + 1]).astype(np.int64) if end > begin else ids
        )
        # The oldest bucket of the slice may be cut off; it counts only if the slice starts at 0.
        complete = len(firsts) - (1 if begin > 0 else 0)
        if complete >= count or begin == 0:
            break
        span *= 2
    available = firsts[1:] if begin > 0 else firsts
    return _reduce(path, begin, end, ids, available[-count:])


def _reduce(path: PricePath, begin: int, end: int, ids: IntArray, firsts: IntArray) -> Buckets:
    if len(firsts) == 0:
        empty = np.zeros(0)
        nothing = np.zeros(0, dtype=np.int64)
        return Buckets(nothing, nothing, nothing, empty, empty, empty, empty, empty, empty)
    lo = begin + int(firsts[0])
    relative = firsts - firsts[0]
    lasts = np.concatenate([relative[1:] - 1, [end - lo - 1]]).astype(np.int64)
    window = slice(lo, end)
    return Buckets(
        ids=ids[firsts],
        first=relative + lo,
        last=lasts + lo,
        open=path.open[window][relative],
        high=np.maximum.reduceat(path.high[window], relative),
        low=np.minimum.reduceat(path.low[window], relative),
        close=path.close[window][lasts],
        volume=np.add.reduceat(path.volume[window], relative),
        turnover=np.add.reduceat(path.close[window] * path.volume[window], relative),
    )


def with_forming(path: PricePath, buckets: Buckets, forming: Forming | None) -> Buckets:
    """`buckets` with the newest one cut to now when it holds the candle in progress."""
    if forming is None or len(buckets) == 0 or int(buckets.last[-1]) != forming.index:
        return buckets
    earlier = slice(int(buckets.first[-1]), forming.index)
    volume_so_far = float(path.volume[forming.index]) * forming.share
    high, low, close = buckets.high.copy(), buckets.low.copy(), buckets.close.copy()
    volume, turnover = buckets.volume.copy(), buckets.turnover.copy()
    high[-1] = max(float(np.max(path.high[earlier], initial=-math.inf)), forming.high)
    low[-1] = min(float(np.min(path.low[earlier], initial=math.inf)), forming.low)
    close[-1] = forming.price
    volume[-1] = float(np.sum(path.volume[earlier])) + volume_so_far
    turnover[-1] = float(np.sum(path.close[earlier] * path.volume[earlier])) + forming.price * volume_so_far
    return replace(buckets, high=high, low=low, close=close, volume=volume, turnover=turnover)


def candle_documents(
    market: str, period: Period, path: PricePath, buckets: Buckets, count: int, now_ns: int
) -> list[dict[str, object]]:
    """Upbit's candle objects for the newest `count` buckets, newest first (§2.3).

    Aggregate one bucket more than `count`: the one before the oldest supplies a day candle's
    previous close.
    """
    oldest = max(0, len(buckets) - count)
    return [
        _candle(market, period, path, buckets, position, now_ns)
        for position in range(len(buckets) - 1, oldest - 1, -1)
    ]


def _candle(
    market: str, period: Period, path: PricePath, buckets: Buckets, position: int, now_ns: int
) -> dict[str, object]:
    start_ns = period.bucket_start_ns(int(buckets.ids[position]))
    utc, kst = candle_times(start_ns)
    last_tick_ns = min(int(path.start_ns[buckets.last[position]]) + path.interval_ns - 1_000_000, now_ns)
    close = float(buckets.close[position])
    document: dict[str, object] = {
        "market": market,
        "candle_date_time_utc": utc,
        "candle_date_time_kst": kst,
        "opening_price": float(buckets.open[position]),
        "high_price": float(buckets.high[position]),
        "low_price": float(buckets.low[position]),
        "trade_price": close,
        "timestamp": millis(last_tick_ns),
        "candle_acc_trade_price": round(float(buckets.turnover[position]), 8),
        "candle_acc_trade_volume": round(float(buckets.volume[position]), 8),
    }
    if period.kind == "minutes":
        document["unit"] = period.unit
    elif period.kind == "days":
        previous = float(buckets.close[position - 1]) if position > 0 else float(buckets.open[position])
        document["prev_closing_price"] = previous
        document["change_price"] = close - previous
        document["change_rate"] = round((close - previous) / previous, 10)
    else:
        document["first_day_of_period"] = nanos_to_utc(start_ns).date().isoformat()
    return document
