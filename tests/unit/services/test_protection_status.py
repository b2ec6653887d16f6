"""Protections derived from a user's database: the trade history, the cached candles, the KRW."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from tradebot.core.models import Candle, Interval
from tradebot.core.params import StrategyParams
from tradebot.services.health_monitor import read_user_health
from tradebot.services.health_text import format_user
from tradebot.services.protection_status import day_start_equity, protections_at, shown_protections
from tradebot.services.records import AccountBalance, PendingOrder, Side, TradeAudit
from tradebot.services.storage import Store, open_user_store
from tradebot.services.user_admin import create_user

MARKET = "KRW-BTC"
START = datetime(2025, 6, 2, 14, 50, tzinfo=UTC)  # 23:50 KST: the KST day ends at candle 10
MINUTE = timedelta(minutes=1)
PARAMS = StrategyParams(market=MARKET, interval=Interval.MINUTE1, warmup_bars=35, cooldown_bars=3)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    create_user(tmp_path, "alice", None, START)
    return tmp_path


def candle(index: int, close: float = 10_000.0) -> Candle:
    return Candle(START + index * MINUTE, close, close, close, close, 1.0)


def audit(
    side: Side, index: int, price: int, volume: str, profit: str | None = None, rule: str = "x"
) -> TradeAudit:
    return TradeAudit(
        mode="TEST", market=MARKET, side=side, fill_price=Decimal(price), volume=Decimal(volume),
        fee=Decimal(price) * Decimal(volume) * Decimal("0.0005"), params_version=1, conditions_version=1,
        cause="strategy", executed_at=START + index * MINUTE + timedelta(seconds=59),
        interval=Interval.MINUTE1, candle_start=START + index * MINUTE, rule=rule,
        realised_profit=None if profit is None else Decimal(profit), order_identifier=f"o-{side}-{index}",
    )  # fmt: skip


def fill(
    store: Store, candles: int, audits: list[TradeAudit], krw: str, params: StrategyParams = PARAMS
) -> None:
    with store.transaction() as transaction:
        transaction.record_settings(params, saved_at=START, saved_by="engine")
        transaction.save_candles(MARKET, Interval.MINUTE1, [candle(index) for index in range(candles)])
        for item in audits:  # each fill's order first: an audit row names its order
            assert item.order_identifier is not None
            transaction.insert_order(
                PendingOrder(
                    identifier=item.order_identifier, mode="TEST", market=MARKET, side=item.side,
                    ord_type="market", price=None, volume=item.volume, candle_start=item.candle_start,
                    requested_at=item.executed_at,
                )
            )  # fmt: skip
            transaction.append_trade_audit(item)
        transaction.set_account(AccountBalance(mode="TEST", krw_balance=Decimal(krw), updated_at=START))


def test_cooldown_from_the_trade_history_active_on_the_next_candles_only(home: Path) -> None:
    with open_user_store(home, "alice") as store:
        fill(store, 8, [audit("bid", 2, 10_000, "1"), audit("ask", 6, 9_900, "1", profit="-110")], "990000")
        on_seven = protections_at(
            store, mode="TEST", market=MARKET, params=PARAMS, candle_start=START + 7 * MINUTE
        )
        [active] = on_seven.active
        # (its candle indexes count the candles read, not the whole cache)
        assert (active.code, active.until) == ("protection:cooldown", START + 9 * MINUTE)
        assert on_seven.started == on_seven.active  # candle 7 is the first blocked one: announce it
        following = protections_at(store, mode="TEST", market=MARKET, params=PARAMS, candle_start=None)
        [same] = following.active  # candle 8, the next one after the cache
        assert (same.code, same.until) == (active.code, active.until)
        assert following.started == ()
        assert (
            protections_at(store, mode="LIVE", market=MARKET, params=PARAMS, candle_start=None).active == ()
        )
        assert shown_protections(store, "TEST") == (
            "protection:cooldown: no entry through the candle of 2025-06-02 23:59 KST",
        )


def test_cooldown_expired_after_its_bars_and_off_when_not_set(home: Path) -> None:
    with open_user_store(home, "alice") as store:
        fill(store, 10, [audit("bid", 2, 10_000, "1"), audit("ask", 6, 9_900, "1", profit="-110")], "990000")
        assert (
            protections_at(store, mode="TEST", market=MARKET, params=PARAMS, candle_start=None).active == ()
        )
        off = PARAMS.model_copy(update={"cooldown_bars": 0})
        on_seven = protections_at(
            store, mode="TEST", market=MARKET, params=off, candle_start=START + 7 * MINUTE
        )
        assert on_seven.active == ()


def test_day_start_equity_is_the_krw_and_coin_after_the_previous_kst_days_last_candle(home: Path) -> None:
    """Bought 1 coin at 10,000 on candle 2 (23:52 KST), still held at candle 9 (23:59 KST, close
    10,000); sold on candle 11 (00:01 KST next day) at 9,000 for 9,000 - 4.5 fee. KRW now =
    1,000,000 - 10,005 + 8,995.5 = 998,990.5; at the day's start it was 989,995 + the coin's 10,000."""
    sale = audit("ask", 11, 9_000, "1", profit="-1009.5")
    with open_user_store(home, "alice") as store:
        fill(store, 12, [audit("bid", 2, 10_000, "1"), sale], "998990.5")
        audits = store.trade_audits()
        equity = day_start_equity(
            store, mode="TEST", market=MARKET, params=PARAMS, audits=audits, day_of=START + 12 * MINUTE
        )
        assert equity == Decimal("999995.0")
        # The first KST day has no earlier candle: the KRW before every trade of the day.
        first = day_start_equity(
            store, mode="TEST", market=MARKET, params=PARAMS, audits=audits, day_of=START
        )
        assert first == Decimal(1_000_000)


def test_daily_loss_from_the_database_blocks_until_the_kst_day_ends(home: Path) -> None:
    params = PARAMS.model_copy(update={"cooldown_bars": 0, "max_daily_loss": 0.001})  # 1,000 KRW of 999,995
    sale = audit("ask", 11, 9_000, "1", profit="-1009.5")
    with open_user_store(home, "alice") as store:
        fill(store, 12, [audit("bid", 2, 10_000, "1"), sale], "998990.5", params)
        [active] = protections_at(store, mode="TEST", market=MARKET, params=params, candle_start=None).active
        assert active.code == "protection:daily_loss"
        assert active.until == datetime(2025, 6, 3, 15, 0, tzinfo=UTC)  # 2025-06-04 00:00 KST


def test_health_line_names_the_active_protection(home: Path) -> None:
    with open_user_store(home, "alice") as store:
        fill(store, 8, [audit("bid", 2, 10_000, "1"), audit("ask", 6, 9_900, "1", profit="-110")], "990000")
    health = read_user_health(home, "alice", START + 9 * MINUTE, 15.0)
    assert health.protections == ("protection:cooldown: no entry through the candle of 2025-06-02 23:59 KST",)
    assert "  protection: protection:cooldown: no entry through the candle of" in format_user(health)
