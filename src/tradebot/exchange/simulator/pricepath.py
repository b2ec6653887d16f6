"""One market's price path: the base candles every quotation and every fill is derived from.

A generated path is 1-minute candles of `generate_candles`, extended a day at a time as the clock
runs past its end; a replayed path is a candle file as it is (its own interval, gaps kept). The
candle containing "now" is the current one. Inside it the last trade price moves in a straight
line from the previous close (the first candle's open) at the candle's start to the candle's own
close at its end, on the KRW tick grid; past its end (a gap) the price stays at that close. So an
order sent as a candle closes trades at that candle's close, never at a close still to come.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from tradebot.core.errors import CandleDataError
from tradebot.core.krw_rules import MONEY, round_to_tick, to_decimal
from tradebot.core.models import NANOS_PER_SECOND, CandleSeries, Interval, infer_interval
from tradebot.exchange.simulator.formatting import nanos_to_utc
from tradebot.marketdata.synthetic import generate_candles

MINUTE_NS = 60 * NANOS_PER_SECOND
GENERATED_CHUNK = 1440  # candles added per extension: one day of minutes

# (first start in ns, start price, generation number, candle count) -> the next candles of the walk
Extender = Callable[[int, float, int, int], CandleSeries]


@dataclass(frozen=True, slots=True)
class Forming:
    """The current candle as far as it has traded by now (what quotations may show of it)."""

    index: int
    price: float  # the last trade price: the candle's close so far
    high: float
    low: float
    share: float  # elapsed part of the candle's interval, in [0, 1)


def nearest_tick(price: Decimal) -> Decimal:
    """The KRW grid price closest to `price` (the lower one on a tie)."""
    lower, upper = round_to_tick(price, up=False), round_to_tick(price, up=True)
    return upper if upper - price < price - lower else lower


class PricePath:
    """Base candles as mutable numpy arrays, sorted by start."""

    def __init__(self, series: CandleSeries, *, interval_ns: int, extender: Extender | None = None) -> None:
        self.interval_ns = interval_ns
        self._extender = extender
        self._generation = 0
        self._assign(series)

    def _assign(self, series: CandleSeries) -> None:
        self.start_ns = np.array(series.start_ns, dtype=np.int64)
        self.open = np.array(series.open, dtype=np.float64)
        self.high = np.array(series.high, dtype=np.float64)
        self.low = np.array(series.low, dtype=np.float64)
        self.close = np.array(series.close, dtype=np.float64)
        self.volume = np.array(series.volume, dtype=np.float64)

    def __len__(self) -> int:
        return int(self.start_ns.shape[0])

    @property
    def generated(self) -> bool:
        """True for a random walk (extended on demand and regenerated after a price is set)."""
        return self._extender is not None

    def index_at(self, nanos: int) -> int:
        """Index of the last candle starting at or before `nanos`; -1 before the first one."""
        self.ensure_covers(nanos)
        return int(np.searchsorted(self.start_ns, nanos, side="right")) - 1

    def price_at(self, index: int, nanos: int) -> Decimal:
        """The last trade price at `nanos` during (or, in a gap, after) candle `index`.

        The endpoints are the recorded prices as they are; only the points between them are
        snapped to the tick grid (and kept between the two endpoints).
        """
        end = to_decimal(float(self.close[index]))
        elapsed = nanos - int(self.start_ns[index])
        if elapsed >= self.interval_ns:
            return end
        begin = to_decimal(float(self.close[index - 1] if index > 0 else self.open[0]))
        if elapsed <= 0 or begin == end:
            return begin
        share = MONEY.divide(Decimal(elapsed), Decimal(self.interval_ns))
        moved = MONEY.add(begin, MONEY.multiply(MONEY.subtract(end, begin), share))
        return min(max(nearest_tick(moved), min(begin, end)), max(begin, end))

    def ensure_covers(self, nanos: int) -> None:
        """Extend a generated path until a candle starts after `nanos`."""
        if self._extender is None or int(self.start_ns[-1]) > nanos:
            return
        next_start = int(self.start_ns[-1]) + self.interval_ns
        # One extension covering the whole jump: appending day by day would copy the arrays
        # once per simulated day.
        count = (nanos - next_start) // self.interval_ns + GENERATED_CHUNK
        self._append(self._next_chunk(next_start, float(self.close[-1]), count))

    def override_close(self, index: int, price: float) -> None:
        """Make `price` the close of candle `index` (the current one); what follows continues from it.

        A generated path is regenerated from `price` on; a replayed one keeps its recorded future.
        """
        self.close[index] = price
        self.high[index] = max(self.high[index], price)
        self.low[index] = min(self.low[index], price)
        if self._extender is not None:
            keep = index + 1
            chunk = self._next_chunk(int(self.start_ns[index]) + self.interval_ns, price, GENERATED_CHUNK)
            self._truncate(keep)
            self._append(chunk)

    def _next_chunk(self, start_ns: int, price: float, count: int) -> CandleSeries:
        assert self._extender is not None
        self._generation += 1
        return self._extender(start_ns, price, self._generation, count)

    def _truncate(self, length: int) -> None:
        for name in ("start_ns", "open", "high", "low", "close", "volume"):
            setattr(self, name, getattr(self, name)[:length])

    def _append(self, series: CandleSeries) -> None:
        self.start_ns = np.concatenate([self.start_ns, series.start_ns])
        self.open = np.concatenate([self.open, series.open])
        self.high = np.concatenate([self.high, series.high])
        self.low = np.concatenate([self.low, series.low])
        self.close = np.concatenate([self.close, series.close])
        self.volume = np.concatenate([self.volume, series.volume])


def derived_seed(seed: int, market: str, generation: int) -> int:
    """A stable per-market, per-chunk seed, so markets differ and reruns repeat."""
    digest = hashlib.sha256(f"{seed}:{market}:{generation}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def generated_path(
    market: str, *, seed: int, first_start_ns: int, count: int, start_price: float
) -> PricePath:
    """A seeded 1-minute random walk of `count` candles from `first_start_ns`, extendable."""

    def extend(start_ns: int, price: float, generation: int, count: int) -> CandleSeries:
        return generate_candles(
            count,
            interval=Interval.MINUTE1,
            seed=derived_seed(seed, market, generation),
            start=nanos_to_utc(start_ns),
            start_price=price,
        )

    history = generate_candles(
        count,
        interval=Interval.MINUTE1,
        seed=derived_seed(seed, market, 0),
        start=nanos_to_utc(first_start_ns),
        start_price=start_price,
    )
    return PricePath(history, interval_ns=MINUTE_NS, extender=extend)


def replayed_path(series: CandleSeries) -> PricePath:
    """A candle file's candles as a fixed path; its interval is the most common spacing."""
    interval = infer_interval(series.start_ns)
    if interval is None:
        raise CandleDataError("cannot tell the candle interval (need two or more evenly spaced candles)")
    return PricePath(series, interval_ns=interval.seconds * NANOS_PER_SECOND)
