"""How fast is `tradebot backtest` on a million 1-minute candles?

Generates a seeded minute1 series (default 1,000,000 candles), writes it as parquet and as CSV in
pyupbit's layout, then measures

1. the whole command, `python -m tradebot backtest --data FILE --out DIR`, in a child process
   per run (best of 3), with the child's peak RSS;
2. the replay alone, in-process: `replay(series, params, conditions, 1,000,000 KRW)` (best of 5),
   and the indicator stage alone (`indicator_frame`, best of 5).

Targets (from the issue): replay < 0.25 s, whole command < 2 s and < 300 MB.

    .venv/bin/python bench/backtest_speed.py [--candles N] [--keep DIR]

Not part of the test suite; needs only the project's installed dependencies.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

from tradebot.backtest.replay import indicator_frame, replay
from tradebot.core.models import CandleSeries, Interval
from tradebot.core.params import Conditions, StrategyParams
from tradebot.marketdata.candle_writers import save_candles
from tradebot.marketdata.synthetic import generate_candles

SEED = 20_240_101
MARKET = "KRW-BTC"
CASH = Decimal(1_000_000)
COMMAND_RUNS = 3
IN_PROCESS_RUNS = 5
REPLAY_TARGET_SECONDS = 0.25
COMMAND_TARGET_SECONDS = 2.0
RSS_TARGET_MB = 300.0
BYTES_PER_MB = 1024 * 1024

# Peak RSS per run: every command run is spawned through this tiny wrapper, a fresh Python process
# whose only child is the backtest. getrusage(RUSAGE_CHILDREN).ru_maxrss is the largest RSS of any
# child a process has waited for, so in a fresh wrapper it is exactly this run's peak (read in the
# benchmark process itself it would be the maximum over every run so far). The wrapper also times
# the child, so its own start-up is not counted; the child's interpreter start-up and imports are.
WRAPPER = """
import json, resource, subprocess, sys, time
started = time.perf_counter()
done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
seconds = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"seconds": seconds, "peak": peak, "status": done.returncode, "stderr": done.stderr}))
"""

Result = TypeVar("Result")


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the results table."""

    stage: str
    candles: int
    trades: int | None
    seconds: float
    peak_mb: float | None = None
    target: str = ""
    passed: bool | None = None


def best_of(runs: int, action: Callable[[], Result]) -> tuple[float, Result]:
    """Fastest wall time of `runs` calls of `action`, and the last call's result."""
    fastest = float("inf")
    result: Result | None = None
    for _ in range(runs):
        started = time.perf_counter()
        result = action()
        fastest = min(fastest, time.perf_counter() - started)
    assert result is not None
    return fastest, result


def rss_to_mb(max_rss: int) -> float:
    """ru_maxrss is in kilobytes on Linux and in bytes on macOS."""
    return max_rss / BYTES_PER_MB if sys.platform == "darwin" else max_rss / 1024


def write_inputs(series: CandleSeries, directory: Path) -> dict[str, Path]:
    """The series as parquet and as CSV, pyupbit layout; the market is taken from the file name."""
    files = {}
    for kind in ("parquet", "csv"):
        path = directory / f"{MARKET}_minute1_bench.{kind}"
        started = time.perf_counter()
        save_candles(series, path)
        elapsed = time.perf_counter() - started
        print(f"wrote {path.name}: {path.stat().st_size / BYTES_PER_MB:,.1f} MB in {elapsed:.2f} s")
        files[kind] = path
    return files


def run_command_once(data: Path, out: Path) -> tuple[float, float]:
    """One `tradebot backtest` in a fresh wrapper: (wall seconds, peak RSS MB) of the child."""
    command = [sys.executable, "-m", "tradebot", "backtest", "--data", str(data), "--out", str(out)]
    wrapper = subprocess.run(
        [sys.executable, "-c", WRAPPER, *command], capture_output=True, text=True, check=True
    )
    report = json.loads(wrapper.stdout)
    if report["status"] != 0:
        raise SystemExit(f"tradebot backtest failed ({report['status']}): {report['stderr'].strip()}")
    return float(report["seconds"]), rss_to_mb(int(report["peak"]))


def time_command(kind: str, data: Path, out: Path, candles: int) -> Row:
    """Best of COMMAND_RUNS whole-command runs; the peak RSS is the largest seen in any run."""
    runs = [run_command_once(data, out) for _ in range(COMMAND_RUNS)]
    seconds = min(run[0] for run in runs)
    peak_mb = max(run[1] for run in runs)
    trades = int(json.loads((out / "summary.json").read_text(encoding="utf-8"))["trades"])
    passed = seconds < COMMAND_TARGET_SECONDS and peak_mb < RSS_TARGET_MB
    target = f"< {COMMAND_TARGET_SECONDS:g} s, < {RSS_TARGET_MB:g} MB"
    return Row(f"command ({kind})", candles, trades, seconds, peak_mb, target, passed)


def time_in_process(series: CandleSeries) -> list[Row]:
    """The indicator stage and the whole fast replay, in this process, best of IN_PROCESS_RUNS."""
    params = StrategyParams(interval=Interval.MINUTE1, market=MARKET)
    conditions = Conditions()
    replay(series, params, conditions, CASH)  # warm caches and lazy imports before timing
    frame_seconds, _ = best_of(IN_PROCESS_RUNS, lambda: indicator_frame(series, params, conditions))
    replay_seconds, result = best_of(IN_PROCESS_RUNS, lambda: replay(series, params, conditions, CASH))
    count = len(series)
    return [
        Row("indicators", count, None, frame_seconds),
        Row(
            "replay",
            count,
            len(result.trades),
            replay_seconds,
            target=f"< {REPLAY_TARGET_SECONDS:g} s",
            passed=replay_seconds < REPLAY_TARGET_SECONDS,
        ),
    ]


def print_table(rows: list[Row]) -> None:
    header = f"{'stage':<18} {'candles':>10} {'trades':>7} {'seconds':>8} {'candles/s':>12} {'peak RSS':>9}"
    print(f"\n{header}  {'target':<20} result")
    print("-" * (len(header) + 29))
    for row in rows:
        trades = "" if row.trades is None else f"{row.trades:,}"
        peak = "" if row.peak_mb is None else f"{row.peak_mb:,.0f} MB"
        verdict = "" if row.passed is None else ("PASS" if row.passed else "MISS")
        print(
            f"{row.stage:<18} {row.candles:>10,} {trades:>7} {row.seconds:>8.3f} "
            f"{row.candles / row.seconds:>12,.0f} {peak:>9}  {row.target:<20} {verdict}".rstrip()
        )


def print_machine() -> None:
    """What the numbers depend on; a busy machine makes every figure slower and noisier."""
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"python {sys.version.split()[0]} on {sys.platform}, {os.cpu_count()} CPUs, load average {load}")


def run(candles: int, directory: Path) -> None:
    print_machine()
    started = time.perf_counter()
    series = generate_candles(candles, interval=Interval.MINUTE1, seed=SEED)
    print(f"generated {len(series):,} minute1 candles (seed {SEED}) in {time.perf_counter() - started:.2f} s")
    files = write_inputs(series, directory)
    rows = time_in_process(series)
    for kind, data in files.items():
        rows.append(time_command(kind, data, directory / f"out_{kind}", candles))
    print_table(rows)
    print_machine()


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--candles", type=int, default=1_000_000, help="series length (default 1,000,000)")
    parser.add_argument("--keep", type=Path, help="write the inputs and outputs here and keep them")
    return parser.parse_args()


def main() -> None:
    arguments = parse_arguments()
    if arguments.candles < 1_000:
        raise SystemExit("--candles must be at least 1000 (the warm-up alone is 200)")
    if arguments.keep is not None:
        arguments.keep.mkdir(parents=True, exist_ok=True)
        run(arguments.candles, arguments.keep)
        return
    with tempfile.TemporaryDirectory(prefix="tradebot_bench_") as scratch:
        run(arguments.candles, Path(scratch))


if __name__ == "__main__":
    main()
