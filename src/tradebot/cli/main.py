"""The `tradebot` command line: one parser, one table from subcommand to handler, one error policy.

Every expected failure (bad file, bad settings, bad data) ends with one line on stderr and exit
status 2; tracebacks are reserved for bugs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from tradebot.cli.backtest import (
    add_backtest_commands,
    backtest_command,
    demo_backtest_command,
    generate_command,
)
from tradebot.cli.backup import add_backup_commands, backup_command, restore_command
from tradebot.cli.ctl import add_ctl_command, ctl_command
from tradebot.cli.engine import add_engine_command, engine_command
from tradebot.cli.health import add_health_command, health_command
from tradebot.cli.launch import add_launch_commands, demo_command, up_command
from tradebot.cli.notify import add_notify_command, notify_command
from tradebot.cli.optimize import add_optimize_command, optimize_command
from tradebot.cli.run import add_run_command, run_command
from tradebot.cli.simulator import add_simulator_command, run_simulator_command
from tradebot.cli.user import add_user_command, user_command
from tradebot.cli.why import add_why_command, why_command
from tradebot.core.errors import TradebotError
from tradebot.services.file_modes import prepare_private_home, restrict_umask
from tradebot.services.paths import data_home

USAGE_ERROR = 2
# Commands that write into the data directory: it is made owner-only before they start.
DATA_COMMANDS = frozenset({"run", "user", "engine", "ctl", "up", "backup", "restore", "notify"})


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line like every other error."""

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE_ERROR, f"tradebot: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = _Parser(prog="tradebot", description="MACD trading bot for Upbit KRW markets")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    add_backtest_commands(commands)
    add_optimize_command(commands)
    add_launch_commands(commands)
    add_simulator_command(commands)
    add_run_command(commands)
    add_user_command(commands)
    add_engine_command(commands)
    add_ctl_command(commands)
    add_health_command(commands)
    add_backup_commands(commands)
    add_why_command(commands)
    add_notify_command(commands)
    return parser


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "backtest": backtest_command,
    "generate-candles": generate_command,
    "demo-backtest": demo_backtest_command,
    "optimize": optimize_command,
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
    "notify": notify_command,
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
