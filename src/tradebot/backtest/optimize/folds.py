"""Cutting the candles into walk-forward folds.

The series is cut into K consecutive windows of (nearly) equal length. In each, the first
`train_share` is searched (in-sample) and the rest is only evaluated with that fold's best
settings (out-of-sample). The out-of-sample replay starts `warmup_bars` candles before the test
window, so the first decision falls on the test window's first candle: exactly what
`tradebot backtest` does on a file holding those candles.
"""

from __future__ import annotations

from dataclasses import dataclass

from tradebot.backtest.optimize.evaluate import Window
from tradebot.core.errors import CandleDataError

# A window that gives the strategy fewer decisions than this cannot tell settings apart.
MIN_DECISION_CANDLES = 100


@dataclass(frozen=True, slots=True)
class Fold:
    """One fold: candles `start` to `train_end` are searched, `train_end` to `end` tested."""

    number: int
    start: int
    train_end: int
    end: int
    warmup: int

    @property
    def train(self) -> Window:
        """The in-sample window (its first `warmup` candles only warm the indicators up)."""
        return Window(self.start, self.train_end)

    @property
    def test(self) -> Window | None:
        """The out-of-sample replay window: the test candles preceded by `warmup` candles."""
        if self.end <= self.train_end:
            return None
        return Window(self.train_end - self.warmup, self.end)


def plan_folds(count: int, folds: int | None, train_share: float, warmup: int) -> list[Fold]:
    """K walk-forward folds over `count` candles, or one in-sample window when `folds` is None."""
    if folds is None:
        _need(count - warmup, "the data", count, warmup)
        return [Fold(1, 0, count, count, warmup)]
    if folds < 1:
        raise CandleDataError(f"--walk-forward needs at least 1 fold, got {folds}")
    if not 0 < train_share < 1:
        raise CandleDataError(f"--train-share must be between 0 and 1, got {train_share}")
    bounds = [round(count * number / folds) for number in range(folds + 1)]
    plan = []
    for number in range(folds):
        start, end = bounds[number], bounds[number + 1]
        train_end = start + round((end - start) * train_share)
        label = f"fold {number + 1} of {folds}"
        _need(train_end - start - warmup, f"{label}'s training window", train_end - start, warmup)
        if end - train_end < MIN_DECISION_CANDLES:
            raise CandleDataError(
                f"{label}'s test window has {end - train_end} candles, fewer than {MIN_DECISION_CANDLES}; "
                "use fewer folds, a smaller --train-share or more candles"
            )
        plan.append(Fold(number + 1, start, train_end, end, warmup))
    return plan


def _need(decisions: int, what: str, candles: int, warmup: int) -> None:
    if decisions < MIN_DECISION_CANDLES:
        raise CandleDataError(
            f"{what} has {candles} candles: after the warm-up of {warmup} (warmup_bars, raised to fit the "
            f"longest MACD of the search space) fewer than {MIN_DECISION_CANDLES} remain to decide on; "
            "use fewer folds, narrower periods in --space or more candles"
        )
