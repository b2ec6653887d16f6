"""Candles, intervals and candle series: the values every layer passes around."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from tradebot.core.errors import CandleDataError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

NANOS_PER_SECOND = 1_000_000_000
INTERVAL_SAMPLE = 100_001


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Interval(StrEnum):
    """Candle intervals the bot trades on, named as in TRADING_RULES.md."""

    MINUTE1 = "minute1"
    MINUTE3 = "minute3"
    MINUTE5 = "minute5"
    MINUTE10 = "minute10"
    MINUTE15 = "minute15"
    MINUTE30 = "minute30"
    MINUTE60 = "minute60"
    MINUTE240 = "minute240"
    DAY = "day"

    @property
    def seconds(self) -> int:
        """Length of one candle in seconds."""
        if self is Interval.DAY:
            return 86_400
        return int(self.value.removeprefix("minute")) * 60

    @property
    def duration(self) -> timedelta:
        """Length of one candle."""
        return timedelta(seconds=self.seconds)

    def floor(self, moment: datetime) -> datetime:
        """Start of the candle containing `moment` (Upbit's candles align to UTC multiples)."""
        return EPOCH + ((moment - EPOCH) // self.duration) * self.duration

    @classmethod
    def from_seconds(cls, seconds: int) -> Interval | None:
        """The interval lasting exactly `seconds`, or None."""
        for interval in cls:
            if interval.seconds == seconds:
                return interval
        return None


@dataclass(frozen=True, slots=True)
class Candle:
    """One OHLCV candle, identified by its start time (aware UTC)."""

    start: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.start.utcoffset() != timedelta(0):
            raise CandleDataError(f"candle start {self.start!r} must be an aware UTC datetime")

    def is_closed(self, interval: Interval, now: datetime) -> bool:
        """True once `now >= start + interval` (TRADING_RULES.md, Candles)."""
        return now >= self.start + interval.duration


def nanos_to_datetime(nanos: int) -> datetime:
    """Epoch nanoseconds to an aware UTC datetime (microsecond precision)."""
    return datetime.fromtimestamp(nanos // 1000 / 1_000_000, tz=UTC)


def datetime_to_nanos(moment: datetime) -> int:
    """Aware datetime to epoch nanoseconds."""
    if moment.tzinfo is None:
        raise CandleDataError(f"{moment!r} is a naive datetime; times must be aware UTC")
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * NANOS_PER_SECOND + delta.microseconds * 1000


def isoformat_utc(nanos: int) -> str:
    """Epoch nanoseconds as ISO-8601 UTC, e.g. `2024-01-01T00:00:00+00:00`."""
    return nanos_to_datetime(nanos).isoformat()


@dataclass(frozen=True, slots=True)
class CandleSeries:
    """Closed candles as parallel numpy arrays, sorted by start, each start unique.

    `start_ns` holds candle starts as UTC epoch nanoseconds. Construct with `CandleSeries.checked`
    to validate untrusted data; the plain constructor trusts its caller.
    """

    start_ns: IntArray
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray

    def __len__(self) -> int:
        return int(self.start_ns.shape[0])

    @classmethod
    def checked(
        cls,
        start_ns: IntArray,
        open_: FloatArray,
        high: FloatArray,
        low: FloatArray,
        close: FloatArray,
        volume: FloatArray,
    ) -> CandleSeries:
        """Build a series, refusing unsorted or duplicate starts and impossible prices."""
        series = cls(
            np.ascontiguousarray(start_ns, dtype=np.int64),
            np.ascontiguousarray(open_, dtype=np.float64),
            np.ascontiguousarray(high, dtype=np.float64),
            np.ascontiguousarray(low, dtype=np.float64),
            np.ascontiguousarray(close, dtype=np.float64),
            np.ascontiguousarray(volume, dtype=np.float64),
        )
        _check_lengths(series)
        _check_order(series.start_ns)
        _check_prices(series)
        return series

    def candle(self, index: int) -> Candle:
        """The candle at `index` as a `Candle` value."""
        return Candle(
            start=nanos_to_datetime(int(self.start_ns[index])),
            open=float(self.open[index]),
            high=float(self.high[index]),
            low=float(self.low[index]),
            close=float(self.close[index]),
            volume=float(self.volume[index]),
        )


def _check_lengths(series: CandleSeries) -> None:
    lengths = {len(column) for column in _price_columns(series).values()}
    lengths.add(len(series.start_ns))
    if len(lengths) != 1:
        raise CandleDataError("candle columns have different lengths")
    if len(series) == 0:
        raise CandleDataError("no candles in the data")


def _check_order(start_ns: IntArray) -> None:
    steps = np.diff(start_ns)
    duplicates = np.flatnonzero(steps == 0)
    if duplicates.size:
        moment = isoformat_utc(int(start_ns[duplicates[0]]))
        raise CandleDataError(f"duplicate candle start {moment} (row {duplicates[0] + 2})")
    backwards = np.flatnonzero(steps < 0)
    if backwards.size:
        row = int(backwards[0]) + 1
        moment = isoformat_utc(int(start_ns[row]))
        raise CandleDataError(f"candle starts are not sorted: row {row + 1} ({moment}) goes back in time")


def _price_columns(series: CandleSeries) -> dict[str, FloatArray]:
    return {
        "open": series.open,
        "high": series.high,
        "low": series.low,
        "close": series.close,
        "volume": series.volume,
    }


def _check_prices(series: CandleSeries) -> None:
    for name, column in _price_columns(series).items():
        bad = np.flatnonzero(~np.isfinite(column))
        if bad.size:
            raise CandleDataError(f"{name} is NaN or infinite at row {bad[0] + 1}")
        floor_ok = column >= 0 if name == "volume" else column > 0
        bad = np.flatnonzero(~floor_ok)
        if bad.size:
            raise CandleDataError(f"{name} must be positive; row {bad[0] + 1} has {column[bad[0]]}")
    top = np.maximum(series.open, series.close)
    bottom = np.minimum(series.open, series.close)
    bad = np.flatnonzero((series.high < top) | (series.low > bottom))
    if bad.size:
        row = int(bad[0])
        raise CandleDataError(
            f"row {row + 1} is not a valid candle: high {series.high[row]} / low {series.low[row]} "
            f"do not contain open {series.open[row]} and close {series.close[row]}"
        )


@dataclass(frozen=True, slots=True)
class Gap:
    """A hole in a candle series: no candle between two consecutive starts."""

    after_ns: int
    before_ns: int
    missing: int


def infer_interval(start_ns: IntArray) -> Interval | None:
    """The interval most consecutive starts are apart by, or None if it is not a known one."""
    if start_ns.shape[0] < 2:
        return None
    steps = np.diff(start_ns[:INTERVAL_SAMPLE])  # the mode of a large sample is the mode
    values, counts = np.unique(steps, return_counts=True)
    step = int(values[int(np.argmax(counts))])
    if step % NANOS_PER_SECOND:
        return None
    return Interval.from_seconds(step // NANOS_PER_SECOND)


def find_gaps(start_ns: IntArray, interval: Interval) -> list[Gap]:
    """Every place where consecutive starts are more than one interval apart."""
    step = interval.seconds * NANOS_PER_SECOND
    steps = np.diff(start_ns)
    holes = np.flatnonzero(steps > step)
    return [
        Gap(
            after_ns=int(start_ns[i]),
            before_ns=int(start_ns[i + 1]),
            missing=int(steps[i] // step) - 1,
        )
        for i in holes
    ]
