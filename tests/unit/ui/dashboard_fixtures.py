"""Fixture data for the dashboard tests, written through the services API into a user's database."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from tradebot.core.models import Candle, Interval
from tradebot.core.params import Conditions, StrategyParams
from tradebot.core.strategy import Action
from tradebot.exchange.simulator import build_config
from tradebot.exchange.simulator.server import SimulatorServer
from tradebot.services.records import (
    AccountBalance,
    BuyEvaluation,
    EngineState,
    EngineStatus,
    Mode,
    OrderUpdate,
    PendingOrder,
    Position,
    SellEvaluation,
    Side,
    TradeAudit,
)
from tradebot.services.storage import Store, Transaction, open_user_store

MARKET = "KRW-BTC"
INTERVAL = Interval.MINUTE15  # the default params' interval
FIRST_CANDLE = datetime(2026, 3, 1, tzinfo=UTC)
SIMULATOR_ACCESS_KEY = "dashboard-test-access-key"
SIMULATOR_SECRET_KEY = "dashboard0test0secret0key0only0for0tests00"  # noqa: S105 - a fake key for a fake server
SIMULATOR_KRW = Decimal(2_345_678)


@contextmanager
def opened(home: Path, username: str) -> Iterator[Store]:
    """The user's database, opened for the test."""
    with open_user_store(home, username) as store:
        yield store


def settings_versions(transaction: Transaction) -> tuple[int, int]:
    """The recorded params and conditions versions (recorded now if new), which rows refer to."""
    params = transaction.record_settings(StrategyParams(), saved_at=FIRST_CANDLE, saved_by="test")
    conditions = transaction.record_settings(Conditions(), saved_at=FIRST_CANDLE, saved_by="test")
    return params, conditions


def candle_start(index: int) -> datetime:
    """Start of the `index`-th fixture candle."""
    return FIRST_CANDLE + index * INTERVAL.duration


def rising_candles(count: int, first_close: float = 100_000_000.0, step: float = 10_000.0) -> list[Candle]:
    """`count` candles whose close rises by `step` each time."""
    candles = []
    for index in range(count):
        close = first_close + index * step
        candles.append(Candle(candle_start(index), close - step / 2, close + step, close - step, close, 1.5))
    return candles


def save_candles(home: Path, username: str, candles: list[Candle], market: str = MARKET) -> None:
    """Cache `candles` as the engine does."""
    with opened(home, username) as store, store.transaction() as transaction:
        transaction.save_candles(market, INTERVAL, candles)


def set_engine(
    home: Path,
    username: str,
    state: EngineState,
    *,
    mode: Mode = "TEST",
    heartbeat_at: datetime | None = None,
    last_error: str | None = None,
) -> None:
    """Write the engine's status row (heartbeat now unless given)."""
    status = EngineStatus(
        state=state, mode=mode, heartbeat_at=heartbeat_at or datetime.now(UTC), last_error=last_error
    )
    with opened(home, username) as store, store.transaction() as transaction:
        transaction.set_engine_status(status)


def set_account(home: Path, username: str, krw: Decimal, starting: Decimal, mode: Mode = "TEST") -> None:
    """Replace the KRW balance of `mode`."""
    account = AccountBalance(mode=mode, krw_balance=krw, starting_krw=starting, updated_at=FIRST_CANDLE)
    with opened(home, username) as store, store.transaction() as transaction:
        transaction.set_account(account)


def open_position(
    home: Path,
    username: str,
    volume: Decimal,
    entry: Decimal,
    peak: Decimal | None = None,
    *,
    market: str = MARKET,
    mode: Mode = "TEST",
) -> None:
    """An open position of `volume` bought at `entry`."""
    position = Position(
        mode=mode, market=market, volume=volume, entry_price=entry, peak_price=peak or entry,
        entry_candle_start=FIRST_CANDLE, bars_held=3, updated_at=FIRST_CANDLE,
    )  # fmt: skip
    with opened(home, username) as store, store.transaction() as transaction:
        transaction.set_position(position)


def record_trade(
    home: Path,
    username: str,
    side: Side,
    price: Decimal,
    executed_at: datetime,
    *,
    profit: Decimal | None = None,
    mode: Mode = "TEST",
    market: str = MARKET,
    identifier: str | None = None,
) -> None:
    """A filled order and its audit row, as the engine writes them."""
    volume = Decimal("0.001")
    identifier = identifier or f"order-{uuid.uuid4()}"
    with opened(home, username) as store, store.transaction() as transaction:
        params_version, conditions_version = settings_versions(transaction)
        transaction.insert_order(
            PendingOrder(
                identifier=identifier, mode=mode, market=market, side=side, ord_type="market",
                price=None, volume=volume, candle_start=None, requested_at=executed_at,
            )
        )  # fmt: skip
        transaction.update_order(
            identifier,
            OrderUpdate(state="done", updated_at=executed_at, executed_volume=volume, average_price=price),
        )
        transaction.append_trade_audit(
            TradeAudit(
                mode=mode, market=market, side=side, fill_price=price, volume=volume, fee=Decimal(50),
                params_version=params_version, conditions_version=conditions_version, cause="strategy",
                executed_at=executed_at,
                order_identifier=identifier, realised_profit=profit,
                rule="entry" if side == "bid" else "stop_loss",
            )
        )  # fmt: skip


def buy_evaluation(start: datetime, reason: str, evaluated_at: datetime) -> BuyEvaluation:
    """A buy evaluation (flat) of the candle starting at `start` (settings versions set on saving)."""
    return BuyEvaluation(
        market=MARKET, interval=INTERVAL, candle_start=start, price=Decimal(100_000_000), macd=1.0,
        signal=0.5, hist=0.5, conditions={}, decision=Action.HOLD, reason=reason, params_version=0,
        conditions_version=0, evaluated_at=evaluated_at,
    )  # fmt: skip


def sell_evaluation(start: datetime, reason: str, evaluated_at: datetime) -> SellEvaluation:
    """A sell evaluation (in a position) of the candle starting at `start`."""
    level = Decimal(100_000_000)
    return SellEvaluation(
        market=MARKET, interval=INTERVAL, candle_start=start, trigger_kind="close", price=level,
        entry_price=level, peak_price=level, stop_loss_price=level, take_profit_price=level,
        trailing_stop_price=level, bars_held=1, rules={}, decision=Action.SELL, reason=reason,
        trigger_rule="take_profit", params_version=0, conditions_version=0, evaluated_at=evaluated_at,
    )  # fmt: skip


def save_evaluations(
    home: Path, username: str, buys: list[BuyEvaluation], sells: list[SellEvaluation]
) -> None:
    """Upsert evaluation rows, pointing at the recorded settings versions."""
    with opened(home, username) as store, store.transaction() as transaction:
        params_version, conditions_version = settings_versions(transaction)
        for buy in buys:
            transaction.upsert_buy_evaluation(
                replace(buy, params_version=params_version, conditions_version=conditions_version)
            )
        for sell in sells:
            transaction.upsert_sell_evaluation(
                replace(sell, params_version=params_version, conditions_version=conditions_version)
            )


@contextmanager
def upbit_simulator() -> Iterator[SimulatorServer]:
    """A local Upbit on a free loopback port with one account holding SIMULATOR_KRW."""
    config = build_config(
        port=0, speed=0, history_days=1, markets=[MARKET],
        accounts=[{
            "access_key": SIMULATOR_ACCESS_KEY, "secret_key": SIMULATOR_SECRET_KEY,
            "balances": {"KRW": str(SIMULATOR_KRW)},
        }],
    )  # fmt: skip
    with SimulatorServer(config) as server:
        yield server


def ago(seconds: float) -> datetime:
    """The wall-clock time `seconds` ago (the pages compare with the real clock)."""
    return datetime.now(UTC) - timedelta(seconds=seconds)
