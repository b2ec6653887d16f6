"""The dashboard's Optimize page, minus Streamlit: a small study on the user's cached candles, and
saving its result as the user's settings (only when the user confirmed it).

The study is `tradebot optimize` with the same code: the candles come from the user's
`candle_cache` (what the engine fetched for the market and interval of the user's params), the
params file supplies every setting that is not searched, and the periods are narrowed so that a
few thousand cached candles hold a walk-forward. Saving writes both settings files and records
each as a new settings version with `saved_by = optimize`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import numpy as np

from tradebot.backtest.optimize.document import build_document
from tradebot.backtest.optimize.space import apply_overrides, load_space
from tradebot.backtest.optimize.study import SearchSettings
from tradebot.backtest.optimize.walkforward import OptimizeOutcome, OptimizeRequest, run_optimize
from tradebot.core.errors import CandleDataError
from tradebot.core.models import CandleSeries, datetime_to_nanos
from tradebot.core.params import Conditions, StrategyParams
from tradebot.services.settings_store import load_conditions, load_params, save_conditions, save_params
from tradebot.services.storage import Reader, Store, Window
from tradebot.services.users import conditions_path, params_path

SAVED_BY = "optimize"
HISTORY_LIMIT = 200_000  # newest cached candles studied: months of minute candles, seconds per trial
# Periods a cached history of a few thousand candles can warm up and still walk forward over.
DASHBOARD_SPACE: dict[str, object] = {
    "fast_period": [2, 50],
    "slow_period": [5, 200],
    "signal_period": [2, 50],
    "min_holding_bars": [0, 100],
}


@dataclass(frozen=True, slots=True)
class StudyChoice:
    """What the user picked on the page."""

    trials: int = 30
    folds: int = 3
    objective: str = "return"
    min_trades: int = 5
    seed: int = 1
    keep_conditions: bool = True  # search only numbers; the user's buy/sell switches stay as they are
    cash: Decimal = Decimal(1_000_000)


@dataclass(frozen=True, slots=True)
class StudyResult:
    """A finished study: the outcome (for the charts) and its JSON document."""

    outcome: OptimizeOutcome
    document: dict[str, object]


def cached_series(reader: Reader, params: StrategyParams, limit: int = HISTORY_LIMIT) -> CandleSeries:
    """The user's cached candles of their market and interval, oldest first."""
    candles = reader.candles(params.market, params.interval, Window(limit=limit))
    if not candles:
        raise CandleDataError(
            f"no cached {params.market} {params.interval.value} candles yet: start the bot once "
            "(TEST mode is enough) so it fetches its history"
        )
    columns = np.array([(item.open, item.high, item.low, item.close, item.volume) for item in candles])
    starts = np.array([datetime_to_nanos(candle.start) for candle in candles], dtype=np.int64)
    return CandleSeries.checked(starts, *(columns[:, index] for index in range(5)))


def run_study(
    series: CandleSeries, params: StrategyParams, conditions: Conditions, choice: StudyChoice
) -> StudyResult:
    """A walk-forward study (in this process: the page waits for it) over `series`."""
    median = float(np.median(series.close))
    space = load_space(None, median, conditions if choice.keep_conditions else None)
    space = apply_overrides(space, DASHBOARD_SPACE, median, "the dashboard's search space")
    settings = SearchSettings(choice.trials, choice.objective, choice.min_trades, choice.seed, jobs=1)
    folds = choice.folds if choice.folds > 1 else None
    outcome = run_optimize(OptimizeRequest(series, params, choice.cash, space, settings, folds))
    return StudyResult(outcome, build_document(outcome))


def load_user_settings(home: Path, username: str) -> tuple[StrategyParams, Conditions]:
    """The user's current params and conditions files."""
    return load_params(params_path(home, username)), load_conditions(conditions_path(home, username))


def save_optimized(
    home: Path, store: Store, username: str, settings: tuple[StrategyParams, Conditions], now: datetime
) -> tuple[int, int]:
    """Write both settings files and record them as versions saved by `optimize`; the version numbers.

    The files are what the engine reads (at its next closed candle), so they are written first;
    the recorded content is read back from them, as Set Config does.
    """
    params, conditions = settings
    save_params(params_path(home, username), params)
    save_conditions(conditions_path(home, username), conditions)
    saved_params, saved_conditions = load_user_settings(home, username)
    with store.transaction() as transaction:
        params_version = transaction.record_settings(saved_params, saved_at=now, saved_by=SAVED_BY)
        conditions_version = transaction.record_settings(saved_conditions, saved_at=now, saved_by=SAVED_BY)
    return params_version, conditions_version
