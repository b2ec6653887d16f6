"""`tradebot backtest`, `generate-candles` and `demo-backtest`: the strategy on historical candles.

Every expected failure ends as a TradebotError, which `tradebot.cli.main` prints as one line.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from decimal import Decimal
from pathlib import Path

from tradebot.backtest.report import format_summary
from tradebot.backtest.runner import BacktestRequest, run_backtest
from tradebot.cli.arguments import SubParsers, krw_amount, market_code
from tradebot.core.errors import TradebotError
from tradebot.core.models import Interval
from tradebot.core.params import Conditions
from tradebot.marketdata.candle_writers import save_candles
from tradebot.marketdata.synthetic import generate_candles
from tradebot.services.settings_store import load_conditions, load_params


def add_backtest_commands(commands: SubParsers) -> None:
    """Register `backtest`, `generate-candles` and `demo-backtest` on the top-level parser."""
    _add_backtest(commands)
    _add_generate(commands)
    commands.add_parser("demo-backtest", help="backtest the default strategy on generated candles")


def _add_backtest(commands: SubParsers) -> None:
    command = commands.add_parser("backtest", help="replay historical candles through the strategy")
    command.add_argument("--data", type=Path, required=True, help="candles: .csv, .parquet or .json")
    command.add_argument("--params", type=Path, help="params JSON (default: defaults fitted to the data)")
    command.add_argument("--conditions", type=Path, help="buy/sell conditions JSON (default: defaults)")
    command.add_argument("--cash", type=krw_amount, default=Decimal(1_000_000), help="starting KRW")
    command.add_argument("--out", type=Path, default=Path("backtest_results"), help="output directory")
    command.add_argument("--json", action="store_true", help="print summary and trades as JSON")
    command.add_argument("--no-chart", action="store_true", help="skip chart.html")
    command.add_argument(
        "--stepwise",
        action="store_true",
        help="replay candle by candle through the live decision code (slow; for verification)",
    )


def _add_generate(commands: SubParsers) -> None:
    command = commands.add_parser("generate-candles", help="write a seeded synthetic candle file")
    command.add_argument("--out", type=Path, required=True, help="file to write (.csv/.parquet/.json)")
    command.add_argument("--count", type=int, default=10_000, help="number of candles")
    command.add_argument("--interval", type=Interval, default=Interval.MINUTE1, choices=list(Interval))
    command.add_argument("--seed", type=int, default=7)
    command.add_argument("--market", type=market_code, default="KRW-BTC")
    command.add_argument("--layout", choices=("pyupbit", "upbit"), default="pyupbit")
    command.add_argument("--gap-probability", type=float, default=0.0, help="share of candles left out")


def backtest_command(arguments: argparse.Namespace) -> int:
    """`tradebot backtest`: write the report files and print the summary (or JSON)."""
    request = BacktestRequest(
        data=arguments.data,
        params=load_params(arguments.params) if arguments.params else None,
        conditions=load_conditions(arguments.conditions) if arguments.conditions else Conditions(),
        cash=arguments.cash,
        out=arguments.out,
        chart=not arguments.no_chart,
        stepwise=arguments.stepwise,
        params_origin=str(arguments.params),
    )
    document = run_backtest(request, show_progress=True)
    if arguments.json:
        json.dump(document, sys.stdout, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        print(format_summary(document["summary"]))
        print(f"  files               {arguments.out}/(summary.json, trades.json, trades.csv, chart.html)")
    return 0


def generate_command(arguments: argparse.Namespace) -> int:
    """`tradebot generate-candles`: a seeded synthetic candle file."""
    try:
        series = generate_candles(
            arguments.count,
            interval=arguments.interval,
            seed=arguments.seed,
            gap_probability=arguments.gap_probability,
        )
    except ValueError as error:
        raise TradebotError(str(error)) from None
    save_candles(series, arguments.out, layout=arguments.layout, market=arguments.market)
    print(f"wrote {len(series):,} {arguments.interval.value} candles to {arguments.out}")
    return 0


def demo_backtest_command(arguments: argparse.Namespace) -> int:
    """`tradebot demo-backtest`: the default strategy on 20,000 generated 15-minute candles."""
    series = generate_candles(20_000, interval=Interval.MINUTE15, seed=2024, start_price=3_000_000.0)
    out = Path("backtest_results") / "demo"
    with tempfile.TemporaryDirectory() as scratch:
        data = Path(scratch) / "KRW-ETH_minute15_demo.parquet"
        save_candles(series, data, market="KRW-ETH")
        print(f"Demo: backtest of the default MACD strategy on {len(series):,} generated 15-minute candles")
        document = run_backtest(BacktestRequest(data=data, out=out))
    print(format_summary(document["summary"]))
    print(f"  files               {out}/(summary.json, trades.json, trades.csv, chart.html)")
    return 0
