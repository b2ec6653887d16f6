"""Searching one window with Optuna: TPE sampler, min-trades constraint, resumable storage.

Trials are asked in batches of `jobs`, evaluated together (in worker processes when jobs > 1) and
told in order, so the same seed and jobs give the same trials. A trial with fewer closed trades
than `min_trades` is infeasible: Optuna's constraint steers the sampler away and it never wins.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import BaseStorage, JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import FrozenTrial, TrialState

from tradebot.backtest.optimize.evaluate import Window
from tradebot.backtest.optimize.space import Candidate, SearchSpace
from tradebot.backtest.optimize.worker import PendingResults, TrialPool
from tradebot.core.errors import SettingsError
from tradebot.core.params import Conditions, StrategyParams

SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")
CONSTRAINT = "min_trades"  # min_trades minus the closed trades: feasible at 0 or less
CANDIDATE = "candidate"
METRICS = "metrics"

TrialCallback = Callable[[], None]


@dataclass(frozen=True, slots=True)
class SearchSettings:
    """How each window is searched."""

    trials: int
    objective: str
    min_trades: int
    seed: int | None
    jobs: int
    storage: Path | None = None


def open_storage(path: Path | None) -> BaseStorage | None:
    """Optuna storage at `path`: SQLite for .db/.sqlite files, a journal file otherwise (None: memory)."""
    if path is None:
        return None
    if path.parent and not path.parent.exists():
        raise SettingsError(f"{path}: the storage directory {path.parent} does not exist")
    if path.suffix.lower() in SQLITE_SUFFIXES:
        return RDBStorage(f"sqlite:///{path.resolve()}")
    return JournalStorage(JournalFileBackend(str(path)))


def search_window(
    pool: TrialPool,
    window: Window,
    space: SearchSpace,
    base: StrategyParams,
    settings: SearchSettings,
    study_name: str,
    seed_offset: int = 0,
    storage: BaseStorage | None = None,
    after_trial: TrialCallback | None = None,
) -> optuna.Study:
    """Run (or continue) the study `study_name` until it holds `settings.trials` complete trials."""
    seed = None if settings.seed is None else settings.seed + seed_offset
    study = _open_study(study_name, seed, pool.jobs > 1, storage)
    warmup = space.warmup_bars(base)
    # Only complete trials count: one failed by an interruption is run again.
    remaining = settings.trials - len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    in_flight: _Batch | None = None
    while remaining > 0 or in_flight is not None:
        asked: _Batch | None = None
        if remaining > 0:
            trials = [study.ask() for _ in range(min(pool.jobs, remaining))]
            candidates = [space.suggest(trial, base, warmup) for trial in trials]
            for trial, candidate in zip(trials, candidates, strict=True):
                trial.set_user_attr(CANDIDATE, candidate_document(candidate))
            asked = _Batch(trials, pool.submit(window, candidates))
            remaining -= len(trials)
        # With workers, the next batch is drawn while this one runs: one batch of lag, in a
        # fixed order, so the run stays repeatable. In-process there is nothing to overlap.
        if in_flight is not None:
            _tell(study, in_flight, settings, after_trial)
        in_flight = asked
        if pool.jobs == 1 and in_flight is not None:
            _tell(study, in_flight, settings, after_trial)
            in_flight = None
    return study


def _open_study(name: str, seed: int | None, parallel: bool, storage: BaseStorage | None) -> optuna.Study:
    """The study `name` (new, or continued from `storage`), TPE-sampled, interrupted trials failed."""
    # Multivariate TPE models the settings jointly (fast and slow periods interact); the constant
    # liar keeps a batch of parallel trials from all landing on the same point.
    sampler = optuna.samplers.TPESampler(seed=seed, constant_liar=parallel, multivariate=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        storage=storage, study_name=name, direction="maximize", sampler=sampler, load_if_exists=True
    )
    _fail_interrupted(study)
    return study


@dataclass(frozen=True, slots=True)
class _Batch:
    trials: list[optuna.Trial]
    results: PendingResults


def _tell(
    study: optuna.Study, batch: _Batch, settings: SearchSettings, after_trial: TrialCallback | None
) -> None:
    for trial, figures in zip(batch.trials, batch.results(), strict=True):
        trial.set_user_attr(METRICS, figures)
        trial.set_constraint(CONSTRAINT, settings.min_trades - figures["closed_trades"])
        study.tell(trial, figures[settings.objective])
        if after_trial is not None:
            after_trial()


def _fail_interrupted(study: optuna.Study) -> None:
    """Trials left running by an interrupted run never finish: mark them failed, then carry on."""
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        study.tell(trial.number, state=TrialState.FAIL)


def feasible_trials(study: optuna.Study) -> list[FrozenTrial]:
    """Complete trials that met the min-trades constraint."""
    return [
        trial
        for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if is_feasible(trial) and trial.value is not None
    ]


def is_feasible(trial: FrozenTrial) -> bool:
    """The trial made at least `min_trades` closed trades."""
    return trial.constraints.get(CONSTRAINT, 1.0) <= 0


def best_trial(study: optuna.Study) -> FrozenTrial | None:
    """The feasible trial with the highest value (the earliest on a tie), or None if none is feasible."""
    candidates = feasible_trials(study)
    if not candidates:
        return None
    return max(candidates, key=lambda trial: (trial.value, -trial.number))


def candidate_document(candidate: Candidate) -> dict[str, Any]:
    """A candidate as JSON-ready settings (what `candidate_from` reads back)."""
    return {
        "params": candidate.params.model_dump(mode="json"),
        "conditions": candidate.conditions.model_dump(mode="json"),
    }


def candidate_from(trial: FrozenTrial) -> Candidate:
    """The settings a trial ran with, validated again."""
    document = trial.user_attrs[CANDIDATE]
    return Candidate(
        StrategyParams.model_validate(document["params"]), Conditions.model_validate(document["conditions"])
    )


def study_name(setup: dict[str, Any], fold: int) -> str:
    """A name that changes with anything that changes the trials' meaning, so a resume never mixes runs."""
    digest = _digest(json.dumps(setup, sort_keys=True, default=str))
    return f"tradebot-optimize-{digest}-fold{fold}"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
