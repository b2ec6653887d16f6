"""Indicators: array and incremental forms agree bit for bit, and match pandas and TA-Lib."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from tradebot.core.indicators import (
    EmaState,
    IndicatorState,
    SmaState,
    ema_alpha,
    ema_array,
    macd_arrays,
    sma_array,
)
from tradebot.core.models import FloatArray

from .talib_reference import TALIB_DAILY_CLOSES, TALIB_MACD_12_26_9


def random_prices(seed: int, count: int = 3000) -> FloatArray:
    """A KRW-like walk with flat stretches (where float ties matter most) and a price jump."""
    generator = np.random.default_rng(seed)
    prices = np.round(50_000 * np.exp(np.cumsum(generator.normal(0, 0.004, count))), -1)
    prices[400:520] = prices[400]  # flat market: EMAs converge onto the price exactly
    prices[1500:] *= 1000  # a scale change mid-series
    return prices


@pytest.mark.parametrize("period", [2, 3, 9, 12, 26, 50, 200])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_ema_incremental_any_series_equals_array_bit_for_bit(period: int, seed: int) -> None:
    prices = random_prices(seed)
    state = EmaState(period)
    incremental = np.array([state.update(float(price)) for price in prices])
    assert np.array_equal(incremental, ema_array(prices, period))


@pytest.mark.parametrize("period", [3, 12, 26])
def test_ema_array_any_series_equals_pandas_ewm_span_adjust_false(period: int) -> None:
    prices = random_prices(11)
    expected = pd.Series(prices).ewm(span=period, adjust=False).mean().to_numpy()
    assert np.array_equal(ema_array(prices, period), expected)


def test_ema_textbook_recurrence_agrees_to_rounding() -> None:
    prices = random_prices(5)
    alpha = 2 / (26 + 1)
    textbook = [float(prices[0])]
    for price in prices[1:]:
        textbook.append(textbook[-1] + alpha * (float(price) - textbook[-1]))
    np.testing.assert_allclose(ema_array(prices, 26), textbook, rtol=1e-12)
    assert ema_alpha(26) == pytest.approx(alpha, rel=1e-15)


def test_ema_first_value_seeds_series() -> None:
    state = EmaState(12)
    assert state.update(123.5) == 123.5
    assert ema_array(np.array([123.5, 123.5]), 12)[0] == 123.5


def test_ema_flat_prices_stay_exactly_flat() -> None:
    prices = np.full(500, 0.00012345)
    assert np.all(ema_array(prices, 26) == 0.00012345)


@pytest.mark.parametrize("period", [20, 60])
def test_sma_incremental_equals_array_and_is_nan_until_full(period: int) -> None:
    prices = random_prices(7)
    state = SmaState(period)
    incremental = np.array([state.update(float(price)) for price in prices])
    array = sma_array(prices, period)
    assert np.all(np.isnan(array[: period - 1]))
    assert np.array_equal(incremental, array, equal_nan=True)
    np.testing.assert_allclose(
        array[period - 1 :], pd.Series(prices).rolling(period).mean()[period - 1 :], rtol=1e-12
    )


def test_sma_shorter_series_than_period_all_nan() -> None:
    assert np.all(np.isnan(sma_array(np.array([1.0, 2.0]), 20)))


def test_indicator_state_one_candle_at_a_time_equals_arrays() -> None:
    prices = random_prices(9)
    arrays = macd_arrays(prices, 12, 26, 9)
    state = IndicatorState(12, 26, 9)
    rows = [state.update(float(price), float(price)) for price in prices]
    assert np.array_equal([row.macd for row in rows], arrays.macd)
    assert np.array_equal([row.signal for row in rows], arrays.signal)
    assert np.array_equal([row.hist for row in rows], arrays.hist)
    assert np.array_equal([row.ma20 for row in rows], sma_array(prices, 20), equal_nan=True)
    assert state.candles_seen == prices.shape[0]


def test_macd_talib_reference_series_matches_published_values_after_convergence() -> None:
    closes = np.array(TALIB_DAILY_CLOSES)
    assert closes.shape[0] == 252
    arrays = macd_arrays(closes, 12, 26, 9)
    for bar, (macd, signal) in TALIB_MACD_12_26_9.items():
        assert math.isclose(arrays.macd[bar], macd, abs_tol=1e-5), bar
        assert math.isclose(arrays.signal[bar], signal, abs_tol=1e-5), bar
    # TA-Lib's published figures at the last bar, to the 6 decimals it prints.
    assert round(arrays.macd[251], 6) == 0.904009
    assert round(arrays.signal[251], 6) == 1.404594
    assert round(arrays.hist[251], 6) == round(0.904009 - 1.404594, 6)
