"""A whole optimisation: search each fold's training window, replay its best on the test window.

Every figure of a window comes from the functions `tradebot backtest` reports with
(`report.summarise` over `replay`), so a fold's out-of-sample figures are exactly what the
backtest prints for a file holding the test window preceded by `warmup_bars` candles.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

import optuna
from optuna.trial import FrozenTrial

from tradebot.backtest.optimize.evaluate import Window, WindowEvaluator, slice_series
from tradebot.backtest.optimize.folds import Fold, plan_folds
from tradebot.backtest.optimize.objective import closed_trade_metrics
from tradebot.backtest.optimize.space import Candidate, SearchSpace
from tradebot.backtest.optimize.study import (
    SearchSettings,
    best_trial,
    candidate_from,
    open_storage,
    search_window,
    study_name,
)
from tradebot.backtest.optimize.worker import TrialPool
from tradebot.backtest.report import BacktestContext, equity_curve, summarise
from tradebot.core.models import CandleSeries, FloatArray, find_gaps, isoformat_utc
from tradebot.core.params import StrategyParams

# The figures of a window that the JSON output repeats from `tradebot backtest`'s summary.
SUMMARY_FIGURES = (
    "return",
    "trades",
    "closed_trades",
    "wins",
    "win_rate",
    "max_drawdown",
    "final_equity",
    "fees",
    "buy_and_hold_return",
    "first_decision_candle",
    "last_candle",
)


@dataclass(frozen=True, slots=True)
class OptimizeRequest:
    """Everything one optimisation needs; `base` supplies every setting the space does not search."""

    series: CandleSeries
    base: StrategyParams
    cash: Decimal
    space: SearchSpace
    settings: SearchSettings
    folds: int | None = None  # None: one in-sample search over all the candles
    train_share: float = 0.75
    cache: bool = True


@dataclass(frozen=True, slots=True)
class WindowRun:
    """One candidate replayed on one window: the backtest-style figures and the equity curve."""

    figures: dict[str, Any]
    equity: FloatArray  # account value at every decision candle (warm-up candles dropped)
    closes: FloatArray  # the closes of those candles, for buy-and-hold


@dataclass(slots=True)
class FoldOutcome:
    """A searched fold: its study, the winner (None if no trial was feasible) and its runs."""

    fold: Fold
    study: optuna.Study
    best: FrozenTrial | None = None
    candidate: Candidate | None = None
    in_sample: WindowRun | None = None
    out_of_sample: WindowRun | None = None


@dataclass(slots=True)
class OptimizeOutcome:
    """All folds, in time order, and the shared warm-up."""

    request: OptimizeRequest
    warmup: int
    folds: list[FoldOutcome] = field(default_factory=list)


def plan(request: OptimizeRequest) -> list[Fold]:
    """The folds `request` will search (raises `CandleDataError` when the data is too short)."""
    warmup = request.space.warmup_bars(request.base)
    return plan_folds(len(request.series), request.folds, request.train_share, warmup)


def run_optimize(request: OptimizeRequest, after_trial: Callable[[], None] | None = None) -> OptimizeOutcome:
    """Search every fold, then replay each fold's best in and out of sample."""
    folds = plan(request)
    outcome = OptimizeOutcome(request, request.space.warmup_bars(request.base))
    storage = open_storage(request.settings.storage)
    setup = _setup(request)
    with TrialPool(request.series, request.cash, request.settings.jobs, request.cache) as pool:
        for fold in folds:
            study = search_window(
                pool,
                fold.train,
                request.space,
                request.base,
                request.settings,
                study_name(setup, fold.number),
                seed_offset=fold.number - 1,
                storage=storage,
                after_trial=after_trial,
            )
            outcome.folds.append(_evaluate_fold(pool.evaluator, fold, study))
    return outcome


def _evaluate_fold(evaluator: WindowEvaluator, fold: Fold, study: optuna.Study) -> FoldOutcome:
    result = FoldOutcome(fold, study, best_trial(study))
    if result.best is None:
        return result
    result.candidate = candidate_from(result.best)
    result.in_sample = window_run(evaluator, fold.train, result.candidate)
    test = fold.test
    if test is not None:
        result.out_of_sample = window_run(evaluator, test, result.candidate)
    return result


def window_run(evaluator: WindowEvaluator, window: Window, candidate: Candidate) -> WindowRun:
    """`tradebot backtest`'s figures for `candidate` on `window`, plus the closed-trade objectives."""
    params, conditions, cash = candidate.params, candidate.conditions, evaluator.cash
    part = slice_series(evaluator.series, window)
    result = evaluator.replay(window, params, conditions)
    equity = equity_curve(part, result, cash)
    context = BacktestContext(part, params, conditions, cash, find_gaps(part.start_ns, params.interval), {})
    summary = summarise(context, result, equity)
    figures: dict[str, Any] = {key: summary[key] for key in SUMMARY_FIGURES}
    figures["objectives"] = closed_trade_metrics(result.trades, cash)
    first = params.warmup_bars
    return WindowRun(figures, equity[first:] / float(cash), part.close[first:])


def times(series: CandleSeries, window: Window, skip: int = 0) -> dict[str, str]:
    """`{"start", "end"}`: the first (after `skip` candles) and last candle start of `window`, UTC."""
    return {
        "start": isoformat_utc(int(series.start_ns[window.start + skip])),
        "end": isoformat_utc(int(series.start_ns[window.end - 1])),
    }


def _setup(request: OptimizeRequest) -> dict[str, Any]:
    """What the stored trials depend on (a resume with any of it changed starts new studies)."""
    series = request.series
    return {
        "candles": len(series),
        "first": int(series.start_ns[0]),
        "last": int(series.start_ns[-1]),
        "last_close": float(series.close[-1]),
        "base": request.base.model_dump(mode="json"),
        "cash": str(request.cash),
        "space": {key: repr(value) for key, value in request.space.dimensions.items()},
        "objective": request.settings.objective,
        "min_trades": request.settings.min_trades,
        "seed": request.settings.seed,
        "folds": request.folds,
        "train_share": request.train_share,
    }


def settings_summary(request: OptimizeRequest) -> dict[str, Any]:
    """The search settings as JSON-ready values."""
    settings = asdict(request.settings)
    settings["storage"] = None if request.settings.storage is None else str(request.settings.storage)
    return settings
