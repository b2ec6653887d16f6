"""Each buy condition and indicator exit of TRADING_RULES.md, defined once over arrays.

A rule maps an `IndicatorFrame` (candles in order) to `(passed, value)` arrays. The backtest
evaluates a rule over every candle at once; the live strategy evaluates the very same function
over a frame of the last three candles and reads its final element. An undefined input (NaN,
or a candle before the series began) makes a comparison false, so the rule fails, never passes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tradebot.core.models import BoolArray, FloatArray


@dataclass(frozen=True, slots=True)
class IndicatorFrame:
    """Per-candle inputs of the rules; MA arrays are NaN where undefined or not computed."""

    open: FloatArray
    close: FloatArray
    macd: FloatArray
    signal: FloatArray
    ma20: FloatArray
    ma60: FloatArray

    @property
    def hist(self) -> FloatArray:
        """MACD minus signal."""
        return self.macd - self.signal


RuleResult = tuple[BoolArray, FloatArray]
Rule = Callable[[IndicatorFrame, float], RuleResult]


def previous(values: FloatArray, steps: int = 1) -> FloatArray:
    """`values` shifted `steps` candles later: element i holds values[i - steps] (NaN before)."""
    shifted = np.full(values.shape[0], np.nan)
    if steps < values.shape[0]:
        shifted[steps:] = values[: values.shape[0] - steps]
    return shifted


def golden_cross(frame: IndicatorFrame, threshold: float) -> RuleResult:
    """`macd[i-1] <= signal[i-1]` and `macd[i] > signal[i]`; value = histogram."""
    crossed = (previous(frame.macd) <= previous(frame.signal)) & (frame.macd > frame.signal)
    return crossed, frame.hist


def dead_cross(frame: IndicatorFrame, threshold: float) -> RuleResult:
    """`macd[i-1] >= signal[i-1]` and `macd[i] < signal[i]`; value = histogram."""
    crossed = (previous(frame.macd) >= previous(frame.signal)) & (frame.macd < frame.signal)
    return crossed, frame.hist


def macd_positive(frame: IndicatorFrame, threshold: float) -> RuleResult:
    """`macd[i] > macd_threshold`; value = MACD."""
    return frame.macd > threshold, frame.macd


def signal_positive(frame: IndicatorFrame, threshold: float) -> RuleResult:
    """`signal[i] > macd_threshold`; value = signal."""
    return frame.signal > threshold, frame.signal


def macd_negative(frame: IndicatorFrame, threshold: float) -> RuleResult:
    """`macd[i] < macd_threshold`; value = MACD."""
    return frame.macd < threshold, frame.macd


def signal_negative(frame: IndicatorFrame, threshold: float) -> RuleResult:
    """`signal[i] < macd_threshold`; value = signal."""
    return frame.signal < threshold, frame.signal


def bullish_candle(frame: IndicatorFrame, threshold: float) -> RuleResult:
    """`close[i] > open[i]`; value = close - open."""
    return frame.close > frame.open, frame.close - frame.open


def macd_trending_up(frame: IndicatorFrame, threshold: float) -> RuleResult:
    """`macd[i-2] < macd[i-1] < macd[i]`; value = macd[i] - macd[i-1]."""
    before = previous(frame.macd)
    rising = (previous(frame.macd, 2) < before) & (before < frame.macd)
    return rising, frame.macd - before


def above_ma20(frame: IndicatorFrame, threshold: float) -> RuleResult:
    """MA20 defined and `close[i] > ma20[i]`; value = MA20."""
    return frame.close > frame.ma20, frame.ma20


def above_ma60(frame: IndicatorFrame, threshold: float) -> RuleResult:
    """MA60 defined and `close[i] > ma60[i]`; value = MA60."""
    return frame.close > frame.ma60, frame.ma60


BUY_RULES: dict[str, Rule] = {
    "golden_cross": golden_cross,
    "macd_positive": macd_positive,
    "signal_positive": signal_positive,
    "bullish_candle": bullish_candle,
    "macd_trending_up": macd_trending_up,
    "above_ma20": above_ma20,
    "above_ma60": above_ma60,
}

INDICATOR_EXIT_RULES: dict[str, Rule] = {
    "dead_cross": dead_cross,
    "macd_negative": macd_negative,
    "signal_negative": signal_negative,
}

RULES_NEEDING_MA20 = frozenset({"above_ma20"})
RULES_NEEDING_MA60 = frozenset({"above_ma60"})
