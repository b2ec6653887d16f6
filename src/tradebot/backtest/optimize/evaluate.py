"""Running one candidate on one window of candles, with indicators shared across trials.

A window is a slice of the loaded series, replayed exactly as `tradebot backtest` replays a file
holding those candles: the indicators start at the window's first candle and the first decision
comes `warmup_bars` candles later. The MACD lines depend only on the period triple and the
window, so they are computed once per (fast, slow, signal, window) and reused by every trial that
draws the same triple; the MAs once per window.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from tradebot.backtest.optimize.objective import closed_trade_metrics
from tradebot.backtest.replay import ReplayResult, indicator_frame, replay
from tradebot.core.conditions import RULES_NEEDING_MA20, RULES_NEEDING_MA60, IndicatorFrame
from tradebot.core.indicators import MacdArrays, macd_arrays, sma_array
from tradebot.core.models import CandleSeries, FloatArray
from tradebot.core.params import Conditions, StrategyParams

# Two float64 arrays per entry: 64 entries of 131,072 candles hold 128 MiB at most.
CACHE_ENTRIES = 64


@dataclass(frozen=True, slots=True)
class Window:
    """Candles `start` (inclusive) to `end` (exclusive) of the loaded series."""

    start: int
    end: int

    def __len__(self) -> int:
        return self.end - self.start


def slice_series(series: CandleSeries, window: Window) -> CandleSeries:
    """The window's candles as views into `series` (no copy)."""
    part = slice(window.start, window.end)
    return CandleSeries(
        series.start_ns[part],
        series.open[part],
        series.high[part],
        series.low[part],
        series.close[part],
        series.volume[part],
    )


class WindowEvaluator:
    """Replays candidates on windows of one series; `cache=False` recomputes every indicator."""

    def __init__(self, series: CandleSeries, cash: Decimal, cache: bool = True) -> None:
        self.series = series
        self.cash = cash
        self._cache = cache
        self._macd: OrderedDict[tuple[int, int, int, int, int], MacdArrays] = OrderedDict()
        self._averages: dict[tuple[int, int, int], FloatArray] = {}

    def replay(self, window: Window, params: StrategyParams, conditions: Conditions) -> ReplayResult:
        """The fast replay of `window`, as `tradebot backtest` runs it on those candles."""
        part = slice_series(self.series, window)
        return replay(part, params, conditions, self.cash, frame=self.frame(window, part, params, conditions))

    def metrics(self, window: Window, params: StrategyParams, conditions: Conditions) -> dict[str, float]:
        """The closed-trade figures (`objective.closed_trade_metrics`) of one replay."""
        return closed_trade_metrics(self.replay(window, params, conditions).trades, self.cash)

    def frame(
        self, window: Window, part: CandleSeries, params: StrategyParams, conditions: Conditions
    ) -> IndicatorFrame:
        """`replay.indicator_frame(part, ...)`, its arrays taken from the cache when possible."""
        if not self._cache:
            return indicator_frame(part, params, conditions)
        lines = self._lines(window, part, params)
        enabled = set(conditions.enabled_buy())
        unused = np.broadcast_to(np.nan, len(part))
        return IndicatorFrame(
            open=part.open,
            close=part.close,
            macd=lines.macd,
            signal=lines.signal,
            ma20=self._average(window, part, 20) if enabled & RULES_NEEDING_MA20 else unused,
            ma60=self._average(window, part, 60) if enabled & RULES_NEEDING_MA60 else unused,
        )

    def _lines(self, window: Window, part: CandleSeries, params: StrategyParams) -> MacdArrays:
        key = (params.fast_period, params.slow_period, params.signal_period, window.start, window.end)
        lines = self._macd.get(key)
        if lines is None:
            lines = macd_arrays(part.close, params.fast_period, params.slow_period, params.signal_period)
            self._macd[key] = lines
            if len(self._macd) > CACHE_ENTRIES:
                self._macd.popitem(last=False)
        else:
            self._macd.move_to_end(key)
        return lines

    def _average(self, window: Window, part: CandleSeries, period: int) -> FloatArray:
        key = (period, window.start, window.end)
        if key not in self._averages:
            self._averages[key] = sma_array(part.close, period)
        return self._averages[key]
