"""The `tradebot` command line.

Every expected failure (bad file, bad settings, bad data) ends with one line on stderr and exit
status 2; tracebacks are reserved for bugs.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import NoReturn

from tradebot.backtest.candle_files import save_candles
from tradebot.backtest.report import format_summary
from tradebot.backtest.runner import BacktestRequest, run_backtest
from tradebot.backtest.synthetic import generate_candles
from tradebot.cli_arguments import krw_amount
from tradebot.core.errors import TradebotError
from tradebot.core.models import Interval
from tradebot.core.params import MARKET_PATTERN
from tradebot.engine.cli_commands import add_engine_commands, run_command, user_command
from tradebot.engine.health_cli import add_health_command, health_command
from tradebot.engine.service_cli import add_service_commands, ctl_command, engine_command
from tradebot.engine.storage_cli import add_storage_commands, backup_command, restore_command
from tradebot.exchange.simulator.cli_options import add_simulator_command, run_simulator_command
from tradebot.launch import add_launch_commands, demo_command, up_command
from tradebot.services.file_modes import prepare_private_home, restrict_umask
from tradebot.services.paths import data_home
from tradebot.why_cli import add_why_command, why_command

USAGE_ERROR = 2
# Commands that write into the data directory: it is made owner-only before they start.
DATA_COMMANDS = frozenset({"run", "user", "engine", "ctl", "up", "backup", "restore"})


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line like every other error."""

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE_ERROR, f"tradebot: error: {message} (see --help)\n")


def _market(text: str) -> str:
    market = text.strip().upper()
    if not MARKET_PATTERN.fullmatch(market):
        raise argparse.ArgumentTypeError(f"'{text}' is not a KRW market code like KRW-BTC")
    return market


def _add_backtest(commands: argparse._SubParsersAction[_Parser]) -> None:
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


def _add_generate(commands: argparse._SubParsersAction[_Parser]) -> None:
    command = commands.add_parser("generate-candles", help="write a seeded synthetic candle file")
    command.add_argument("--out", type=Path, required=True, help="file to write (.csv/.parquet/.json)")
    command.add_argument("--count", type=int, default=10_000, help="number of candles")
    command.add_argument("--interval", type=Interval, default=Interval.MINUTE1, choices=list(Interval))
    command.add_argument("--seed", type=int, default=7)
    command.add_argument("--market", type=_market, default="KRW-BTC")
    command.add_argument("--layout", choices=("pyupbit", "upbit"), default="pyupbit")
    command.add_argument("--gap-probability", type=float, default=0.0, help="share of candles left out")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = _Parser(prog="tradebot", description="MACD trading bot for Upbit KRW markets")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_backtest(commands)
    _add_generate(commands)
    commands.add_parser("demo-backtest", help="backtest the default strategy on generated candles")
    add_launch_commands(commands)
    add_simulator_command(commands)
    add_engine_commands(commands)
    add_service_commands(commands)
    add_health_command(commands)
    add_storage_commands(commands)
    add_why_command(commands)
    return parser


def _run_backtest(arguments: argparse.Namespace) -> int:

    request = BacktestRequest(
        data=arguments.data,
        params=arguments.params,
        conditions=arguments.conditions,
        cash=arguments.cash,
        out=arguments.out,
        chart=not arguments.no_chart,
        stepwise=arguments.stepwise,
    )
    document = run_backtest(request, show_progress=True)
    if arguments.json:
        json.dump(document, sys.stdout, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        print(format_summary(document["summary"]))
        print(f"  files               {arguments.out}/(summary.json, trades.json, trades.csv, chart.html)")
    return 0


def _run_generate(arguments: argparse.Namespace) -> int:

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


def _run_demo(arguments: argparse.Namespace) -> int:

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


COMMANDS = {
    "backtest": _run_backtest,
    "generate-candles": _run_generate,
    "demo-backtest": _run_demo,
    "demo": demo_command,
    "up": up_command,
    "simulator": run_simulator_command,
    "run": run_command,
    "user": user_command,
    "engine": engine_command,
    "ctl": ctl_command,
    "health": health_command,
    "backup": backup_command,
    "restore": restore_command,
    "why": why_command,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `tradebot` console script."""
    arguments = build_parser().parse_args(argv)
    restrict_umask()  # whatever a command creates (databases, logs, reports) is owner-only
    try:
        if arguments.command in DATA_COMMANDS:
            prepare_private_home(data_home(), lambda line: print(f"tradebot: {line}", file=sys.stderr))
        return COMMANDS[arguments.command](arguments)
    except TradebotError as error:
        print(f"tradebot: error: {error}", file=sys.stderr)
    except OSError as error:
        print(
            f"tradebot: error: {error.strerror or error}: {error.filename or ''}".rstrip(": "),
            file=sys.stderr,
        )
    except KeyboardInterrupt:
        print("tradebot: interrupted", file=sys.stderr)
        return 130
    return USAGE_ERROR
