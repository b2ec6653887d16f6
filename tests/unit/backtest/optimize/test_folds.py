"""Walk-forward folds: consecutive windows, train then test, the test replay preceded by the warm-up."""

from __future__ import annotations

import pytest

from tradebot.backtest.optimize.evaluate import Window
from tradebot.backtest.optimize.folds import plan_folds
from tradebot.core.errors import CandleDataError


def test_plan_folds_cuts_consecutive_windows_with_train_share() -> None:
    folds = plan_folds(10_000, 4, 0.75, warmup=200)

    assert [(fold.start, fold.train_end, fold.end) for fold in folds] == [
        (0, 1875, 2500),
        (2500, 4375, 5000),
        (5000, 6875, 7500),
        (7500, 9375, 10_000),
    ]
    assert folds[1].train == Window(2500, 4375)
    assert folds[1].test == Window(4375 - 200, 5000)


def test_plan_folds_without_walk_forward_is_one_in_sample_window() -> None:
    (fold,) = plan_folds(5_000, None, 0.75, warmup=200)

    assert fold.train == Window(0, 5_000)
    assert fold.test is None


def test_plan_folds_too_few_candles_for_the_folds_raises() -> None:
    with pytest.raises(CandleDataError, match=r"fold 1 of 10's training window has 150 candles"):
        plan_folds(2_000, 10, 0.75, warmup=200)


def test_plan_folds_test_window_too_short_raises() -> None:
    with pytest.raises(CandleDataError, match="test window has 50 candles"):
        plan_folds(1_000, 1, 0.95, warmup=200)


@pytest.mark.parametrize(("folds", "share"), [(0, 0.75), (3, 1.0), (3, 0.0)])
def test_plan_folds_bad_arguments_raise(folds: int, share: float) -> None:
    with pytest.raises(CandleDataError):
        plan_folds(10_000, folds, share, warmup=200)
