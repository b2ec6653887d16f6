"""Writing an optimisation's files: the JSON, every trial as CSV, the HTML report, fold candles.

Each fold's out-of-sample replay window (test candles preceded by the warm-up) is written as a
candle file, so `tradebot backtest --data fold-N/candles.parquet` with that fold's settings files
reproduces the fold's out-of-sample figures.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from tradebot.backtest.optimize.document import trial_rows
from tradebot.backtest.optimize.evaluate import slice_series
from tradebot.backtest.optimize.html_report import render_report
from tradebot.backtest.optimize.walkforward import OptimizeOutcome
from tradebot.backtest.report import write_json
from tradebot.marketdata.candle_writers import save_candles

DOCUMENT_FILE = "optimize.json"
TRIALS_FILE = "trials.csv"
REPORT_FILE = "report.html"
FOLD_CANDLES = "candles.parquet"


def fold_directory(out: Path, fold: int) -> Path:
    """`out/fold-N`: where fold N's reproduction files go."""
    return out / f"fold-{fold}"


def write_outputs(outcome: OptimizeOutcome, document: dict[str, Any], out: Path) -> list[Path]:
    """Write the JSON, trials CSV, HTML report and fold candle files into `out`; returns them."""
    out.mkdir(parents=True, exist_ok=True)
    written = [out / DOCUMENT_FILE, out / TRIALS_FILE, out / REPORT_FILE]
    write_json(written[0], document)
    write_trials_csv(written[1], trial_rows(outcome))
    written[2].write_text(render_report(outcome, document), encoding="utf-8")
    market = outcome.request.base.market
    for fold in outcome.folds:
        test = fold.fold.test
        if test is None or fold.candidate is None:
            continue
        directory = fold_directory(out, fold.fold.number)
        directory.mkdir(exist_ok=True)
        save_candles(slice_series(outcome.request.series, test), directory / FOLD_CANDLES, market=market)
        written.append(directory / FOLD_CANDLES)
    return written


def write_trials_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    """One row per trial; the columns are the union of every row's keys, in first-seen order."""
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(columns), restval="")
        writer.writeheader()
        writer.writerows(rows)
