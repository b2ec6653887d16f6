"""How many trials a second does `tradebot optimize` manage?

Loads a real candle file (default: the largest shipped one, KRW-ETH 15-minute 2024, from
`/work/shared/data/upbit`; never copied into the repo) or, with `--synthetic N`, N seeded
one-minute candles (the issue's goal is 200 trials on 131,072). Then measures, in-process,
`run_optimize` over the default search space with the indicator cache on and off, at jobs=1 and
jobs=2, and the whole command (`python -m tradebot optimize`) once with all cores.

Goal (issue 16): 200 trials on 131,072 one-minute candles in <= 5 s as a whole command (>= 40/s).

    .venv/bin/python bench/optimize_speed.py [--data FILE | --synthetic N] [--trials N]

Not part of the test suite; needs only the project's installed dependencies.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import numpy as np

from tradebot.backtest.optimize.space import load_space
from tradebot.backtest.optimize.study import SearchSettings
from tradebot.backtest.optimize.walkforward import OptimizeRequest, run_optimize
from tradebot.backtest.runner import BacktestRequest, params_for
from tradebot.core.models import Interval
from tradebot.marketdata.candle_files import LoadedCandles, load_candles
from tradebot.marketdata.candle_writers import save_candles
from tradebot.marketdata.synthetic import generate_candles

SHARED_DATA = Path("/work/shared/data/upbit")
DEFAULT_FILE = SHARED_DATA / "myselios_dg_bot" / "KRW-ETH_15m_2024.csv"
SEED = 20_240_101
CASH = Decimal(1_000_000)
MIN_TRADES = 10
GOAL_TRIALS_PER_SECOND = 40.0


def _load(arguments: argparse.Namespace, scratch: Path) -> tuple[LoadedCandles, Path]:
    if arguments.synthetic:
        series = generate_candles(arguments.synthetic, interval=Interval.MINUTE1, seed=SEED)
        path = scratch / "KRW-BTC_minute1_synthetic.parquet"
        save_candles(series, path, market="KRW-BTC")
        return load_candles(path), path
    return load_candles(arguments.data), arguments.data


def _trials_per_second(loaded: LoadedCandles, path: Path, trials: int, jobs: int, cache: bool) -> float:
    base = params_for(loaded, BacktestRequest(path))
    space = load_space(None, float(np.median(loaded.series.close)))
    settings = SearchSettings(trials, "return", MIN_TRADES, SEED, jobs)
    request = OptimizeRequest(loaded.series, base, CASH, space, settings, cache=cache)
    started = time.perf_counter()
    run_optimize(request)
    return trials / (time.perf_counter() - started)


def _whole_command(path: Path, trials: int, scratch: Path) -> float:
    command = [sys.executable, "-m", "tradebot", "optimize", "--data", str(path), "--trials", str(trials)]
    command += ["--seed", str(SEED), "--min-trades", str(MIN_TRADES), "--json"]
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, cwd=scratch)
    return time.perf_counter() - started


def main() -> None:
    """Print trials/second for each configuration, then the whole command's time."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_FILE)
    parser.add_argument("--synthetic", type=int, help="use N seeded one-minute candles instead")
    parser.add_argument("--trials", type=int, default=200)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        scratch = Path(directory)
        loaded, path = _load(arguments, scratch)
        print(f"{path.name}: {len(loaded.series):,} candles, {arguments.trials} trials, default space")
        for jobs in (1, 2):
            for cache in (True, False):
                rate = _trials_per_second(loaded, path, arguments.trials, jobs, cache)
                print(f"  jobs={jobs} cache={'on ' if cache else 'off'}  {rate:8.1f} trials/s")
        seconds = _whole_command(path, arguments.trials, scratch)
        rate = arguments.trials / seconds
        verdict = "meets" if rate >= GOAL_TRIALS_PER_SECOND else "misses"
        print(
            f"  whole command, jobs={os.cpu_count()}: {seconds:.2f} s = {rate:.1f} trials/s "
            f"({verdict} the goal of {GOAL_TRIALS_PER_SECOND:.0f}/s)"
        )


if __name__ == "__main__":
    main()
