"""Turning a `SimulatorConfig` into a running exchange: clock, markets and accounts."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from tradebot.core.params import MARKET_PATTERN
from tradebot.exchange.simulator.accounts import SimAccount
from tradebot.exchange.simulator.clock import SimulatedClock
from tradebot.exchange.simulator.config import SimulatorConfig, SimulatorConfigError
from tradebot.exchange.simulator.exchange import SimulatedExchange
from tradebot.exchange.simulator.formatting import nanos_to_utc, utc_to_nanos
from tradebot.exchange.simulator.market import MarketData, start_price
from tradebot.exchange.simulator.pricepath import (
    GENERATED_CHUNK,
    MINUTE_NS,
    PricePath,
    generated_path,
    replayed_path,
)
from tradebot.marketdata.candle_files import LoadedCandles, load_candles


def build_exchange(
    config: SimulatorConfig, *, clock_timer: Callable[[], float] = time.monotonic
) -> SimulatedExchange:
    """The exchange a config describes. Raises `TradebotError` (one line) on bad data."""
    replays = _replays(config)
    start = config.start or _replay_start(config, replays) or datetime.now(UTC).replace(microsecond=0)
    clock = SimulatedClock(start, speed=config.speed, timer=clock_timer)
    markets = {
        code: MarketData(code, path, seed=config.seed, spread_ticks=config.spread_ticks)
        for code, path in replays.items()
    }
    history = config.history_days * 1440
    first_start = (utc_to_nanos(start) // MINUTE_NS - history) * MINUTE_NS
    for code in config.markets:
        if code not in markets:
            path = generated_path(
                code,
                seed=config.seed,
                first_start_ns=first_start,
                count=history + GENERATED_CHUNK,
                start_price=start_price(code),
            )
            markets[code] = MarketData(code, path, seed=config.seed, spread_ticks=config.spread_ticks)
    accounts = [
        SimAccount.funded(account.access_key, account.secret_key, dict(account.balances))
        for account in config.effective_accounts()
    ]
    return SimulatedExchange(clock, markets, accounts, fee_rate=config.fee_rate)


def _replays(config: SimulatorConfig) -> dict[str, PricePath]:
    paths: dict[str, PricePath] = {}
    for position, file in enumerate(config.data):
        loaded = load_candles(file)
        code = _replay_market(loaded, file.name, config.markets, position)
        if code in paths:
            raise SimulatorConfigError(f"{file.name}: a second candle file for {code}")
        paths[code] = replayed_path(loaded.series)
    return paths


def _replay_market(loaded: LoadedCandles, name: str, markets: list[str], position: int) -> str:
    code = loaded.market or (markets[position] if position < len(markets) else None)
    if code is None:
        raise SimulatorConfigError(f"{name}: cannot tell its market; put it in the file name (KRW-BTC_...)")
    if not MARKET_PATTERN.fullmatch(code):
        raise SimulatorConfigError(f"{name}: market {code} is not a KRW market")
    return code


def _replay_start(config: SimulatorConfig, replays: dict[str, PricePath]) -> datetime | None:
    # Start where the first replayed file has `replay_warmup` candles of history behind it.
    if not replays:
        return None
    path = next(iter(replays.values()))
    return nanos_to_utc(int(path.start_ns[min(config.replay_warmup, len(path) - 1)]))
