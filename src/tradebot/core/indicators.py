"""EMA, MACD and simple moving averages, over whole arrays and one candle at a time.

Both forms perform the same floating-point operations in the same order, so they agree
bit for bit: a backtest and a live run that start on the same candle see identical values
(TRADING_RULES.md, Indicators). The EMA is pandas' `ewm(adjust=False)` recurrence

    w[0] = x[0];  w[i] = ((1 - a) * w[i-1] + a * x[i]) / ((1 - a) + a)  (skipped when w == x)

with `a = 1 / (1 + (n - 1) / 2)` (= 2 / (n + 1)), which is exactly what pandas computes; the array
form calls pandas' compiled loop and the incremental form repeats it in Python.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tradebot.core.models import FloatArray

NAN = float("nan")


def ema_alpha(period: int) -> float:
    """Smoothing factor 2 / (period + 1), computed the way pandas derives it from a span."""
    center_of_mass = (period - 1) / 2
    return 1.0 / (1.0 + center_of_mass)


def ema_array(values: FloatArray, period: int) -> FloatArray:
    """EMA seeded with the first value (pandas `ewm(span=period, adjust=False).mean()`)."""
    series = pd.Series(values, copy=False)
    smoothed = series.ewm(com=(period - 1) / 2, adjust=False).mean()
    return smoothed.to_numpy(dtype=np.float64)


def sma_array(values: FloatArray, period: int) -> FloatArray:
    """Simple moving average; NaN until `period` values exist.

    Each window is summed left to right, the same order `SmaState` uses, so both agree exactly.
    """
    count = values.shape[0]
    result = np.full(count, np.nan)
    if count < period:
        return result
    windows = count - period + 1
    total = values[:windows].copy()
    for offset in range(1, period):
        total += values[offset : offset + windows]
    result[period - 1 :] = total / period
    return result


@dataclass(frozen=True, slots=True)
class MacdArrays:
    """MACD line, signal line and histogram over a whole series."""

    macd: FloatArray
    signal: FloatArray
    hist: FloatArray


def macd_arrays(close: FloatArray, fast: int, slow: int, signal: int) -> MacdArrays:
    """MACD = EMA(fast) - EMA(slow); signal = EMA(signal) of the MACD; hist = MACD - signal."""
    macd = ema_array(close, fast) - ema_array(close, slow)
    signal_line = ema_array(macd, signal)
    return MacdArrays(macd=macd, signal=signal_line, hist=macd - signal_line)


class EmaState:
    """An EMA updated one value at a time, identical to `ema_array` on the same values."""

    __slots__ = ("_alpha", "_keep", "value")

    def __init__(self, period: int) -> None:
        self._alpha = ema_alpha(period)
        self._keep = 1.0 - self._alpha
        self.value: float | None = None

    def update(self, x: float) -> float:
        """Feed the next value and return the new EMA."""
        current = self.value
        if current is None:
            current = x
        elif current != x:
            current = (self._keep * current + self._alpha * x) / (self._keep + self._alpha)
        self.value = current
        return current


class SmaState:
    """A simple moving average updated one value at a time; NaN until full."""

    __slots__ = ("_period", "_window")

    def __init__(self, period: int) -> None:
        self._period = period
        self._window: deque[float] = deque(maxlen=period)

    def update(self, x: float) -> float:
        """Feed the next value and return the average of the last `period` values, or NaN."""
        self._window.append(x)
        if len(self._window) < self._period:
            return NAN
        total = 0.0
        for value in self._window:
            total += value
        return total / self._period


@dataclass(frozen=True, slots=True)
class IndicatorRow:
    """Indicator values after one closed candle."""

    close: float
    open: float
    macd: float
    signal: float
    hist: float
    ma20: float
    ma60: float


class IndicatorState:
    """MACD, signal, histogram, MA20 and MA60 carried forward one closed candle at a time."""

    def __init__(self, fast: int, slow: int, signal: int) -> None:
        self._fast = EmaState(fast)
        self._slow = EmaState(slow)
        self._signal = EmaState(signal)
        self._ma20 = SmaState(20)
        self._ma60 = SmaState(60)
        self.candles_seen = 0

    def update(self, open_price: float, close: float) -> IndicatorRow:
        """Feed one closed candle and return its indicator values."""
        macd = self._fast.update(close) - self._slow.update(close)
        signal = self._signal.update(macd)
        self.candles_seen += 1
        return IndicatorRow(
            close=close,
            open=open_price,
            macd=macd,
            signal=signal,
            hist=macd - signal,
            ma20=self._ma20.update(close),
            ma60=self._ma60.update(close),
        )
