"""The seeded synthetic candle generator."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from tradebot.core.krw_rules import is_on_tick, tick_size, to_decimal
from tradebot.core.models import NANOS_PER_SECOND, CandleSeries, Interval, datetime_to_nanos, find_gaps
from tradebot.marketdata.synthetic import generate_candles, tick_sizes

FIELDS = ("start_ns", "open", "high", "low", "close", "volume")


def macd_crosses_per_thousand(close: np.ndarray) -> float:
    prices = pd.Series(close)
    macd = prices.ewm(span=12, adjust=False).mean() - prices.ewm(span=26, adjust=False).mean()
    histogram = (macd - macd.ewm(span=9, adjust=False).mean()).to_numpy()[100:]
    signs = np.sign(histogram[histogram != 0])
    return np.count_nonzero(np.diff(signs)) * 1000 / signs.size


def test_generate_candles_same_seed_gives_identical_arrays() -> None:
    first = generate_candles(2000, seed=42, gap_probability=0.1)
    second = generate_candles(2000, seed=42, gap_probability=0.1)

    for field in FIELDS:
        np.testing.assert_array_equal(getattr(first, field), getattr(second, field), strict=True)


def test_generate_candles_other_seed_gives_other_prices() -> None:
    assert not np.array_equal(generate_candles(500, seed=1).close, generate_candles(500, seed=2).close)


@pytest.mark.parametrize("interval", [Interval.MINUTE1, Interval.MINUTE15, Interval.DAY])
def test_generate_candles_output_passes_series_checks(interval: Interval) -> None:
    series = generate_candles(3000, interval=interval, seed=5, gap_probability=0.05)

    CandleSeries.checked(*(getattr(series, field) for field in FIELDS))
    assert len(series) == 3000
    assert series.start_ns.dtype == np.int64
    assert np.all(series.high >= np.maximum(series.open, series.close))
    assert np.all(series.low <= np.minimum(series.open, series.close))
    assert np.all(series.low > 0)
    assert np.all(series.volume > 0)


def test_generate_candles_open_is_previous_close() -> None:
    series = generate_candles(1000, start_price=12_345_678.0)

    assert series.open[0] == 12_346_000.0  # start price rounded to the 1,000 KRW tick
    np.testing.assert_array_equal(series.open[1:], series.close[:-1])


@pytest.mark.parametrize("start_price", [50_000_000.0, 1_000_000.0, 100_100.0, 5_003.0, 1.234, 0.0123])
def test_generate_candles_prices_sit_on_tick_grid(start_price: float) -> None:
    series = generate_candles(2000, seed=3, start_price=start_price)

    prices = np.concatenate([series.open, series.high, series.low, series.close])
    off_grid = [price for price in prices.tolist() if not is_on_tick(to_decimal(price))]
    assert off_grid == []


def test_tick_sizes_match_krw_rules_table() -> None:
    prices = [0.000005, 0.00001, 0.0005, 0.05, 0.5, 1.0, 9.99, 10.0, 100.0, 4999.0, 5000.0]
    prices += [9999.0, 10_000.0, 50_000.0, 99_999.0, 100_000.0, 500_000.0, 999_000.0, 1_000_000.0, 9e8]

    expected = [float(tick_size(Decimal(repr(price)))) for price in prices]
    assert tick_sizes(np.array(prices)).tolist() == expected


def test_generate_candles_without_gaps_spaces_starts_by_interval() -> None:
    start = datetime(2024, 3, 1, 6, 0, tzinfo=UTC)

    series = generate_candles(500, interval=Interval.MINUTE15, start=start)

    assert series.start_ns[0] == datetime_to_nanos(start)
    assert set(np.diff(series.start_ns).tolist()) == {15 * 60 * NANOS_PER_SECOND}


def test_generate_candles_gap_probability_drops_intervals() -> None:
    series = generate_candles(5000, interval=Interval.MINUTE3, gap_probability=0.2)

    steps = np.diff(series.start_ns) // (180 * NANOS_PER_SECOND)
    assert len(series) == 5000
    assert np.all(np.diff(series.start_ns) % (180 * NANOS_PER_SECOND) == 0)
    assert 0.1 < np.mean(steps > 1) < 0.3
    assert len(find_gaps(series.start_ns, Interval.MINUTE3)) > 100


def test_generate_candles_has_flat_stretches() -> None:
    series = generate_candles(10_000)

    unchanged = series.close[1:] == series.close[:-1]
    assert 0.005 < np.mean(unchanged) < 0.2
    assert np.any(unchanged[:-2] & unchanged[1:-1] & unchanged[2:])  # several candles in a row


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_generate_candles_macd_crosses_at_realistic_rate(seed: int) -> None:
    # Real Upbit KRW 1m-60m series show 70-85 MACD(12,26,9) crosses per 1,000 candles.
    rate = macd_crosses_per_thousand(generate_candles(10_000, seed=seed).close)

    assert 30 < rate < 120


def test_generate_candles_volatility_scales_with_interval() -> None:
    minute = np.diff(np.log(generate_candles(5000, interval=Interval.MINUTE1).close)).std()
    hour = np.diff(np.log(generate_candles(5000, interval=Interval.MINUTE60).close)).std()

    assert 4 < hour / minute < 15  # about sqrt(60) = 7.7


def test_generate_candles_single_candle_works() -> None:
    series = generate_candles(1, start_price=1000.0)

    assert len(series) == 1
    assert series.open[0] == 1000.0


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"count": 0}, "count must be a whole number >= 1"),
        ({"count": -5}, "count must be a whole number >= 1"),
        ({"count": 2.5}, "count must be a whole number >= 1"),
        ({"count": True}, "count must be a whole number >= 1"),
        ({"start_price": 0.0}, "start_price must be a positive number"),
        ({"start_price": -100.0}, "start_price must be a positive number"),
        ({"start_price": math.nan}, "start_price must be a positive number"),
        ({"start_price": math.inf}, "start_price must be a positive number"),
        ({"gap_probability": -0.1}, r"gap_probability must be in \[0, 1\)"),
        ({"gap_probability": 1.0}, r"gap_probability must be in \[0, 1\)"),
        ({"gap_probability": math.nan}, r"gap_probability must be in \[0, 1\)"),
        ({"start": datetime(2024, 1, 1)}, "start must be an aware datetime"),  # noqa: DTZ001
    ],
)
def test_generate_candles_bad_argument_raises(arguments: dict[str, object], message: str) -> None:
    call: dict[str, object] = {"count": 10} | arguments

    with pytest.raises(ValueError, match=message):
        generate_candles(**call)  # type: ignore[arg-type]
