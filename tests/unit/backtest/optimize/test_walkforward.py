"""Walk-forward optimisation: out-of-sample figures reproduce with `tradebot backtest`; runs repeat."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest

from tradebot.backtest.optimize.document import build_document, trial_rows
from tradebot.backtest.optimize.space import load_space
from tradebot.backtest.optimize.study import SearchSettings, open_storage
from tradebot.backtest.optimize.walkforward import OptimizeRequest, run_optimize
from tradebot.backtest.runner import BacktestRequest, run_backtest
from tradebot.core.models import CandleSeries, Interval, datetime_to_nanos
from tradebot.core.params import Conditions, StrategyParams
from tradebot.marketdata.candle_writers import save_candles

from .conftest import MARKET

CASH = Decimal(1_000_000)
BASE = StrategyParams(interval=Interval.MINUTE1, market=MARKET)
COMPARED = ("return", "trades", "closed_trades", "wins", "win_rate", "max_drawdown", "final_equity", "fees")


def _request(candles: CandleSeries, space_file: Path, **changes: Any) -> OptimizeRequest:
    settings = SearchSettings(
        trials=changes.pop("trials", 12),
        objective=changes.pop("objective", "return"),
        min_trades=changes.pop("min_trades", 2),
        seed=changes.pop("seed", 4),
        jobs=changes.pop("jobs", 1),
        storage=changes.pop("storage", None),
    )
    space = load_space(space_file, float(np.median(candles.close)))
    return OptimizeRequest(candles, BASE, CASH, space, settings, **changes)


def _cut(candles: CandleSeries, window: dict[str, str], path: Path) -> Path:
    """The candles of `window` (UTC ISO times, both ends included) as a file, as a user would cut them."""
    first = datetime_to_nanos(datetime.fromisoformat(window["start"]))
    last = datetime_to_nanos(datetime.fromisoformat(window["end"]))
    keep = (candles.start_ns >= first) & (candles.start_ns <= last)
    part = CandleSeries(
        *(
            column[keep]
            for column in (
                candles.start_ns,
                candles.open,
                candles.high,
                candles.low,
                candles.close,
                candles.volume,
            )
        )
    )
    save_candles(part, path, market=MARKET)
    return path


def test_walk_forward_out_of_sample_equals_tradebot_backtest_on_the_fold_window(
    candles: CandleSeries, space_file: Path, tmp_path: Path
) -> None:
    document = build_document(run_optimize(_request(candles, space_file, folds=3)))

    checked = 0
    for fold in document["folds"]:
        if fold["params"] is None:
            continue
        data = _cut(candles, fold["backtest_window"], tmp_path / f"fold{fold['fold']}.parquet")
        request = BacktestRequest(
            data=data,
            params=StrategyParams.model_validate(fold["params"]),
            conditions=Conditions.model_validate(fold["conditions"]),
            cash=CASH,
        )
        summary = run_backtest(request)["summary"]
        for key in COMPARED:
            assert fold["out_of_sample"][key] == summary[key], key
        assert summary["first_decision_candle"] == fold["test"]["start"]
        assert summary["last_candle"] == fold["test"]["end"]
        checked += 1
    assert checked >= 2


def test_walk_forward_same_seed_gives_the_same_trials_and_document(
    candles: CandleSeries, space_file: Path
) -> None:
    first = run_optimize(_request(candles, space_file, folds=2, trials=8))
    second = run_optimize(_request(candles, space_file, folds=2, trials=8))

    assert build_document(first) == build_document(second)
    assert trial_rows(first) == trial_rows(second)


def test_trials_below_min_trades_are_infeasible_and_never_best(
    candles: CandleSeries, space_file: Path
) -> None:
    outcome = run_optimize(_request(candles, space_file, folds=2, trials=15, min_trades=6))
    rows = trial_rows(outcome)
    document = build_document(outcome)

    assert any(not row["feasible"] for row in rows)
    assert all(row["feasible"] == (row["closed_trades"] >= 6) for row in rows)
    for fold in document["folds"]:
        if fold["params"] is not None:
            feasible = [row["value"] for row in rows if row["fold"] == fold["fold"] and row["feasible"]]
            assert fold["value"] == max(feasible)
            assert fold["in_sample"]["objectives"]["closed_trades"] >= 6


def test_min_trades_nobody_reaches_gives_no_best_and_says_so(candles: CandleSeries, space_file: Path) -> None:
    request = _request(candles, space_file, folds=2, trials=4, min_trades=10_000)
    document = build_document(run_optimize(request))

    assert document["best"] is None
    assert all(fold["params"] is None for fold in document["folds"])
    assert document["summary"]["verdict"].startswith("no trial made 10000 closed trades")


@pytest.mark.parametrize("suffix", [".db", ".journal"])
def test_storage_resumes_a_study_instead_of_starting_over(
    candles: CandleSeries, space_file: Path, tmp_path: Path, suffix: str
) -> None:
    storage = tmp_path / f"study{suffix}"
    run_optimize(_request(candles, space_file, trials=5, storage=storage))

    resumed = run_optimize(_request(candles, space_file, trials=8, storage=storage))

    assert [row["trial"] for row in trial_rows(resumed)] == list(range(8))


def test_storage_trial_left_running_by_an_interruption_is_failed_and_replaced(
    candles: CandleSeries, space_file: Path, tmp_path: Path
) -> None:
    storage = tmp_path / "study.db"
    run_optimize(_request(candles, space_file, trials=3, storage=storage))
    (name,) = optuna.get_all_study_names(open_storage(storage))
    study = optuna.load_study(study_name=name, storage=open_storage(storage))
    study.ask()  # a trial the interrupted run never told: RUNNING in the storage

    rows = trial_rows(run_optimize(_request(candles, space_file, trials=5, storage=storage)))

    assert [row["state"] for row in rows] == ["complete"] * 3 + ["fail"] + ["complete"] * 2


def test_in_sample_only_run_is_labelled_as_such(candles: CandleSeries, space_file: Path) -> None:
    document = build_document(run_optimize(_request(candles, space_file, trials=6)))

    assert document["summary"]["mode"] == "in_sample_only"
    assert document["best"]["in_sample_only"] is True
    assert document["folds"][0]["out_of_sample"] is None
    assert document["summary"]["verdict"].startswith("in-sample only")


def test_two_jobs_give_valid_results_that_repeat(candles: CandleSeries, space_file: Path) -> None:
    first = trial_rows(run_optimize(_request(candles, space_file, trials=6, jobs=2)))
    second = trial_rows(run_optimize(_request(candles, space_file, trials=6, jobs=2)))

    assert first == second
    assert len(first) == 6
    assert all(row["state"] == "complete" for row in first)
