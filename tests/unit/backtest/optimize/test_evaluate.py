"""The optimiser's replays are the backtest's replays: same frame, same trades, cache or not."""

from __future__ import annotations

from decimal import Decimal

import numpy as np

from tradebot.backtest.optimize.evaluate import Window, WindowEvaluator, slice_series
from tradebot.backtest.replay import indicator_frame, replay
from tradebot.core.models import CandleSeries, Interval
from tradebot.core.params import BuyConditions, Conditions, StrategyParams

CASH = Decimal(1_000_000)
PARAMS = StrategyParams(
    interval=Interval.MINUTE1, fast_period=5, slow_period=20, signal_period=4, warmup_bars=50
)
CONDITIONS = Conditions(buy=BuyConditions(golden_cross=True, above_ma20=True, above_ma60=True))


def test_cached_frame_equals_the_backtests_frame(candles: CandleSeries) -> None:
    evaluator = WindowEvaluator(candles, CASH)
    window = Window(1_000, 3_000)
    part = slice_series(candles, window)

    evaluator.frame(window, part, PARAMS, CONDITIONS)  # fills the cache
    cached = evaluator.frame(window, part, PARAMS, CONDITIONS)
    expected = indicator_frame(part, PARAMS, CONDITIONS)

    for name in ("open", "close", "macd", "signal", "ma20", "ma60"):
        np.testing.assert_array_equal(getattr(cached, name), getattr(expected, name))


def test_window_replay_equals_replay_of_the_sliced_candles(candles: CandleSeries) -> None:
    window = Window(500, 4_500)
    part = slice_series(candles, window)
    expected = replay(part, PARAMS, CONDITIONS, CASH)

    for cache in (True, False):
        evaluator = WindowEvaluator(candles, CASH, cache=cache)
        for _ in range(2):
            result = evaluator.replay(window, PARAMS, CONDITIONS)
            assert result.trades == expected.trades
            assert result.executor.account.krw == expected.executor.account.krw
    assert expected.trades


def test_cache_is_keyed_by_window(candles: CandleSeries) -> None:
    evaluator = WindowEvaluator(candles, CASH)
    first, second = Window(0, 3_000), Window(1_000, 4_000)

    evaluator.replay(first, PARAMS, CONDITIONS)
    result = evaluator.replay(second, PARAMS, CONDITIONS)

    assert result.trades == replay(slice_series(candles, second), PARAMS, CONDITIONS, CASH).trades
