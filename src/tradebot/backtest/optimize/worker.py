"""Evaluating trials in parallel worker processes.

Each worker receives the candles once (at start) and keeps its own indicator cache; a task is
only a window and a candidate, and the answer only its figures. The study itself (sampler,
storage) stays in the parent, which asks and tells in a fixed order, so a run is repeatable for a
given `--seed` and `--jobs`.
"""

from __future__ import annotations

import multiprocessing
import signal
from collections.abc import Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from decimal import Decimal

from tradebot.backtest.optimize.evaluate import Window, WindowEvaluator
from tradebot.backtest.optimize.space import Candidate
from tradebot.core.models import CandleSeries

PendingResults = Callable[[], list[dict[str, float]]]
_worker_evaluator: WindowEvaluator | None = None  # one per worker process, set by its initializer


def _start_worker(series: CandleSeries, cash: Decimal, cache: bool) -> None:
    global _worker_evaluator  # noqa: PLW0603 -- per-process state of a pool worker, set once at start
    # Ctrl-C reaches every process of the terminal's group: the parent alone handles it (it keeps the
    # finished trials in the storage and shuts the pool down), so a worker does not print a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _worker_evaluator = WindowEvaluator(series, cash, cache)


def _evaluate_in_worker(window: Window, candidate: Candidate) -> dict[str, float]:
    if _worker_evaluator is None:
        raise RuntimeError("worker started without its candles")
    return _worker_evaluator.metrics(window, candidate.params, candidate.conditions)


class TrialPool:
    """Evaluates candidates in this process (`jobs == 1`) or in `jobs` worker processes."""

    def __init__(self, series: CandleSeries, cash: Decimal, jobs: int, cache: bool = True) -> None:
        self.jobs = jobs
        self._local = WindowEvaluator(series, cash, cache)
        self._executor: Executor | None = None
        if jobs > 1:
            # spawn, not fork: the dashboard calls this from a threaded server, and fork copies locks.
            self._executor = ProcessPoolExecutor(
                max_workers=jobs,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_worker,
                initargs=(series, cash, cache),
            )

    @property
    def evaluator(self) -> WindowEvaluator:
        """The in-process evaluator (out-of-sample runs and reports use it)."""
        return self._local

    def submit(self, window: Window, candidates: list[Candidate]) -> PendingResults:
        """Start evaluating the candidates on `window`; the returned call waits for their figures
        (in the order given). In-process, the work happens when it is called."""
        if self._executor is None:
            local, chosen = self._local, list(candidates)
            return lambda: [local.metrics(window, item.params, item.conditions) for item in chosen]
        futures: list[Future[dict[str, float]]] = [
            self._executor.submit(_evaluate_in_worker, window, item) for item in candidates
        ]
        return lambda: [future.result() for future in futures]

    def close(self) -> None:
        """Stop the worker processes."""
        if self._executor is not None:
            self._executor.shutdown(cancel_futures=True)
            self._executor = None

    def __enter__(self) -> TrialPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
