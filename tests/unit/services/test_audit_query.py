"""services.audit_query: filters, sort, limit and condition symbols run in SQL on one user's database."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from tradebot.core.models import Interval
from tradebot.core.params import Conditions, StrategyParams
from tradebot.core.strategy import Action, ConditionResult
from tradebot.services.audit_query import (
    FAILED,
    HELD,
    OFF_FAILED,
    OFF_HELD,
    AuditFilter,
    audit_csv,
    audit_frame,
    count_rows,
    market_intervals,
    open_audit_connection,
    settings_versions,
)
from tradebot.services.paths import database_path
from tradebot.services.records import BuyEvaluation, PendingOrder, SellEvaluation, TradeAudit, TriggerKind
from tradebot.services.storage import StorageError, Transaction, open_user_store
from tradebot.services.storage.codecs import KST
from tradebot.services.user_admin import create_user

CREATED = datetime(2026, 3, 1, tzinfo=UTC)
T0 = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)  # 09:00 KST on 2 March
MARKET = "KRW-BTC"
PRICE = Decimal(100_000_000)


def candle(minutes: int) -> datetime:
    return T0 + timedelta(minutes=15 * minutes)


def buy_row(
    transaction: Transaction, minutes: int, results: dict[str, ConditionResult], market: str = MARKET
) -> None:
    buying = bool(results) and all(result.passed for result in results.values() if result.enabled)
    transaction.upsert_buy_evaluation(
        BuyEvaluation(
            market=market,
            interval=Interval.MINUTE15,
            candle_start=candle(minutes),
            price=PRICE,
            macd=1.5,
            signal=1.0,
            hist=0.5,
            conditions=results,
            decision=Action.BUY if buying else Action.HOLD,
            reason="entry" if buying else "no entry",
            params_version=1,
            conditions_version=2,
            evaluated_at=candle(minutes + 1),
        )
    )


def sell_row(
    transaction: Transaction, minutes: int, kind: TriggerKind, rule: str | None, version: int
) -> None:
    rules = {"stop_loss": ConditionResult(True, rule == "stop_loss", 98.0)}
    if kind == "close":
        rules["dead_cross"] = ConditionResult(True, rule == "dead_cross", -0.5)
    transaction.upsert_sell_evaluation(
        SellEvaluation(
            market=MARKET,
            interval=Interval.MINUTE15,
            candle_start=candle(minutes),
            trigger_kind=kind,
            price=PRICE,
            entry_price=PRICE,
            peak_price=PRICE,
            stop_loss_price=PRICE,
            take_profit_price=PRICE,
            trailing_stop_price=PRICE,
            bars_held=2,
            rules=rules,
            decision=Action.SELL if rule else Action.HOLD,
            reason=f"exit: {rule}" if rule else "no exit rule held",
            trigger_rule=rule,
            params_version=version,
            conditions_version=2,
            evaluated_at=candle(minutes) + timedelta(minutes=5 if kind == "tick" else 15),
        )
    )


def trade_rows(transaction: Transaction) -> None:
    """A strategy buy on candle 1 and a manual sell (no candle) executed after everything else."""
    order = PendingOrder(
        identifier="tradebot-alice-1", mode="TEST", market=MARKET, side="bid", ord_type="price",
        price=Decimal(100_000), volume=None, candle_start=candle(1), requested_at=candle(2),
    )  # fmt: skip
    transaction.insert_order(order)
    buy = TradeAudit(
        mode="TEST", market=MARKET, fill_price=PRICE, volume=Decimal("0.001"), fee=Decimal(50), side="bid",
        params_version=1, conditions_version=2, cause="strategy", rule="golden_cross",
        order_identifier="tradebot-alice-1", interval=Interval.MINUTE15, candle_start=candle(1),
        executed_at=candle(2),
    )  # fmt: skip
    sell = TradeAudit(
        mode="TEST", market=MARKET, fill_price=PRICE, volume=Decimal("0.001"), fee=Decimal(50), side="ask",
        params_version=3, conditions_version=2, cause="manual", executed_at=candle(9),
        note="sold on the Upbit app",
    )  # fmt: skip
    transaction.append_trade_audit(buy)
    transaction.append_trade_audit(sell)


def write_audit_rows(home: Path, username: str = "alice") -> None:
    """Buy rows on candles 0-2 (written out of order), sell rows on 3-4, two trades, one ETH row.

    Versions: 1 = params, 2 = conditions, 3 = changed params (in force from candle 4).
    """
    gc_failed = {
        "golden_cross": ConditionResult(True, False, -0.2),
        "above_ma20": ConditionResult(False, True, 99.0),
        "above_ma60": ConditionResult(False, False, None),
    }
    all_held = {
        "golden_cross": ConditionResult(True, True, 0.3),
        "above_ma20": ConditionResult(True, True, 99.0),
    }
    with open_user_store(home, username) as store, store.transaction() as transaction:
        transaction.record_settings(StrategyParams(), saved_at=CREATED, saved_by=username)
        transaction.record_settings(Conditions(), saved_at=CREATED, saved_by=username)
        transaction.record_settings(StrategyParams(take_profit=0.05), saved_at=CREATED, saved_by=username)
        buy_row(transaction, 2, {})  # warming up: no condition evaluated
        buy_row(transaction, 0, gc_failed)
        buy_row(transaction, 1, all_held)
        buy_row(transaction, 1, gc_failed, market="KRW-ETH")
        sell_row(transaction, 3, "close", None, version=1)
        sell_row(transaction, 4, "tick", "stop_loss", version=3)
        sell_row(transaction, 4, "close", "dead_cross", version=3)
        trade_rows(transaction)


@pytest.fixture
def connection(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    create_user(tmp_path, "alice", None, CREATED)
    write_audit_rows(tmp_path)
    with open_audit_connection(database_path(tmp_path, "alice")) as opened:
        yield opened


def starts(frame: object) -> list[datetime]:
    return [moment.to_pydatetime() for moment in frame["candle_start"]]  # type: ignore[index]


def test_audit_frame_buy_rows_sorted_by_candle_start_newest_first(connection: sqlite3.Connection) -> None:
    frame = audit_frame(connection, "buy_eval", AuditFilter(market=MARKET))
    assert starts(frame) == [candle(2), candle(1), candle(0)]


def test_audit_frame_oldest_first_reverses_order(connection: sqlite3.Connection) -> None:
    frame = audit_frame(connection, "buy_eval", AuditFilter(market=MARKET, newest_first=False))
    assert starts(frame) == [candle(0), candle(1), candle(2)]


def test_audit_frame_times_are_kst_aware(connection: sqlite3.Connection) -> None:
    frame = audit_frame(connection, "buy_eval", AuditFilter(market=MARKET, newest_first=False))
    first = frame["candle_start"].iloc[0].to_pydatetime()
    assert first == T0
    assert first.utcoffset() == KST.utcoffset(None)
    assert first.hour == 9


def test_audit_frame_condition_symbols_show_pass_fail_disabled_and_unevaluated(
    connection: sqlite3.Connection,
) -> None:
    frame = audit_frame(connection, "buy_eval", AuditFilter(market=MARKET, newest_first=False))
    symbols = frame[["golden_cross", "above_ma20", "above_ma60", "macd_positive"]].to_numpy().tolist()
    assert symbols == [
        [FAILED, OFF_HELD, OFF_FAILED, ""],  # candle 0: golden_cross failed; MA switches off
        [HELD, HELD, "", ""],  # candle 1: both enabled conditions held
        ["", "", "", ""],  # candle 2: warming up, nothing evaluated
    ]


def test_audit_frame_limit_keeps_the_newest_rows(connection: sqlite3.Connection) -> None:
    frame = audit_frame(connection, "buy_eval", AuditFilter(market=MARKET), limit=2)
    assert starts(frame) == [candle(2), candle(1)]


def test_count_rows_date_range_includes_start_excludes_end(connection: sqlite3.Connection) -> None:
    criteria = AuditFilter(market=MARKET, start=candle(1), end=candle(2))
    assert count_rows(connection, "buy_eval", criteria) == 1
    assert starts(audit_frame(connection, "buy_eval", criteria)) == [candle(1)]


def test_failed_condition_filter_keeps_only_enabled_failures(connection: sqlite3.Connection) -> None:
    failed_golden = AuditFilter(market=MARKET, failed_condition="golden_cross")
    failed_disabled = AuditFilter(market=MARKET, failed_condition="above_ma60")  # failed, but switched off
    assert starts(audit_frame(connection, "buy_eval", failed_golden)) == [candle(0)]
    assert count_rows(connection, "buy_eval", failed_disabled) == 0


def test_decision_and_market_filters_combine(connection: sqlite3.Connection) -> None:
    assert count_rows(connection, "buy_eval", AuditFilter(decision="buy")) == 1
    assert count_rows(connection, "buy_eval", AuditFilter(decision="hold")) == 3
    assert count_rows(connection, "buy_eval", AuditFilter(decision="hold", market="KRW-ETH")) == 1


def test_sell_trigger_filter_separates_tick_from_close(connection: sqlite3.Connection) -> None:
    ticks = audit_frame(connection, "sell_eval", AuditFilter(trigger_kind="tick"))
    assert ticks["trigger_rule"].tolist() == ["stop_loss"]
    assert ticks["stop_loss"].tolist() == [HELD]
    assert ticks["dead_cross"].tolist() == [""]  # a price check between closes has no indicator rules
    assert count_rows(connection, "sell_eval", AuditFilter(trigger_kind="close")) == 2


def test_audit_frame_rows_carry_their_settings_versions(connection: sqlite3.Connection) -> None:
    frame = audit_frame(connection, "sell_eval", AuditFilter(newest_first=False))
    assert frame["params_version"].tolist() == [1, 3, 3]
    assert frame["conditions_version"].tolist() == [2, 2, 2]


def test_trade_audit_side_filter_and_manual_trade_sorted_by_execution_time(
    connection: sqlite3.Connection,
) -> None:
    frame = audit_frame(connection, "trade_audit")
    assert frame["side"].tolist() == ["sell", "buy"]
    assert frame["cause"].tolist() == ["manual", "strategy"]
    assert audit_frame(connection, "trade_audit", AuditFilter(decision="buy"))["rule"].tolist() == [
        "golden_cross"
    ]
    assert count_rows(connection, "trade_audit", AuditFilter(cause="manual")) == 1


def test_market_intervals_lists_each_pair_once(connection: sqlite3.Connection) -> None:
    assert market_intervals(connection) == [("KRW-BTC", "minute15"), ("KRW-ETH", "minute15")]


def test_audit_csv_holds_every_matching_row(connection: sqlite3.Connection) -> None:
    lines = audit_csv(connection, "buy_eval", AuditFilter(market=MARKET)).splitlines()
    assert lines[0].startswith("candle_start,market,interval,price")
    assert len(lines) == 4
    assert lines[1].startswith("2026-03-02 09:30:00+09:00,KRW-BTC,minute15,100000000")


def test_settings_versions_lists_kind_and_content(connection: sqlite3.Connection) -> None:
    versions = settings_versions(connection)
    assert versions["kind"].tolist() == ["params", "conditions", "params"]
    assert '"take_profit":0.05' in versions["content"].iloc[2]


@pytest.mark.parametrize(
    ("criteria", "table"),
    [
        (AuditFilter(failed_condition="stop_loss"), "buy_eval"),
        (AuditFilter(decision="sell"), "buy_eval"),
        (AuditFilter(trigger_kind="tick"), "buy_eval"),
        (AuditFilter(cause="force"), "sell_eval"),
    ],
)
def test_filters_not_belonging_to_the_table_raise_value_error(
    connection: sqlite3.Connection, criteria: AuditFilter, table: str
) -> None:
    with pytest.raises(ValueError, match=table):
        count_rows(connection, table, criteria)  # type: ignore[arg-type]


def test_open_audit_connection_refuses_writes(connection: sqlite3.Connection) -> None:
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        connection.execute("DELETE FROM buy_eval")


def test_open_audit_connection_missing_database_raises_and_creates_nothing(tmp_path: Path) -> None:
    path = database_path(tmp_path, "alice")
    with pytest.raises(StorageError, match="no such database"), open_audit_connection(path):
        pass
    assert not path.exists()


def test_open_audit_connection_old_schema_is_refused(tmp_path: Path) -> None:
    path = database_path(tmp_path, "alice")
    with sqlite3.connect(path) as legacy:
        legacy.execute("CREATE TABLE buy_eval (id INTEGER)")
    with pytest.raises(StorageError, match="schema version 0"), open_audit_connection(path):
        pass
