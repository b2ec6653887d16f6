"""`tradebot engine`: every switched-on user's loop in one process, until SIGTERM or Ctrl-C.

Light to import: the engine is imported when the command runs.
"""

from __future__ import annotations

import argparse
import signal
import threading

from tradebot.cli.arguments import SubParsers, cycle_seconds
from tradebot.services.paths import data_home

TICKER_MAX_AGE = 1.0  # seconds a shared price is reused (at most one ticker request per second)


def add_engine_command(commands: SubParsers) -> None:
    """Register `engine` on the top-level parser."""
    engine = commands.add_parser("engine", help="run the loops of every switched-on user (one per data dir)")
    engine.add_argument("--exchange-url", help="Upbit API base URL, e.g. a simulator's (default: Upbit's)")
    engine.add_argument(
        "--cycle-seconds",
        type=cycle_seconds,
        default=5.0,
        help="seconds between cycles (default 5; tests use less)",
    )
    engine.add_argument(
        "--stall-seconds",
        type=cycle_seconds,
        help="watchdog: restart a loop silent this long (default: 6 cycles, at least 30 s)",
    )


def engine_command(arguments: argparse.Namespace) -> int:
    """`tradebot engine`: hold the data directory's lock and run every user until SIGTERM/Ctrl-C."""
    import psutil

    from tradebot.core.clock import SystemClock
    from tradebot.engine.engine_manager import EngineManager, engine_id, live_loop_factory
    from tradebot.engine.lock_manager import EngineLock
    from tradebot.engine.market_list import MarketList
    from tradebot.engine.runner_types import RunnerSettings
    from tradebot.engine.shared_feed import SharedQuotations
    from tradebot.exchange.upbit import DEFAULT_BASE_URL, UpbitQuotationClient, UpbitSession

    home, clock = data_home(), SystemClock()
    url = arguments.exchange_url or DEFAULT_BASE_URL
    settings = RunnerSettings(
        home=home, exchange_url=url, engine_id=engine_id(), cycle_seconds=arguments.cycle_seconds,
        stall_seconds=arguments.stall_seconds,
    )  # fmt: skip
    with EngineLock(home), UpbitSession(base_url=url) as session:
        # one HTTP session and one market-data cache for every user (the shared feed)
        max_age = min(TICKER_MAX_AGE, settings.cycle_seconds / 2)
        quotations = SharedQuotations(UpbitQuotationClient(session), clock, ticker_max_age=max_age)
        markets = MarketList(UpbitQuotationClient(session), clock)  # read every 5 minutes for all users
        factory = live_loop_factory(clock, session, quotations, markets)
        manager = EngineManager(settings, clock, factory, _print, process=psutil.Process(), markets=markets)
        signal.signal(signal.SIGTERM, lambda *_: manager.stop.set())
        _print(f"engine {settings.engine_id} on {home} via {url}")
        try:
            manager.run()
        except KeyboardInterrupt:
            manager.stop.set()
            manager.join()
    _print("engine stopped")
    return 0


_lock = threading.Lock()


def _print(line: str) -> None:
    """One message, whole, even with several runner threads printing."""
    with _lock:
        print(line, flush=True)
