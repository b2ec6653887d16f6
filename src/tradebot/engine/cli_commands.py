"""`tradebot run` and `tradebot user ...`: one user's loop in the foreground, and user admin.

Light to import: the engine, client and storage are imported when a command runs, so that
`tradebot backtest` does not pay for them at start-up (bench/backtest_speed.py).
"""

from __future__ import annotations

import argparse
import getpass
import signal
import sys
import threading
from contextlib import ExitStack
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from tradebot.cli_arguments import krw_amount
from tradebot.core.errors import SettingsError
from tradebot.services.paths import data_home

SubParsers = Any  # argparse's private _SubParsersAction type


def add_engine_commands(commands: SubParsers) -> None:
    """Register `run` and `user` on the top-level parser."""
    run = commands.add_parser("run", help="run one user's trading loop in the foreground")
    run.add_argument("--user", required=True, help="username (a-z, 0-9, _; 3-32 characters)")
    run.add_argument("--mode", choices=("test", "live"), default="test", help="TEST (paper, default) or LIVE")
    run.add_argument("--exchange-url", help="Upbit API base URL, e.g. a simulator's (default: Upbit's own)")
    run.add_argument("--confirm-live", action="store_true", help="required for --mode live: real orders")
    run.add_argument(
        "--cycle-seconds", type=_cycle, default=5.0, help="seconds between cycles (default 5; tests use less)"
    )
    user = commands.add_parser("user", help="create users and store their Upbit keys")
    actions = user.add_subparsers(dest="user_command", required=True)
    add = actions.add_parser("add", help="create a user (password read from the terminal or stdin)")
    add.add_argument("name")
    add.add_argument("--cash", type=krw_amount, default=Decimal(1_000_000), help="TEST starting KRW")
    add.add_argument("--no-password", action="store_true", help="no dashboard login (engine-only user)")
    password = actions.add_parser(
        "password", help="set a new dashboard password (read from the terminal or stdin); ends every login"
    )
    password.add_argument("name")
    keys = actions.add_parser("set-keys", help="store LIVE keys, encrypted (read from the terminal or stdin)")
    keys.add_argument("name")


def run_command(arguments: argparse.Namespace) -> int:
    """`tradebot run`: cycle until Ctrl-C or SIGTERM, then stop cleanly."""
    from tradebot.core.clock import SystemClock
    from tradebot.engine.bootstrap import RunRequest, build_loop, run_loop
    from tradebot.exchange.upbit import DEFAULT_BASE_URL

    request = RunRequest(
        home=data_home(), username=arguments.user, mode="LIVE" if arguments.mode == "live" else "TEST",
        exchange_url=arguments.exchange_url or DEFAULT_BASE_URL, live_confirmed=arguments.confirm_live,
    )  # fmt: skip
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    clock = SystemClock()
    with ExitStack() as resources:
        loop = build_loop(request, clock, resources)
        params = loop.settings.params
        where = f"{params.market} {params.interval.value} via {request.exchange_url}"
        print(f"{request.username}: {request.mode} on {where}")
        try:
            run_loop(loop, clock, stop, lambda line: print(line, flush=True), arguments.cycle_seconds)
        except KeyboardInterrupt:
            stop.set()
    print("stopped")
    return 0


def user_command(arguments: argparse.Namespace) -> int:
    """`tradebot user add|password|set-keys`."""
    from tradebot.services.user_admin import UpbitKeys, change_password, create_user, save_keys

    home, now = data_home(), datetime.now(UTC)
    if arguments.user_command == "add":
        password = None if arguments.no_password else _secret_input("password: ")
        path = create_user(home, arguments.name, password, now, arguments.cash)
        print(f"created {arguments.name} ({path}), TEST capital {arguments.cash:,} KRW")
        return 0
    if arguments.user_command == "password":
        ended = change_password(home, arguments.name, _secret_input("new password: "))
        print(f"password of {arguments.name} changed; {ended} dashboard session(s) ended")
        return 0
    keys = UpbitKeys(_secret_input("Upbit access key: "), _secret_input("Upbit secret key: "))
    save_keys(home, arguments.name, keys, now)
    print(f"stored encrypted keys for {arguments.name}")
    return 0


def _secret_input(prompt: str) -> str:
    """From the terminal without echo, or one line of stdin (for scripts)."""
    value = getpass.getpass(prompt) if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")
    if not value:
        raise SettingsError(f"empty {prompt.rstrip(': ')}")
    return value


def _cycle(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number of seconds") from None
    if not 0.1 <= seconds <= 3600:
        raise argparse.ArgumentTypeError(f"cycle must be between 0.1 and 3600 seconds, got {text}")
    return seconds
