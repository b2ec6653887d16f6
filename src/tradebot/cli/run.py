"""`tradebot run`: one user's trading loop in the foreground (the engine runs every user's).

Light to import: the engine, client and storage are imported when the command runs, so that
`tradebot backtest` does not pay for them at start-up (bench/backtest_speed.py).
"""

from __future__ import annotations

import argparse
import signal
import threading
from contextlib import ExitStack

from tradebot.cli.arguments import SubParsers, cycle_seconds
from tradebot.services.paths import data_home


def add_run_command(commands: SubParsers) -> None:
    """Register `run` on the top-level parser."""
    run = commands.add_parser("run", help="run one user's trading loop in the foreground")
    run.add_argument("--user", required=True, help="username (a-z, 0-9, _; 3-32 characters)")
    run.add_argument("--mode", choices=("test", "live"), default="test", help="TEST (paper, default) or LIVE")
    run.add_argument("--exchange-url", help="Upbit API base URL, e.g. a simulator's (default: Upbit's own)")
    run.add_argument("--confirm-live", action="store_true", help="required for --mode live: real orders")
    run.add_argument(
        "--cycle-seconds",
        type=cycle_seconds,
        default=5.0,
        help="seconds between cycles (default 5; tests use less)",
    )


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
