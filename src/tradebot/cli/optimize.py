"""`tradebot optimize`: search the strategy's settings, validated walk-forward (docs/OPTIMIZE.md).

Every expected failure ends as a TradebotError, which `tradebot.cli.main` prints as one line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

from tradebot.cli.arguments import SubParsers, krw_amount
from tradebot.core.errors import SettingsError

OBJECTIVE_CHOICES = ("return", "sharpe", "sortino", "calmar", "profit_factor")
BEST_PARAMS_FILE = "optimized_latest_params.json"
BEST_CONDITIONS_FILE = "optimized_buy_sell_conditions.json"


def _whole(text: str, lowest: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if value < lowest:
        raise argparse.ArgumentTypeError(f"must be at least {lowest}, got {text}")
    return value


def _positive(text: str) -> int:
    return _whole(text, 1)


def _not_negative(text: str) -> int:
    return _whole(text, 0)


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (exclusive), got {text}")
    return value


def add_optimize_command(commands: SubParsers) -> None:
    """Register `optimize` on the top-level parser."""
    command = commands.add_parser("optimize", help="search strategy settings with walk-forward validation")
    command.add_argument("--data", type=Path, required=True, help="candles: .csv, .parquet or .json")
    command.add_argument("--params", type=Path, help="base params JSON: every setting not searched")
    command.add_argument("--conditions", type=Path, help="base conditions JSON: holds the switches fixed")
    command.add_argument("--cash", type=krw_amount, default=Decimal(1_000_000), help="starting KRW")
    command.add_argument("--space", type=Path, help="YAML narrowing or fixing searched settings")
    command.add_argument("--trials", type=_positive, required=True, help="trials per fold")
    command.add_argument("--walk-forward", type=_positive, metavar="K", help="K walk-forward folds")
    command.add_argument("--train-share", type=_share, default=0.75, help="searched share of each fold")
    command.add_argument("--objective", choices=OBJECTIVE_CHOICES, default="return")
    command.add_argument(
        "--min-trades", type=_not_negative, default=10, help="fewer closed trades: infeasible"
    )
    command.add_argument("--seed", type=int, help="sampler seed: same seed and --jobs, same trials")
    command.add_argument("--jobs", type=_positive, default=os.cpu_count() or 1, help="worker processes")
    command.add_argument("--storage", type=Path, help="study file to resume (.db: SQLite, else journal)")
    command.add_argument("--out", type=Path, help="directory for JSON, trials CSV, settings and report")
    command.add_argument("--json", action="store_true", help="print the result as JSON")


def optimize_command(arguments: argparse.Namespace) -> int:
    """`tradebot optimize`: run the study, write `--out`, print the result."""
    from tradebot.backtest.optimize.document import build_document
    from tradebot.backtest.optimize.files import write_outputs
    from tradebot.backtest.optimize.walkforward import plan, run_optimize
    from tradebot.backtest.progress import ProgressBar

    request = _request(arguments)
    total = len(plan(request)) * arguments.trials
    bar = ProgressBar(enabled=sys.stderr.isatty())
    bar.stage("optimizing")
    done = [0]

    def advance() -> None:
        done[0] += 1
        bar.update(done[0], total)

    outcome = run_optimize(request, after_trial=advance)
    bar.finish()
    document = build_document(outcome)
    if arguments.out is not None:
        write_outputs(outcome, document, arguments.out)
        _write_settings(document, arguments.out)
    if arguments.json:
        json.dump(document, sys.stdout, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        print(format_result(document, arguments.out))
    return 0


def _request(arguments: argparse.Namespace) -> Any:
    """The `OptimizeRequest` the arguments describe (files read and checked here)."""
    import numpy as np

    from tradebot.backtest.optimize.space import load_space
    from tradebot.backtest.optimize.study import SearchSettings
    from tradebot.backtest.optimize.walkforward import OptimizeRequest
    from tradebot.backtest.runner import BacktestRequest, params_for
    from tradebot.marketdata.candle_files import load_candles
    from tradebot.services.settings_store import load_conditions, load_params

    loaded = load_candles(arguments.data)
    params = load_params(arguments.params) if arguments.params else None
    base = params_for(loaded, BacktestRequest(arguments.data, params, params_origin=str(arguments.params)))
    fixed = load_conditions(arguments.conditions) if arguments.conditions else None
    space = load_space(arguments.space, float(np.median(loaded.series.close)), fixed)
    if arguments.storage is not None and arguments.storage.is_dir():
        raise SettingsError(f"{arguments.storage}: --storage must be a file, not a directory")
    settings = SearchSettings(
        arguments.trials,
        arguments.objective,
        arguments.min_trades,
        arguments.seed,
        arguments.jobs,
        arguments.storage,
    )
    return OptimizeRequest(
        loaded.series, base, arguments.cash, space, settings, arguments.walk_forward, arguments.train_share
    )


def _write_settings(document: dict[str, Any], out: Path) -> None:
    """The best settings as ready-to-use files, and each fold's next to its candles."""
    from tradebot.backtest.optimize.files import fold_directory
    from tradebot.core.params import Conditions, StrategyParams
    from tradebot.services.settings_store import save_conditions, save_params

    best = document["best"]
    if best is not None:
        save_params(out / BEST_PARAMS_FILE, StrategyParams.model_validate(best["params"]))
        save_conditions(out / BEST_CONDITIONS_FILE, Conditions.model_validate(best["conditions"]))
    for fold in document["folds"]:
        if fold["params"] is None or fold["out_of_sample"] is None:
            continue
        directory = fold_directory(out, fold["fold"])
        save_params(directory / "params.json", StrategyParams.model_validate(fold["params"]))
        save_conditions(directory / "conditions.json", Conditions.model_validate(fold["conditions"]))


def format_result(document: dict[str, Any], out: Path | None) -> str:
    """The result as text lines for a terminal."""
    summary = document["summary"]
    lines = [
        f"Optimize {summary['market']} {summary['interval']}: {summary['candles']:,} candles, "
        f"{summary['folds']} fold(s), {summary['search']['trials']} trials each ({summary['mode']})",
    ]
    for fold in document["folds"]:
        inside, outside = fold["in_sample"], fold["out_of_sample"]
        line = f"  fold {fold['fold']}: "
        if inside is None:
            line += f"no feasible trial ({fold['trials']} tried)"
        else:
            line += f"in-sample {inside['return']:>8.2%} ({inside['trades']} trades)"
            if outside is not None:
                line += f"   out-of-sample {outside['return']:>8.2%} ({outside['trades']} trades)"
        lines.append(line)
    lines.append(f"  verdict: {summary['verdict']}")
    if out is not None:
        names = f"{BEST_PARAMS_FILE}, {BEST_CONDITIONS_FILE}, optimize.json, trials.csv, report.html"
        lines.append(f"  files: {out}/({names})")
    return "\n".join(lines)
