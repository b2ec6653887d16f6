"""`tradebot backtest`: load candles, replay them under the given settings, write the report files.

The settings arrive as values (`StrategyParams`, `Conditions`): the command line reads the params
and conditions files, so the backtest depends only on `core` and `marketdata`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from tradebot.backtest.chart import render_chart
from tradebot.backtest.progress import ProgressBar
from tradebot.backtest.replay import ReplayResult, replay, replay_stepwise
from tradebot.backtest.report import (
    BacktestContext,
    equity_curve,
    summarise,
    trade_rows,
    write_json,
    write_trades_csv,
)
from tradebot.core.errors import CandleDataError, SettingsError
from tradebot.core.models import CandleSeries, find_gaps, infer_interval
from tradebot.core.params import MARKET_PATTERN, Conditions, StrategyParams
from tradebot.marketdata.candle_files import LoadedCandles, load_candles


@dataclass(frozen=True, slots=True)
class BacktestRequest:
    """Everything `tradebot backtest` was asked to do."""

    data: Path
    params: StrategyParams | None = None  # None: defaults fitted to the data's interval and market
    conditions: Conditions = field(default_factory=Conditions)
    cash: Decimal = Decimal(1_000_000)
    out: Path | None = None
    chart: bool = True
    stepwise: bool = False
    params_origin: str = "params"  # names `params` in an error, e.g. the file they were read from


def run_backtest(request: BacktestRequest, show_progress: bool = False) -> dict[str, Any]:
    """Run one backtest; returns `{"summary": ..., "trades": [...]}` and writes the files.

    With `show_progress`, a long run draws a progress bar on stderr if that is a terminal.
    """
    loaded = load_candles(request.data)
    params = params_for(loaded, request)
    conditions = request.conditions
    series = loaded.series
    if len(series) <= params.warmup_bars:
        raise CandleDataError(
            f"{request.data.name}: {len(series)} candles cannot outlast the warm-up of "
            f"{params.warmup_bars} (warmup_bars); give more candles or a shorter warm-up"
        )
    bar = ProgressBar.for_run(len(series)) if show_progress else ProgressBar(enabled=False)
    bar.stage("replaying")
    result = _replay(request, series, params, conditions, bar)
    context = BacktestContext(
        series, params, conditions, request.cash, find_gaps(series.start_ns, params.interval), _source(loaded)
    )
    bar.stage("reporting")
    document = _report(context, result, request)
    bar.finish()
    return document


def _replay(
    request: BacktestRequest,
    series: CandleSeries,
    params: StrategyParams,
    conditions: Conditions,
    bar: ProgressBar,
) -> ReplayResult:
    if request.stepwise:
        return replay_stepwise(series, params, conditions, request.cash)
    return replay(series, params, conditions, request.cash, bar.update)


def params_for(loaded: LoadedCandles, request: BacktestRequest) -> StrategyParams:
    """The request's params, checked against the data; defaults fitted to the data if none."""
    interval = infer_interval(loaded.series.start_ns)
    params = request.params
    if params is None:
        if interval is None:
            raise CandleDataError("cannot tell the candle interval from the data; pass --params")
        market = loaded.market or StrategyParams().market
        if not MARKET_PATTERN.fullmatch(market):
            raise CandleDataError(f"the data's market {market} is not a KRW market; tradebot trades KRW-*")
        return StrategyParams(interval=interval, market=market)
    origin = request.params_origin
    if interval is not None and interval is not params.interval:
        raise SettingsError(
            f"{origin}: interval is {params.interval.value} but the data's candles are {interval.value}"
        )
    if loaded.market is not None and loaded.market != params.market:
        raise SettingsError(f"{origin}: market is {params.market} but the data is {loaded.market}")
    return params


def _source(loaded: LoadedCandles) -> dict[str, Any]:
    return {"layout": loaded.layout, "reversed_input": loaded.reversed_input}


def _report(context: BacktestContext, result: ReplayResult, request: BacktestRequest) -> dict[str, Any]:
    equity = equity_curve(context.series, result, context.cash)
    summary = summarise(context, result, equity)
    summary["source"]["data"] = str(request.data)
    summary["params"] = context.params.model_dump(mode="json")
    summary["conditions"] = context.conditions.model_dump(mode="json")
    rows = trade_rows(context.series, result.trades)
    if request.out is not None:
        request.out.mkdir(parents=True, exist_ok=True)
        write_json(request.out / "summary.json", summary)
        write_json(request.out / "trades.json", rows, pretty=False)
        write_trades_csv(request.out / "trades.csv", rows)
        if request.chart:
            chart = render_chart(context.series, result.trades, equity, summary)
            (request.out / "chart.html").write_text(chart, encoding="utf-8")
    return {"summary": summary, "trades": rows}
