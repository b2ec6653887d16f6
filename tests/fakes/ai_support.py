"""Shared set-up for the AI review tests: a user database with trading history, a clock, a runtime."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from cryptography.fernet import Fernet

from tradebot.core.models import Candle, Interval
from tradebot.core.params import BuyConditions, Conditions, StrategyParams
from tradebot.core.strategy import Action, ConditionResult
from tradebot.services.ai_review.config import AiSettings
from tradebot.services.ai_review.setup import AiRuntime, save_api_key, save_settings
from tradebot.services.records import BuyEvaluation, PendingOrder, SellEvaluation, TradeAudit, TriggerKind
from tradebot.services.secrets import SecretBox
from tradebot.services.storage import Store, Transaction
from tradebot.services.user_admin import create_user

USER = "alice"
OPENAI_KEY = "sk-test-0penai0key0that0must0never0be0stored0in0clear"
CREATED = datetime(2026, 3, 1, tzinfo=UTC)
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
MARKET = "KRW-BTC"
INTERVAL = Interval.MINUTE15
PARAMS = StrategyParams(market=MARKET, interval=INTERVAL, warmup_bars=40)
CONDITIONS = Conditions(buy=BuyConditions(golden_cross=True, above_ma20=True))
HISTORY = 120  # cached candles, one every 15 minutes, ending just before NOW
FIRST_CANDLE = NOW - HISTORY * INTERVAL.duration
BUY_CANDLE = FIRST_CANDLE + 100 * INTERVAL.duration
SELL_CANDLE = FIRST_CANDLE + 110 * INTERVAL.duration


class FrozenClock:
    """Wall time set by the test; monotonic time is real (durations of real HTTP requests)."""

    def __init__(self, now: datetime = NOW) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)


def runtime(clock: FrozenClock | None = None, environment: dict[str, str] | None = None) -> AiRuntime:
    """A runtime with its own encryption key and no `OPENAI_API_KEY` unless given."""
    return AiRuntime(
        box=SecretBox(Fernet.generate_key()), clock=clock or FrozenClock(), environment=environment or {}
    )


def new_user(home: Path) -> Store:
    """alice's database (user row, TEST account), opened."""
    create_user(home, USER, None, CREATED)
    return Store.open(home / f"tradebot_{USER}.db")


def enable(
    store: Store, ai: AiRuntime, base_url: str, key: str = OPENAI_KEY, **overrides: object
) -> AiSettings:
    """Store the key encrypted and switch the feature on against `base_url`."""
    values: dict[str, object] = {"enabled": True, "base_url": base_url, "timeout_seconds": 2.0}
    values.update(overrides)
    settings = AiSettings.model_validate(values)
    save_settings(store, USER, settings, now=CREATED, saved_by=USER)
    save_api_key(store, ai.box, USER, key, now=CREATED)
    return settings


def candle_at(index: int) -> Candle:
    """A gently rising, wavy series: MACD crosses happen and MA20 is defined after 20 candles."""
    base = 100_000_000 + index * 20_000 + (150_000 if index % 12 < 6 else -150_000)
    return Candle(
        FIRST_CANDLE + index * INTERVAL.duration, base - 10_000, base + 30_000, base - 40_000, base, 1.5
    )


def record_history(store: Store) -> tuple[int, int]:
    """Settings versions, cached candles, a buy and a hold evaluation, a sell, and two trades."""
    with store.transaction() as transaction:
        params_version = transaction.record_settings(PARAMS, saved_at=CREATED, saved_by=USER)
        conditions_version = transaction.record_settings(CONDITIONS, saved_at=CREATED, saved_by=USER)
        transaction.save_candles(MARKET, INTERVAL, [candle_at(index) for index in range(HISTORY)])
        versions = (params_version, conditions_version)
        buy_row(transaction, BUY_CANDLE, versions, bought=True)
        buy_row(transaction, BUY_CANDLE - INTERVAL.duration, versions, bought=False)
        sell_row(transaction, SELL_CANDLE, versions, "tick", "take_profit")
        sell_row(transaction, SELL_CANDLE, versions, "close", None)
        trade(transaction, "bid", BUY_CANDLE, versions, None)
        trade(transaction, "ask", SELL_CANDLE, versions, Decimal(2_500))
    return versions


def buy_row(transaction: Transaction, start: datetime, versions: tuple[int, int], *, bought: bool) -> None:
    results = {
        "golden_cross": ConditionResult(True, bought, 120.5),
        "above_ma20": ConditionResult(True, True, 101_000_000.0),
        "macd_positive": ConditionResult(False, True, 120.5),
    }
    transaction.upsert_buy_evaluation(
        BuyEvaluation(
            market=MARKET,
            interval=INTERVAL,
            candle_start=start,
            price=Decimal(102_000_000),
            macd=120.5,
            signal=80.25,
            hist=40.25,
            conditions=results,
            decision=Action.BUY if bought else Action.HOLD,
            reason="every enabled buy condition held" if bought else "golden_cross failed",
            params_version=versions[0],
            conditions_version=versions[1],
            evaluated_at=start + INTERVAL.duration,
        )
    )


def sell_row(
    transaction: Transaction, start: datetime, versions: tuple[int, int], kind: TriggerKind, rule: str | None
) -> None:
    transaction.upsert_sell_evaluation(
        SellEvaluation(
            market=MARKET,
            interval=INTERVAL,
            candle_start=start,
            trigger_kind=kind,
            price=Decimal(105_100_000),
            entry_price=Decimal(102_000_000),
            peak_price=Decimal(105_100_000),
            stop_loss_price=Decimal(99_960_000),
            take_profit_price=Decimal(105_060_000),
            trailing_stop_price=Decimal(102_998_000),
            bars_held=10,
            rules={"take_profit": ConditionResult(True, rule == "take_profit", 105_060_000.0)},
            decision=Action.SELL if rule else Action.HOLD,
            reason=f"{rule} hit" if rule else "no exit rule held",
            trigger_rule=rule,
            params_version=versions[0],
            conditions_version=versions[1],
            evaluated_at=start + timedelta(minutes=3 if kind == "tick" else 15),
        )
    )


def trade(
    transaction: Transaction, side: str, start: datetime, versions: tuple[int, int], profit: Decimal | None
) -> None:
    identifier = f"tradebot-{USER}-{side}-{int(start.timestamp())}"
    transaction.insert_order(
        PendingOrder(
            identifier=identifier,
            mode="TEST",
            market=MARKET,
            side="bid" if side == "bid" else "ask",
            ord_type="price" if side == "bid" else "market",
            price=Decimal(100_000) if side == "bid" else None,
            volume=None if side == "bid" else Decimal("0.00098"),
            candle_start=start,
            requested_at=start + INTERVAL.duration,
        )
    )
    transaction.append_trade_audit(
        TradeAudit(
            mode="TEST",
            market=MARKET,
            side="bid" if side == "bid" else "ask",
            fill_price=Decimal(102_000_000) if side == "bid" else Decimal(105_100_000),
            volume=Decimal("0.00098"),
            fee=Decimal("49.98"),
            params_version=versions[0],
            conditions_version=versions[1],
            cause="strategy",
            rule="entry" if side == "bid" else "take_profit",
            executed_at=start + INTERVAL.duration,
            interval=INTERVAL,
            candle_start=start,
            order_identifier=identifier,
            realised_profit=profit,
        )
    )
