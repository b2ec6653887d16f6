"""The `tradebot simulator` command: its options, help text and handler.

Light to import: the web server is imported when the command runs, not when any other command
starts.
"""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from tradebot.core.params import MARKET_PATTERN
from tradebot.exchange.simulator.config import build_config, load_accounts
from tradebot.exchange.simulator.faults import FaultSettings
from tradebot.exchange.simulator.ratelimit import RateLimitSettings

MAX_LATENCY_SECONDS = 60.0
MAX_BURST_LENGTH = 10_000
ParserT = TypeVar("ParserT", bound=argparse.ArgumentParser)
HELP = "run a local Upbit-compatible exchange (REST API on loopback) for demos, TEST mode and tests"
DESCRIPTION = """\
A real HTTP server speaking Upbit's REST API (/v1/...): quotation endpoints from a
seeded random walk or replayed candle files, accounts with JWT checks, orders with
Upbit's fees, tick sizes, minimum totals and locked funds, Remaining-Req and 429/418
throttling, and optional fault injection. Point a client's base URL at the printed
address. Ctrl-C stops it.
"""
EPILOG = """\
accounts file (--accounts), a JSON list:
  [{"access_key": "...", "secret_key": "...", "balances": {"KRW": "1000000", "BTC": "0.5"}}]
  without it one demo account is created and its keys are printed at start.

prices:
  inside a candle the last trade price moves from the previous close to the candle's close
  (on the KRW tick grid), so an order sent as a candle closes trades at that close; the best
  bid is the last price and the best ask --spread-ticks above it (0: both at the last price).

clock:
  --speed 1 runs in real time, --speed 60 one simulated minute per second,
  --speed 0 stops the clock: only POST /_admin/clock/step moves it.

admin endpoints (never expose them: keep --host on loopback). Each request sends the admin
token printed at start in the header X-Admin-Token; bodies are application/json only:
  GET    /_admin/state             clock, prices, faults, rate-limit settings
  POST   /_admin/clock/step        {"seconds": 60}            move simulated time forward
  POST   /_admin/clock/speed       {"speed": 0}               change the clock speed
  POST   /_admin/price             {"market": "KRW-BTC", "price": "102902000",
                                    "bid": "102902000", "ask": "102945000"}  set price / best quotes
  PUT    /_admin/faults            {"error_rate": 0.05, ...}  random faults from now on
  POST   /_admin/faults/next       {"kind": "drop", "method": "POST", "path": "/v1/orders"}
                                    fault the next matching request
                                    (error|timeout|drop|malformed|throttle|spike)
  DELETE /_admin/faults            switch every fault off
  GET    /_admin/faults/counts     faults injected by kind, 429/418 answers of the rate limits
  DELETE /_admin/faults/counts     count from zero
  PUT    /_admin/rate-limits       {"enforce": true, "block_after": 10, "block_seconds": 10}
  DELETE /_admin/rate-limits       forget request counts, lift 418 blocks
  GET    /_admin/accounts          balances of every account
  POST   /_admin/accounts          {"access_key", "secret_key", "balances"}  add an account
  GET    /_admin/orders            ?access_key=...&market=...  every order with its trades
  PUT    /_admin/markets/event     {"market": "KRW-BTC", "warning": true, "caution": ["PRICE_FLUCTUATIONS"]}
                                    Upbit's market_event flags in /v1/market/all?is_details=true
  PUT    /_admin/markets/suspension {"market": "KRW-BTC", "suspended": true}  orders refused (market_offline)
  POST   /_admin/markets/delist    {"market": "KRW-BTC"}  gone from the list, quotations 404, orders cancelled
  PUT    /_admin/keys              {"access_key", "expire_at": "2026-04-01T00:00:00+09:00",
                                    "allowed_ips": ["10.0.0.1"]}  401 expired_access_key / no_authorization_ip
                                    (null lifts a limit); GET /v1/api_keys shows expire_at
"""


def _markets(text: str) -> list[str]:
    markets = [part.strip().upper() for part in text.split(",") if part.strip()]
    for market in markets:
        if not MARKET_PATTERN.fullmatch(market):
            raise argparse.ArgumentTypeError(f"'{market}' is not a KRW market code like KRW-BTC")
    if not markets:
        raise argparse.ArgumentTypeError("give at least one market, e.g. KRW-BTC,KRW-ETH")
    return markets


def _start(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"'{text}' is not an ISO-8601 time like 2026-03-22T12:47:08Z"
        ) from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"'{text}' needs a UTC offset, e.g. 2026-03-22T12:47:08Z")
    return moment


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"a share must be between 0 and 1, got {text}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number of seconds") from None
    if not 0 <= value <= MAX_LATENCY_SECONDS:
        raise argparse.ArgumentTypeError(f"seconds must be between 0 and {MAX_LATENCY_SECONDS:g}, got {text}")
    return value


def _burst_length(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if not 1 <= value <= MAX_BURST_LENGTH:
        raise argparse.ArgumentTypeError(f"a burst is 1 to {MAX_BURST_LENGTH} answers, got {text}")
    return value


def add_simulator_command(commands: argparse._SubParsersAction[ParserT]) -> None:
    """Register `simulator` and its options."""
    command = commands.add_parser(
        "simulator",
        help=HELP,
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    command.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    command.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    _add_market_options(command)
    command.add_argument(
        "--accounts", type=Path, metavar="FILE", help="accounts JSON (default: one demo account)"
    )
    command.add_argument(
        "--no-rate-limits", action="store_true", help="report Remaining-Req but never throttle"
    )
    _add_fault_options(command)


def _add_market_options(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--markets", type=_markets, default=["KRW-BTC", "KRW-ETH"], help="e.g. KRW-BTC,KRW-ETH"
    )
    command.add_argument("--seed", type=int, default=7, help="seed of the random walks (default 7)")
    command.add_argument(
        "--speed", type=float, default=1.0, help="simulated seconds per second (0 = stepped)"
    )
    command.add_argument(
        "--data",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="replay a candle file (repeatable)",
    )
    command.add_argument("--start", type=_start, help="simulated start time (default: now, or the replay's)")
    command.add_argument(
        "--history-days", type=int, default=200, help="days of generated history (default 200)"
    )
    command.add_argument(
        "--spread-ticks",
        type=int,
        default=1,
        metavar="N",
        help="best ask N ticks above the best bid = last price (default 1; 0: market orders fill at it)",
    )


def _add_fault_options(command: argparse.ArgumentParser) -> None:
    faults = command.add_argument_group("fault injection (all off by default)")
    faults.add_argument(
        "--latency", type=_seconds, default=0.0, metavar="SECONDS", help="added to every answer"
    )
    faults.add_argument(
        "--error-rate", type=_share, default=0.0, metavar="SHARE", help="share of 5xx answers"
    )
    faults.add_argument(
        "--timeout-rate", type=_share, default=0.0, metavar="SHARE", help="share of stalled answers"
    )
    faults.add_argument(
        "--drop-order-rate", type=_share, default=0.0, metavar="SHARE", help="orders placed, answer dropped"
    )
    faults.add_argument("--malformed-rate", type=_share, default=0.0, metavar="SHARE", help="truncated JSON")
    faults.add_argument(
        "--throttle-burst-rate", type=_share, default=0.0, metavar="SHARE", help="share starting a 429 burst"
    )
    faults.add_argument(
        "--throttle-burst-length",
        type=_burst_length,
        default=5,
        metavar="N",
        help="429s in a row per burst (default 5)",
    )
    faults.add_argument(
        "--spike-rate", type=_share, default=0.0, metavar="SHARE", help="share of answers delayed by a spike"
    )
    faults.add_argument(
        "--spike-seconds", type=_seconds, default=2.0, metavar="SECONDS", help="a spike's delay (default 2)"
    )


def run_simulator_command(arguments: argparse.Namespace) -> int:
    """Handle `tradebot simulator`; bad options raise a one-line `SimulatorConfigError`."""
    accounts = load_accounts(arguments.accounts) if arguments.accounts else []
    faults = FaultSettings(
        latency_seconds=arguments.latency,
        error_rate=arguments.error_rate,
        timeout_rate=arguments.timeout_rate,
        drop_order_rate=arguments.drop_order_rate,
        malformed_rate=arguments.malformed_rate,
        throttle_burst_rate=arguments.throttle_burst_rate,
        throttle_burst_length=arguments.throttle_burst_length,
        spike_rate=arguments.spike_rate,
        spike_seconds=arguments.spike_seconds,
    )
    config = build_config(
        host=arguments.host,
        port=arguments.port,
        markets=arguments.markets,
        seed=arguments.seed,
        speed=arguments.speed,
        data=arguments.data,
        accounts=accounts,
        start=arguments.start,
        history_days=arguments.history_days,
        spread_ticks=arguments.spread_ticks,
        faults=faults,
        rate_limits=RateLimitSettings(enforce=not arguments.no_rate_limits),
    )
    # Imported here so other commands never pay for the web server's imports.
    from tradebot.exchange.simulator.server import run_simulator

    run_simulator(config)
    return 0
