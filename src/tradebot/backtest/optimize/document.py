"""The optimisation's results as JSON-ready values: best settings, folds, summary, verdict, trials."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from optuna.trial import FrozenTrial

from tradebot.backtest.optimize.study import CANDIDATE, METRICS, feasible_trials, is_feasible
from tradebot.backtest.optimize.walkforward import (
    FoldOutcome,
    OptimizeOutcome,
    WindowRun,
    settings_summary,
    times,
)
from tradebot.core.models import FloatArray, isoformat_utc

# Out-of-sample keeping at least this share of the in-sample return rate reads as holding up.
HOLDS_UP_SHARE = 0.5


def build_document(outcome: OptimizeOutcome) -> dict[str, Any]:
    """`{"best", "folds", "summary"}` as `tradebot optimize --json` prints it (times UTC ISO-8601)."""
    folds = [_fold_document(outcome, fold) for fold in outcome.folds]
    return {"best": _best(outcome, folds), "folds": folds, "summary": _summary(outcome)}


def _fold_document(outcome: OptimizeOutcome, fold: FoldOutcome) -> dict[str, Any]:
    series, window = outcome.request.series, fold.fold
    test = window.test
    finished = fold.study.get_trials(deepcopy=False)
    return {
        "fold": window.number,
        "train": times(series, window.train),
        "test": None if test is None else times(series, test, skip=outcome.warmup),
        "backtest_window": None if test is None else times(series, test),
        "params": None if fold.candidate is None else fold.candidate.params.model_dump(mode="json"),
        "conditions": None if fold.candidate is None else fold.candidate.conditions.model_dump(mode="json"),
        "trial": None if fold.best is None else fold.best.number,
        "value": None if fold.best is None else fold.best.value,
        "trials": len(finished),
        "feasible_trials": len(feasible_trials(fold.study)),
        "in_sample": None if fold.in_sample is None else fold.in_sample.figures,
        "out_of_sample": None if fold.out_of_sample is None else fold.out_of_sample.figures,
    }


def _best(outcome: OptimizeOutcome, folds: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The most recent fold's winner: trained on the latest data, it is the one to trade next."""
    chosen = [document for document in folds if document["params"] is not None]
    if not chosen:
        return None
    latest = chosen[-1]
    keys = ("fold", "trial", "value", "params", "conditions", "in_sample", "out_of_sample")
    best = {key: latest[key] for key in keys}
    best["objective"] = outcome.request.settings.objective
    best["in_sample_only"] = outcome.request.folds is None
    return best


def _summary(outcome: OptimizeOutcome) -> dict[str, Any]:
    request, series = outcome.request, outcome.request.series
    walk_forward = request.folds is not None
    stitched = stitch(outcome)
    summary: dict[str, Any] = {
        "mode": "walk_forward" if walk_forward else "in_sample_only",
        "market": request.base.market,
        "interval": request.base.interval.value,
        "candles": len(series),
        "first_candle": isoformat_utc(int(series.start_ns[0])),
        "last_candle": isoformat_utc(int(series.start_ns[-1])),
        "folds": len(outcome.folds),
        "train_share": request.train_share if walk_forward else 1.0,
        "warmup_bars": outcome.warmup,
        "initial_cash": float(request.cash),
        "search": settings_summary(request),
        "in_sample_return": _mean([run.figures["return"] for run in _runs(outcome, "in_sample")]),
        "out_of_sample_return": None if stitched is None else float(stitched[0][-1] - 1.0),
        "out_of_sample_buy_and_hold_return": None if stitched is None else float(stitched[1][-1] - 1.0),
        "efficiency": efficiency(outcome),
    }
    summary["verdict"] = verdict(outcome, summary)
    return summary


def _runs(outcome: OptimizeOutcome, kind: str) -> list[WindowRun]:
    runs = [getattr(fold, kind) for fold in outcome.folds]
    return [run for run in runs if run is not None]


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def stitch(outcome: OptimizeOutcome) -> tuple[FloatArray, FloatArray] | None:
    """Out-of-sample equity of the folds chained one after another, and buy-and-hold over them.

    Each fold starts with the capital the previous one ended with (both curves start at 1.0);
    a fold without a feasible winner stays in cash.
    """
    equity_parts: list[FloatArray] = []
    hold_parts: list[FloatArray] = []
    capital, held = 1.0, 1.0
    for fold in outcome.folds:
        run = fold.out_of_sample
        if run is None:
            continue
        equity_parts.append(capital * run.equity)
        hold_parts.append(held * run.closes / run.closes[0])
        capital, held = float(equity_parts[-1][-1]), float(hold_parts[-1][-1])
    if not equity_parts:
        return None
    return np.concatenate(equity_parts), np.concatenate(hold_parts)


def efficiency(outcome: OptimizeOutcome) -> float | None:
    """Out-of-sample return per decision candle as a share of in-sample's (log returns).

    The windows differ in length (train-share), so their raw returns are not comparable; the
    rates are. None when there is nothing to compare or in-sample did not gain.
    """
    pairs = [(fold.in_sample, fold.out_of_sample) for fold in outcome.folds]
    complete = [(inside, outside) for inside, outside in pairs if inside is not None and outside is not None]
    if not complete:
        return None
    inside_rate = _rate([run for run, _ in complete])
    outside_rate = _rate([run for _, run in complete])
    if inside_rate <= 0:
        return None
    return outside_rate / inside_rate


def _rate(runs: list[WindowRun]) -> float:
    growth = sum(math.log(max(1.0 + float(run.figures["return"]), 1e-12)) for run in runs)
    return growth / sum(int(run.equity.shape[0]) for run in runs)


def verdict(outcome: OptimizeOutcome, summary: dict[str, Any]) -> str:
    """The result in plain words."""
    if not any(fold.best is not None for fold in outcome.folds):
        return (
            f"no trial made {outcome.request.settings.min_trades} closed trades (--min-trades): "
            "nothing to recommend; lower --min-trades, widen the space or give more candles"
        )
    inside, outside = summary["in_sample_return"], summary["out_of_sample_return"]
    if outside is None:
        return (
            f"in-sample only: the best settings made {inside:.2%} on the very candles they were chosen on; "
            "this says nothing about new data (use --walk-forward K for an honest figure)"
        )
    hold = summary["out_of_sample_buy_and_hold_return"]
    versus = f"buy-and-hold made {hold:.2%} over the same candles"
    share = summary["efficiency"]
    if inside is None or inside <= 0 or share is None:
        return (
            f"no edge: even in-sample the best settings did not gain; out-of-sample {outside:.2%}; {versus}"
        )
    if outside <= 0:
        return f"overfit: in-sample made {inside:.2%} per fold, out-of-sample lost ({outside:.2%}); {versus}"
    words = "holds up" if share >= HOLDS_UP_SHARE else "likely overfit"
    return (
        f"out-of-sample return rate was {share:.0%} of in-sample: {words} "
        f"(out-of-sample {outside:.2%}; {versus})"
    )


def trial_rows(outcome: OptimizeOutcome) -> list[dict[str, Any]]:
    """One row per trial of every fold: state, value, feasibility, figures and settings."""
    rows = []
    for fold in outcome.folds:
        for trial in fold.study.get_trials(deepcopy=False):
            rows.append(_trial_row(fold.fold.number, trial))
    return rows


def _trial_row(fold: int, trial: FrozenTrial) -> dict[str, Any]:
    row: dict[str, Any] = {
        "fold": fold,
        "trial": trial.number,
        "state": trial.state.name.lower(),
        "value": trial.value,
        "feasible": is_feasible(trial),
    }
    row.update(trial.user_attrs.get(METRICS, {}))
    candidate = trial.user_attrs.get(CANDIDATE, {})
    row.update(candidate.get("params", {}))
    for side in ("buy", "sell"):
        for key, value in candidate.get("conditions", {}).get(side, {}).items():
            row[f"{side}.{key}"] = value
    return row
