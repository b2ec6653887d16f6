"""Ticker and recent trades derived from a price path (upbit-api.md §2.4, §2.6).

Each base candle stands for one trade at its close, at the candle's last millisecond (or now, for
the candle in progress). Daily figures reset at 00:00 UTC, as Upbit's do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tradebot.core.models import IntArray
from tradebot.exchange.simulator.candles import DAY_NS
from tradebot.exchange.simulator.formatting import NANOS_PER_MILLI, millis, nanos_to_utc
from tradebot.exchange.simulator.pricepath import PricePath

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


def ticker_document(market: str, path: PricePath, index: int, now_ns: int) -> dict[str, object]:
    """Upbit's ticker object for the candle at `index` (the current one)."""
    day_first = int(np.searchsorted(path.start_ns, (now_ns // DAY_NS) * DAY_NS, side="left"))
    today = slice(min(day_first, index), index + 1)
    last_24h = slice(int(np.searchsorted(path.start_ns, now_ns - DAY_NS, side="right")), index + 1)
    year = slice(int(np.searchsorted(path.start_ns, now_ns - YEAR_NS, side="right")), index + 1)
    price = float(path.close[index])
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
        "high_price": float(np.max(path.high[today])),
        "low_price": float(np.min(path.low[today])),
        "trade_price": price,
        "prev_closing_price": previous,
        "change": "RISE" if change > 0 else "FALL" if change < 0 else "EVEN",
        "change_price": abs(change),
        "change_rate": round(abs(change) / previous, 10),
        "signed_change_price": change,
        "signed_change_rate": round(change / previous, 10),
        "trade_volume": float(path.volume[index]),
        "acc_trade_price": _turnover(path, today),
        "acc_trade_price_24h": _turnover(path, last_24h),
        "acc_trade_volume": round(float(np.sum(path.volume[today])), 8),
        "acc_trade_volume_24h": round(float(np.sum(path.volume[last_24h])), 8),
        **_year_extremes(path, year),
        "timestamp": millis(now_ns),
    }


def _year_extremes(path: PricePath, year: slice) -> dict[str, object]:
    highest = year.start + int(np.argmax(path.high[year]))
    lowest = year.start + int(np.argmin(path.low[year]))
    return {
        "highest_52_week_price": float(path.high[highest]),
        "highest_52_week_date": nanos_to_utc(int(path.start_ns[highest])).date().isoformat(),
        "lowest_52_week_price": float(path.low[lowest]),
        "lowest_52_week_date": nanos_to_utc(int(path.start_ns[lowest])).date().isoformat(),
    }


def _turnover(path: PricePath, window: slice) -> float:
    return round(float(np.sum(path.close[window] * path.volume[window])), 8)


def trade_documents(
    market: str, path: PricePath, index: int, now_ns: int, query: TradeQuery
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
    return [
        _trade(market, path, int(position), int(closing), now_ns)
        for position, closing in zip(chosen, closes, strict=True)
    ]


def _trade(market: str, path: PricePath, position: int, closing: int, now_ns: int) -> dict[str, object]:
    trade_ns = int(trade_times(path, position, position + 1, now_ns)[0])
    moment = nanos_to_utc(trade_ns)
    price = float(path.close[position])
    previous = float(path.close[closing]) if closing >= 0 else float(path.open[0])
    return {
        "market": market,
        "trade_date_utc": moment.date().isoformat(),
        "trade_time_utc": moment.strftime("%H:%M:%S"),
        "timestamp": millis(trade_ns),
        "trade_price": price,
        "trade_volume": float(path.volume[position]),
        "prev_closing_price": previous,
        "change_price": price - previous,
        "ask_bid": "ASK" if path.close[position] < path.open[position] else "BID",
        "sequential_id": millis(trade_ns) * SEQUENCE_PER_MILLI,
    }
