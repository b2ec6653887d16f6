"""Ticker and recent trades derived from a price path (upbit-api.md §2.4, §2.6).

Each base candle stands for one trade at its close, at the candle's last millisecond (or now, for
the candle in progress: at the price so far, with the volume so far). Daily figures reset at
00:00 UTC, as Upbit's do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from tradebot.core.models import FloatArray, IntArray
from tradebot.exchange.simulator.candles import DAY_NS
from tradebot.exchange.simulator.formatting import NANOS_PER_MILLI, millis, nanos_to_utc
from tradebot.exchange.simulator.pricepath import Forming, PricePath

YEAR_NS = 365 * DAY_NS
SEQUENCE_PER_MILLI = 10_000  # sequential_id = trade ms x 10,000, as in the recorded ticks


@dataclass(frozen=True, slots=True)
class TradeQuery:
    """Which trades `/v1/trades/ticks` asks for: before `upper_ns`, from `lower_ns`, below `cursor`."""

    count: int
    upper_ns: int | None = None
    lower_ns: int | None = None
    cursor: int | None = None


def trade_times(path: PricePath, first: int, end: int, now_ns: int) -> IntArray:
    """The time of the trade each base candle in `[first, end)` stands for."""
    last_ms = path.start_ns[first:end] + path.interval_ns - NANOS_PER_MILLI
    return np.asarray(np.minimum(last_ms, now_ns))


def previous_close(path: PricePath, moment_ns: IntArray) -> IntArray:
    """Index of the candle whose close is the previous day's close for each moment (or -1)."""
    day_start = (moment_ns // DAY_NS) * DAY_NS
    return np.asarray(np.searchsorted(path.start_ns, day_start, side="left") - 1)


class _Current(NamedTuple):
    """The current base candle as far as it has traded by now."""

    candle: int
    price: float
    high: float
    low: float
    volume: float


def _current(path: PricePath, index: int, forming: Forming | None) -> _Current:
    if forming is None or forming.index != index:
        values = (path.close[index], path.high[index], path.low[index], path.volume[index])
        return _Current(index, *(float(value) for value in values))
    volume = float(path.volume[index]) * forming.share
    return _Current(index, forming.price, forming.high, forming.low, volume)


def ticker_document(
    market: str, path: PricePath, index: int, now_ns: int, forming: Forming | None = None
) -> dict[str, object]:
    """Upbit's ticker object for the candle at `index` (the current one, as traded by now)."""
    day_first = int(np.searchsorted(path.start_ns, (now_ns // DAY_NS) * DAY_NS, side="left"))
    today = slice(min(day_first, index), index + 1)
    last_24h = slice(int(np.searchsorted(path.start_ns, now_ns - DAY_NS, side="right")), index + 1)
    year = slice(int(np.searchsorted(path.start_ns, now_ns - YEAR_NS, side="right")), index + 1)
    current = _current(path, index, forming)
    price = current.price
    previous = float(path.close[day_first - 1]) if day_first > 0 else float(path.open[0])
    trade_ns = int(trade_times(path, index, index + 1, now_ns)[0])
    trade_moment = nanos_to_utc(trade_ns)
    kst_moment = nanos_to_utc(trade_ns + 9 * 3600 * 10**9)
    change = price - previous
    return {
        "market": market,
        "trade_date": trade_moment.strftime("%Y%m%d"),
        "trade_time": trade_moment.strftime("%H%M%S"),
        "trade_date_kst": kst_moment.strftime("%Y%m%d"),
        "trade_time_kst": kst_moment.strftime("%H%M%S"),
        "trade_timestamp": millis(trade_ns),
        "opening_price": float(path.open[today.start]),
        "high_price": _extreme(path.high, today, current.high, highest=True)[0],
        "low_price": _extreme(path.low, today, current.low, highest=False)[0],
        "trade_price": price,
        "prev_closing_price": previous,
        "change": "RISE" if change > 0 else "FALL" if change < 0 else "EVEN",
        "change_price": abs(change),
        "change_rate": round(abs(change) / previous, 10),
        "signed_change_price": change,
        "signed_change_rate": round(change / previous, 10),
        "trade_volume": current.volume,
        "acc_trade_price": _turnover(path, today, current),
        "acc_trade_price_24h": _turnover(path, last_24h, current),
        "acc_trade_volume": _volume(path, today, current),
        "acc_trade_volume_24h": _volume(path, last_24h, current),
        **_year_extremes(path, year, current),
        "timestamp": millis(now_ns),
    }


def _extreme(values: FloatArray, window: slice, current: float, *, highest: bool) -> tuple[float, int]:
    """The highest (lowest) of `window`, whose last candle counts as `current`; and its index."""
    earlier = values[window.start : window.stop - 1]
    if earlier.shape[0] == 0:
        return current, window.stop - 1
    position = window.start + int(np.argmax(earlier) if highest else np.argmin(earlier))
    found = float(values[position])
    beaten = current > found if highest else current < found
    return (current, window.stop - 1) if beaten else (found, position)


def _year_extremes(path: PricePath, year: slice, current: _Current) -> dict[str, object]:
    highest, high_at = _extreme(path.high, year, current.high, highest=True)
    lowest, low_at = _extreme(path.low, year, current.low, highest=False)
    return {
        "highest_52_week_price": highest,
        "highest_52_week_date": nanos_to_utc(int(path.start_ns[high_at])).date().isoformat(),
        "lowest_52_week_price": lowest,
        "lowest_52_week_date": nanos_to_utc(int(path.start_ns[low_at])).date().isoformat(),
    }


def _turnover(path: PricePath, window: slice, current: _Current) -> float:
    earlier = slice(window.start, window.stop - 1)
    total = float(np.sum(path.close[earlier] * path.volume[earlier]))
    if window.start <= current.candle:
        total += current.price * current.volume
    return round(total, 8)


def _volume(path: PricePath, window: slice, current: _Current) -> float:
    total = float(np.sum(path.volume[window.start : window.stop - 1]))
    return round(total + current.volume if window.start <= current.candle else total, 8)


def trade_documents(
    market: str,
    path: PricePath,
    index: int,
    now_ns: int,
    query: TradeQuery,
    forming: Forming | None = None,
) -> list[dict[str, object]]:
    """Up to `query.count` trades, newest first, matching the query's bounds."""
    end = index + 1
    first = 0 if query.lower_ns is None else int(np.searchsorted(path.start_ns, query.lower_ns, side="left"))
    if query.upper_ns is None and query.cursor is None:
        first = max(first, end - query.count)
    times = trade_times(path, first, end, now_ns) if end > first else np.zeros(0, dtype=np.int64)
    wanted = np.ones(times.shape[0], dtype=bool)
    if query.upper_ns is not None:
        wanted &= times < query.upper_ns
    if query.cursor is not None:
        wanted &= (times // NANOS_PER_MILLI) * SEQUENCE_PER_MILLI < query.cursor
    chosen = (np.flatnonzero(wanted) + first)[::-1][: query.count]
    closes = previous_close(path, times[chosen - first]) if len(chosen) else chosen
    current = _current(path, index, forming)
    return [
        _trade(market, path, int(position), int(closing), now_ns, current)
        for position, closing in zip(chosen, closes, strict=True)
    ]


def _trade(
    market: str, path: PricePath, position: int, closing: int, now_ns: int, current: _Current
) -> dict[str, object]:
    trade_ns = int(trade_times(path, position, position + 1, now_ns)[0])
    moment = nanos_to_utc(trade_ns)
    now_trading = position == current.candle
    price = current.price if now_trading else float(path.close[position])
    volume = current.volume if now_trading else float(path.volume[position])
    previous = float(path.close[closing]) if closing >= 0 else float(path.open[0])
    return {
        "market": market,
        "trade_date_utc": moment.date().isoformat(),
        "trade_time_utc": moment.strftime("%H:%M:%S"),
        "timestamp": millis(trade_ns),
        "trade_price": price,
        "trade_volume": volume,
        "prev_closing_price": previous,
        "change_price": price - previous,
        "ask_bid": "ASK" if price < path.open[position] else "BID",
        "sequential_id": millis(trade_ns) * SEQUENCE_PER_MILLI,
    }
