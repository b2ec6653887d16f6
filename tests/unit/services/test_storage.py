"""The per-user store: one transaction per decision, upserted evaluations, commands run once."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, get_args

import pytest

from tradebot.core.models import Candle, Interval
from tradebot.core.params import Conditions, StrategyParams
from tradebot.core.strategy import Action, ConditionResult
from tradebot.services.records import (
    AccountBalance,
    BuyEvaluation,
    CommandKind,
    CommandRequest,
    EngineState,
    EngineStatus,
    OrderStatus,
    OrderUpdate,
    PendingOrder,
    Position,
    SellEvaluation,
    StoredOrder,
    TradeAudit,
    TriggerKind,
    User,
)
from tradebot.services.storage import StorageError, Store, Transaction, Window

D = Decimal
NOW = datetime(2025, 11, 21, 1, 0, tzinfo=UTC)
CANDLE = datetime(2025, 11, 21, 0, 45, tzinfo=UTC)
MARKET = "KRW-BTC"
KILLED = 17
BCRYPT = "$2b$12$" + "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0"


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "tradebot_alice.db"


@pytest.fixture
def store(path: Path) -> Iterator[Store]:
    with Store.open(path) as opened:
        yield opened


@pytest.fixture
def versions(store: Store) -> tuple[int, int]:
    with store.transaction() as tx:
        return (
            tx.record_settings(StrategyParams(), saved_at=NOW, saved_by="alice"),
            tx.record_settings(Conditions(), saved_at=NOW, saved_by="alice"),
        )


def order_request(identifier: str = "tradebot-alice-1") -> PendingOrder:
    return PendingOrder(
        identifier=identifier,
        mode="TEST",
        market=MARKET,
        side="bid",
        ord_type="price",
        price=D(100_000),
        volume=None,
        candle_start=CANDLE,
        requested_at=NOW,
    )


def buy_evaluation(versions: tuple[int, int], candle_start: datetime = CANDLE) -> BuyEvaluation:
    return BuyEvaluation(
        market=MARKET,
        interval=Interval.MINUTE15,
        candle_start=candle_start,
        price=D("102945000"),
        macd=1500.5,
        signal=1200.25,
        hist=300.25,
        conditions={
            "golden_cross": ConditionResult(True, True, 300.25),
            "above_ma60": ConditionResult(False, False, None),
        },
        decision=Action.BUY,
        reason="entry: golden_cross held",
        params_version=versions[0],
        conditions_version=versions[1],
        evaluated_at=NOW,
    )


def sell_evaluation(versions: tuple[int, int], trigger_kind: TriggerKind) -> SellEvaluation:
    return SellEvaluation(
        market=MARKET,
        interval=Interval.MINUTE15,
        candle_start=CANDLE,
        trigger_kind=trigger_kind,
        price=D("100800000"),
        entry_price=D("102945000"),
        peak_price=D("103000000"),
        stop_loss_price=D("100886100"),
        take_profit_price=D("106033350"),
        trailing_stop_price=D("100940000"),
        bars_held=3,
        rules={"stop_loss": ConditionResult(True, True, 100886100.0)},
        decision=Action.SELL,
        reason="exit: stop_loss",
        trigger_rule="stop_loss",
        params_version=versions[0],
        conditions_version=versions[1],
        evaluated_at=NOW,
    )


def write_buy_decision(tx: Transaction, versions: tuple[int, int]) -> None:
    """The writes of one executed buy: order, fill, position, account, evaluation and audit."""
    tx.insert_order(order_request())
    fill = OrderUpdate(
        state="done",
        updated_at=NOW,
        executed_volume=D("0.00097137"),
        average_price=D(102945000),
        paid_fee=D("50"),
    )
    tx.update_order("tradebot-alice-1", fill)
    tx.set_position(
        Position(
            mode="TEST",
            market=MARKET,
            volume=D("0.00097137"),
            entry_price=D(102945000),
            peak_price=D(102945000),
            entry_candle_start=CANDLE,
            bars_held=0,
            updated_at=NOW,
        )
    )
    tx.set_account(AccountBalance(mode="TEST", krw_balance=D("899950"), updated_at=NOW))
    tx.upsert_buy_evaluation(buy_evaluation(versions))
    tx.append_trade_audit(
        TradeAudit(
            mode="TEST",
            market=MARKET,
            side="bid",
            fill_price=D(102945000),
            volume=D("0.00097137"),
            fee=D(50),
            params_version=versions[0],
            conditions_version=versions[1],
            cause="strategy",
            rule="golden_cross",
            order_identifier="tradebot-alice-1",
            interval=Interval.MINUTE15,
            candle_start=CANDLE,
            executed_at=NOW,
        )
    )


DecisionRows = tuple[
    StoredOrder | None, list[Position], AccountBalance | None, list[BuyEvaluation], list[TradeAudit]
]


def decision_rows(store: Store) -> DecisionRows:
    return (
        store.order("tradebot-alice-1"),
        store.positions("TEST"),
        store.account("TEST"),
        store.buy_evaluations(MARKET, Interval.MINUTE15),
        store.trade_audits(),
    )


NOTHING_WRITTEN: DecisionRows = (None, [], None, [], [])


def write_decision_and_die(path: str, versions: tuple[int, int], commit: bool) -> None:
    """Child process: write one decision, then die without any cleanup, before or after COMMIT."""
    store = Store.open(Path(path))
    with store.transaction() as tx:
        write_buy_decision(tx, versions)
        # Enough rows that SQLite must write uncommitted pages to the WAL file before the end.
        start = datetime(2020, 1, 1, tzinfo=UTC)
        tx.save_candles(
            MARKET,
            Interval.MINUTE1,
            (Candle(start + timedelta(minutes=i), 1.5, 2.5, 1.0, 2.0, 0.1) for i in range(50_000)),
        )
        if not commit:
            os._exit(KILLED)
    os._exit(KILLED)


def run_child(path: Path, versions: tuple[int, int], commit: bool) -> None:
    process = multiprocessing.get_context("spawn").Process(
        target=write_decision_and_die, args=(str(path), versions, commit)
    )
    process.start()
    process.join(timeout=120)
    assert process.exitcode == KILLED


# --- connection and transactions -------------------------------------------------------------


def test_open_sets_wal_foreign_keys_busy_timeout_and_normal_sync(store: Store) -> None:
    expected = {"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 5000, "synchronous": 1}
    assert store.connection_settings() == expected


def test_durable_transaction_commits_with_full_sync_then_back_to_normal(store: Store) -> None:
    statements: list[str] = []
    store._connection.set_trace_callback(statements.append)  # what reaches SQLite, in order
    with store.transaction(durable=True) as transaction:
        transaction.set_engine_status(EngineStatus(state="running", mode="TEST", heartbeat_at=NOW))
    store._connection.set_trace_callback(None)
    pragmas = [text for text in statements if text.startswith(("PRAGMA synchronous", "BEGIN", "COMMIT"))]
    assert pragmas == [
        "PRAGMA synchronous = FULL",
        "BEGIN IMMEDIATE",
        "COMMIT",
        "PRAGMA synchronous = NORMAL",
    ]
    assert store.connection_settings()["synchronous"] == 1


def test_decision_transaction_committed_lands_every_write(store: Store, versions: tuple[int, int]) -> None:
    with store.transaction() as tx:
        write_buy_decision(tx, versions)
    order, positions, account, evaluations, audits = decision_rows(store)
    assert order is not None
    assert order.state == "done"
    assert order.executed_volume == D("0.00097137")
    assert [position.entry_price for position in positions] == [D(102945000)]
    assert account == AccountBalance(
        mode="TEST", krw_balance=D("899950"), starting_krw=D(1_000_000), updated_at=NOW
    )
    assert evaluations == [buy_evaluation(versions)]
    assert [audit.order_identifier for audit in audits] == ["tradebot-alice-1"]


def test_decision_transaction_raising_midway_leaves_nothing(store: Store, versions: tuple[int, int]) -> None:
    def buy_then_fail() -> None:
        with store.transaction() as tx:
            write_buy_decision(tx, versions)
            raise RuntimeError("exchange vanished")

    with pytest.raises(RuntimeError, match="exchange vanished"):
        buy_then_fail()
    assert decision_rows(store) == NOTHING_WRITTEN


def test_decision_transaction_failing_write_rolls_back_earlier_writes(
    store: Store, versions: tuple[int, int]
) -> None:
    unknown_version = TradeAudit(
        mode="TEST",
        market=MARKET,
        side="ask",
        fill_price=D(1),
        volume=D(1),
        fee=D(0),
        params_version=999,
        conditions_version=versions[1],
        cause="manual",
        executed_at=NOW,
    )

    def buy_then_write_bad_audit() -> None:
        with store.transaction() as tx:
            write_buy_decision(tx, versions)
            tx.append_trade_audit(unknown_version)

    with pytest.raises(StorageError, match="FOREIGN KEY"):
        buy_then_write_bad_audit()
    assert decision_rows(store) == NOTHING_WRITTEN


def test_process_killed_mid_transaction_leaves_nothing(
    path: Path, store: Store, versions: tuple[int, int]
) -> None:
    store.close()
    run_child(path, versions, commit=False)
    wal = path.with_name(path.name + "-wal")
    assert wal.stat().st_size > 100_000  # uncommitted pages did reach the disk, and must be ignored
    with Store.open(path) as reopened:
        assert decision_rows(reopened) == NOTHING_WRITTEN
        assert reopened.candles(MARKET, Interval.MINUTE1) == []


def test_process_killed_after_commit_keeps_everything(
    path: Path, store: Store, versions: tuple[int, int]
) -> None:
    store.close()
    run_child(path, versions, commit=True)
    with Store.open(path) as reopened:
        order, positions, account, evaluations, audits = decision_rows(reopened)
        assert order is not None
        assert (len(positions), len(evaluations), len(audits)) == (1, 1, 1)
        assert account is not None
        assert len(reopened.candles(MARKET, Interval.MINUTE1, Window(limit=100_000))) == 50_000


def test_reader_during_write_transaction_sees_last_commit_only(path: Path, versions: tuple[int, int]) -> None:
    with Store.open(path) as writer, Store.open(path) as reader:
        with writer.transaction() as tx:
            tx.set_account(AccountBalance(mode="TEST", krw_balance=D(1_000_000), updated_at=NOW))
        with writer.transaction() as tx:
            write_buy_decision(tx, versions)
            account = reader.account("TEST")
            assert account is not None
            assert account.krw_balance == D(1_000_000)
            assert reader.order("tradebot-alice-1") is None
            assert reader.positions("TEST") == []
        account = reader.account("TEST")
        assert account is not None
        assert account.krw_balance == D("899950")
        assert reader.order("tradebot-alice-1") is not None
        assert len(reader.positions("TEST")) == 1


def test_snapshot_keeps_one_view_while_writer_commits(path: Path, versions: tuple[int, int]) -> None:
    with Store.open(path) as writer, Store.open(path) as reader:
        with reader.snapshot() as view:
            assert view.account("TEST") is None
            with writer.transaction() as tx:
                write_buy_decision(tx, versions)
            assert view.account("TEST") is None
            assert view.positions("TEST") == []
        assert reader.account("TEST") is not None


def test_second_writer_without_busy_timeout_gets_locked_error(path: Path) -> None:
    with (
        Store.open(path) as first,
        Store.open(path, busy_timeout_ms=0) as second,
        first.transaction(),
        pytest.raises(StorageError, match="locked"),
        second.transaction(),
    ):
        pass


def test_nested_transaction_refused(store: Store) -> None:
    with store.transaction(), pytest.raises(StorageError, match="already open"), store.transaction():
        pass


def test_transaction_used_after_its_block_refused(store: Store) -> None:
    with store.transaction() as tx:
        pass
    with pytest.raises(StorageError, match="already ended"):
        tx.set_account(AccountBalance(mode="TEST", krw_balance=D(1), updated_at=NOW))


# --- values ----------------------------------------------------------------------------------


def test_money_stored_as_exact_text(path: Path, store: Store) -> None:
    balance = D("1234567.123456789012345678")
    with store.transaction() as tx:
        tx.set_account(AccountBalance(mode="LIVE", krw_balance=balance, updated_at=NOW))
    account = store.account("LIVE")
    assert account is not None
    assert account.krw_balance == balance
    with closing(sqlite3.connect(path)) as raw:
        assert raw.execute("SELECT typeof(krw_balance), krw_balance FROM account").fetchone() == (
            "text",
            "1234567.123456789012345678",
        )


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"krw_balance": 899950.5}, "AccountBalance.krw_balance: expected a finite Decimal"),
        ({"krw_balance": D("NaN")}, "AccountBalance.krw_balance: expected a finite Decimal"),
        ({"updated_at": datetime(2025, 1, 1)}, "AccountBalance.updated_at: expected an aware datetime"),  # noqa: DTZ001
        ({"mode": "PAPER"}, "AccountBalance.mode: expected one of TEST, LIVE"),
        ({"krw_balance": D(-1)}, "CHECK constraint failed"),
    ],
)
def test_account_with_wrong_value_refused(store: Store, changes: dict[str, Any], named: str) -> None:
    account = replace(AccountBalance(mode="TEST", krw_balance=D(1), updated_at=NOW), **changes)
    with pytest.raises(StorageError, match=named), store.transaction() as tx:
        tx.set_account(account)
    assert store.account("TEST") is None


def test_times_round_trip_as_aware_utc(store: Store) -> None:
    seoul = datetime(2025, 11, 21, 19, 0, 0, 123456, tzinfo=timezone(timedelta(hours=9)))
    status = EngineStatus(
        state="running", mode="TEST", heartbeat_at=seoul, last_cycle_duration=timedelta(seconds=1.5)
    )
    with store.transaction() as tx:
        tx.set_engine_status(status)
    read = store.engine_status()
    assert read is not None
    assert read.heartbeat_at == seoul
    assert read.heartbeat_at.utcoffset() == timedelta(0)
    assert read.last_cycle_duration == timedelta(seconds=1.5)


def test_user_password_must_be_bcrypt_hash_and_is_never_echoed(store: Store) -> None:
    typed_in_clear = "hunter2-not-a-hash"
    with pytest.raises(StorageError, match="not a bcrypt hash") as error, store.transaction() as tx:
        tx.save_user(User(username="alice", password_hash=typed_in_clear, created_at=NOW))
    assert "hunter2" not in str(error.value)
    with store.transaction() as tx:
        tx.save_user(User(username="alice", password_hash=BCRYPT, created_at=NOW))
    assert store.user("alice") == User(username="alice", password_hash=BCRYPT, created_at=NOW)


# --- evaluations -----------------------------------------------------------------------------


def test_buy_evaluation_rewritten_for_same_candle_keeps_one_row_with_new_values(
    store: Store, versions: tuple[int, int]
) -> None:
    first = buy_evaluation(versions)
    second = replace(first, decision=Action.HOLD, reason="no entry: golden_cross failed", macd=None)
    with store.transaction() as tx:
        tx.upsert_buy_evaluation(first)
    with store.transaction() as tx:
        tx.upsert_buy_evaluation(second)
    assert store.buy_evaluations(MARKET, Interval.MINUTE15) == [second]


def test_buy_evaluations_read_back_sorted_by_candle_start(store: Store, versions: tuple[int, int]) -> None:
    starts = [CANDLE + timedelta(minutes=15 * offset) for offset in (2, 0, 3, 1)]
    with store.transaction() as tx:
        for start in starts:
            tx.upsert_buy_evaluation(replace(buy_evaluation(versions), candle_start=start, evaluated_at=NOW))
    read = store.buy_evaluations(MARKET, Interval.MINUTE15)
    assert [item.candle_start for item in read] == sorted(starts)
    newest_two = store.buy_evaluations(MARKET, Interval.MINUTE15, Window(limit=2))
    assert [item.candle_start for item in newest_two] == sorted(starts)[2:]
    since = store.buy_evaluations(
        MARKET, Interval.MINUTE15, Window(start=sorted(starts)[1], end=sorted(starts)[3])
    )
    assert [item.candle_start for item in since] == sorted(starts)[1:3]
    assert store.buy_evaluations(MARKET, Interval.MINUTE5) == []


def test_sell_evaluation_close_and_tick_rows_of_one_candle_coexist(
    store: Store, versions: tuple[int, int]
) -> None:
    tick = sell_evaluation(versions, "tick")
    close = replace(sell_evaluation(versions, "close"), decision=Action.HOLD, trigger_rule=None)
    with store.transaction() as tx:
        tx.upsert_sell_evaluation(tick)
        tx.upsert_sell_evaluation(close)
        tx.upsert_sell_evaluation(replace(tick, price=D("100700000")))
    read = store.sell_evaluations(MARKET, Interval.MINUTE15)
    assert sorted((item.trigger_kind, item.price) for item in read) == [
        ("close", D("100800000")),
        ("tick", D("100700000")),
    ]


def test_evaluation_condition_value_nan_refused(store: Store, versions: tuple[int, int]) -> None:
    broken = replace(
        buy_evaluation(versions), conditions={"golden_cross": ConditionResult(True, True, float("nan"))}
    )
    with pytest.raises(StorageError, match="conditions: not storable as JSON"), store.transaction() as tx:
        tx.upsert_buy_evaluation(broken)


def test_evaluation_with_unknown_settings_version_refused(store: Store, versions: tuple[int, int]) -> None:
    with pytest.raises(StorageError, match="FOREIGN KEY"), store.transaction() as tx:
        tx.upsert_buy_evaluation(replace(buy_evaluation(versions), params_version=42))


# --- orders and audit ------------------------------------------------------------------------


def test_order_followed_from_requested_through_wait_to_done(store: Store) -> None:
    with store.transaction() as tx:
        tx.insert_order(order_request())
    requested = store.order("tradebot-alice-1")
    assert requested is not None
    assert (requested.state, requested.uuid, requested.executed_volume) == ("requested", None, None)
    with store.transaction() as tx:
        tx.update_order("tradebot-alice-1", OrderUpdate(state="wait", updated_at=NOW, uuid="upbit-uuid-1"))
        tx.update_order(
            "tradebot-alice-1",
            OrderUpdate(state="done", updated_at=NOW, executed_volume=D("0.00097137"), paid_fee=D("49.99")),
        )
    done = store.order("tradebot-alice-1")
    assert done is not None
    assert (done.state, done.uuid, done.executed_volume, done.paid_fee) == (
        "done",
        "upbit-uuid-1",
        D("0.00097137"),
        D("49.99"),
    )
    assert store.unfinished_orders("TEST") == []


def test_refused_order_keeps_upbit_error_name(store: Store) -> None:
    with store.transaction() as tx:
        tx.insert_order(order_request())
        refusal = OrderUpdate(
            state="rejected", updated_at=NOW, error_name="insufficient_funds_bid", error_message="short"
        )
        tx.update_order("tradebot-alice-1", refusal)
    order = store.order("tradebot-alice-1")
    assert order is not None
    assert (order.state, order.error_name) == ("rejected", "insufficient_funds_bid")


def test_order_identifier_reused_refused(store: Store) -> None:
    with store.transaction() as tx:
        tx.insert_order(order_request())
    with (
        pytest.raises(StorageError, match=r"UNIQUE constraint failed: orders\.identifier"),
        store.transaction() as tx,
    ):
        tx.insert_order(order_request())


@pytest.mark.parametrize("state", ["done", "cancel", "rejected"])
def test_final_order_update_refused(store: Store, state: OrderStatus) -> None:
    with store.transaction() as tx:
        tx.insert_order(order_request())
        tx.update_order("tradebot-alice-1", OrderUpdate(state=state, updated_at=NOW))
    with pytest.raises(StorageError, match="already final"), store.transaction() as tx:
        tx.update_order("tradebot-alice-1", OrderUpdate(state="wait", updated_at=NOW))


def test_order_update_back_to_requested_or_unknown_refused(store: Store) -> None:
    with pytest.raises(StorageError, match="unknown or already final"), store.transaction() as tx:
        tx.update_order("nobody", OrderUpdate(state="wait", updated_at=NOW))
    with pytest.raises(StorageError, match="cannot go back"), store.transaction() as tx:
        tx.update_order("nobody", OrderUpdate(state="requested", updated_at=NOW))


def test_unfinished_orders_are_requested_and_wait_of_that_mode(store: Store) -> None:
    with store.transaction() as tx:
        states: list[OrderStatus] = ["requested", "wait", "done", "cancel"]
        for number, state in enumerate(states):
            tx.insert_order(order_request(f"order-{number}"))
            if state != "requested":
                tx.update_order(f"order-{number}", OrderUpdate(state=state, updated_at=NOW))
        tx.insert_order(replace(order_request("live-order"), mode="LIVE"))
    assert [order.identifier for order in store.unfinished_orders("TEST")] == ["order-0", "order-1"]
    assert [order.identifier for order in store.unfinished_orders("LIVE")] == ["live-order"]


def test_force_trade_audit_needs_command_and_requester(store: Store, versions: tuple[int, int]) -> None:
    with store.transaction() as tx:
        tx.insert_order(order_request())
        command_id = tx.submit_command(
            CommandRequest(kind="force_buy", requested_by="alice", requested_at=NOW, args={"reason": "dip"})
        )
    audit = TradeAudit(
        mode="TEST",
        market=MARKET,
        side="bid",
        fill_price=D(102945000),
        volume=D("0.00097137"),
        fee=D(50),
        params_version=versions[0],
        conditions_version=versions[1],
        cause="force",
        order_identifier="tradebot-alice-1",
        executed_at=NOW,
    )
    with pytest.raises(StorageError, match="CHECK constraint failed"), store.transaction() as tx:
        tx.append_trade_audit(audit)
    with store.transaction() as tx:
        tx.append_trade_audit(replace(audit, command_id=command_id, requested_by="alice", note="dip"))
    assert [(item.cause, item.requested_by, item.note) for item in store.trade_audits()] == [
        ("force", "alice", "dip")
    ]


def test_trade_recorded_finds_a_dust_write_off_of_that_candle_mode_and_rule_only(
    store: Store, versions: tuple[int, int]
) -> None:
    dust = TradeAudit(
        mode="TEST", market=MARKET, side="ask", fill_price=D(102945000), volume=D("0.00000004"),
        fee=D(0), params_version=versions[0], conditions_version=versions[1], cause="strategy",
        rule="dust", candle_start=CANDLE, executed_at=NOW,
    )  # fmt: skip
    with store.transaction() as tx:
        tx.append_trade_audit(dust)

    assert store.trade_recorded("TEST", MARKET, CANDLE, "dust")
    assert not store.trade_recorded("LIVE", MARKET, CANDLE, "dust")
    assert not store.trade_recorded("TEST", MARKET, CANDLE + timedelta(hours=1), "dust")
    assert not store.trade_recorded("TEST", MARKET, CANDLE, "stop_loss")


# --- settings history ------------------------------------------------------------------------


def test_settings_recorded_again_unchanged_keeps_version(store: Store) -> None:
    with store.transaction() as tx:
        first = tx.record_settings(StrategyParams(), saved_at=NOW, saved_by="alice")
        again = tx.record_settings(StrategyParams(), saved_at=NOW, saved_by="bob")
        changed = tx.record_settings(StrategyParams(fast_period=8), saved_at=NOW, saved_by="bob")
        back = tx.record_settings(StrategyParams(), saved_at=NOW, saved_by="alice")
        conditions = tx.record_settings(Conditions(), saved_at=NOW, saved_by="alice")
    assert first == again
    assert len({first, changed, back, conditions}) == 4  # a change back is a new version: history is in order
    latest = store.latest_settings("params")
    assert latest is not None
    assert latest.version == back
    assert StrategyParams.model_validate_json(latest.content) == StrategyParams()
    recorded = store.settings_version(changed)
    assert recorded is not None
    assert (recorded.kind, recorded.saved_by) == ("params", "bob")


# --- commands --------------------------------------------------------------------------------


def test_command_submitted_claimed_and_acknowledged_once(store: Store) -> None:
    request = CommandRequest(
        kind="set_mode", requested_by="alice", requested_at=NOW, args={"mode": "LIVE"}, live_confirmed=True
    )
    with store.transaction() as tx:
        command_id = tx.submit_command(request)
    with store.transaction() as tx:
        claimed = tx.claim_next_command(engine_id="engine-1", claimed_at=NOW)
        assert tx.claim_next_command(engine_id="engine-1", claimed_at=NOW) is None
    assert claimed is not None
    assert (claimed.id, claimed.status, claimed.args, claimed.live_confirmed) == (
        command_id,
        "claimed",
        {"mode": "LIVE"},
        True,
    )
    with store.transaction() as tx:
        tx.acknowledge_command(command_id, status="done", message="now LIVE", acknowledged_at=NOW)
    with pytest.raises(StorageError, match="not claimed"), store.transaction() as tx:
        tx.acknowledge_command(command_id, status="failed", message="again", acknowledged_at=NOW)
    (recent,) = store.recent_commands()
    assert (recent.status, recent.result_message, recent.acknowledged_at) == ("done", "now LIVE", NOW)


def test_commands_claimed_by_two_racing_engines_each_run_once(path: Path, store: Store) -> None:
    with store.transaction() as tx:
        submitted = [
            tx.submit_command(CommandRequest(kind="pause", requested_by="alice", requested_at=NOW))
            for _ in range(40)
        ]
    start = threading.Barrier(2)
    claimed: dict[str, list[int]] = {}
    errors: list[BaseException] = []

    def engine(name: str) -> None:
        try:
            with Store.open(path) as own:
                start.wait()
                mine: list[int] = []
                while True:
                    with own.transaction() as tx:
                        command = tx.claim_next_command(engine_id=name, claimed_at=NOW)
                    if command is None:
                        break
                    mine.append(command.id)
                claimed[name] = mine
        except BaseException as error:  # reported below; a thread's exception is otherwise lost
            errors.append(error)

    threads = [threading.Thread(target=engine, args=(name,)) for name in ("engine-a", "engine-b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(claimed["engine-a"] + claimed["engine-b"]) == submitted


def test_command_recent_listed_newest_first(store: Store) -> None:
    with store.transaction() as tx:
        for kind in get_args(CommandKind):
            tx.submit_command(CommandRequest(kind=kind, requested_by="alice", requested_at=NOW))
    assert [command.kind for command in store.recent_commands(limit=3)] == ["resume", "pause", "force_sell"]


@pytest.mark.parametrize("args", [{"reason": float("nan")}, {"when": NOW}, {"ok": {1, 2}}])
def test_command_args_not_json_refused(store: Store, args: dict[str, object]) -> None:
    with pytest.raises(StorageError, match="args: not storable as JSON"), store.transaction() as tx:
        tx.submit_command(
            CommandRequest(kind="force_sell", requested_by="alice", requested_at=NOW, args=args)
        )


# --- engine status, positions, candles -------------------------------------------------------


def test_engine_status_is_one_row_replaced_by_each_write(path: Path, store: Store) -> None:
    with store.transaction() as tx:
        for state in get_args(EngineState):
            tx.set_engine_status(EngineStatus(state=state, mode="TEST", heartbeat_at=NOW))
        last = EngineStatus(
            state="failed",
            mode="LIVE",
            heartbeat_at=NOW,
            engine_id="host:123",
            last_fetch_at=NOW,
            last_closed_candle=CANDLE,
            last_cycle_duration=timedelta(milliseconds=230),
            last_error="RateLimited: too many requests",
        )
        tx.set_engine_status(last)
    assert store.engine_status() == last
    with closing(sqlite3.connect(path)) as raw:
        assert raw.execute("SELECT count(*) FROM engine_status").fetchone() == (1,)


def test_position_without_entry_price_kept_and_cleared(store: Store) -> None:
    position = Position(
        mode="LIVE",
        market=MARKET,
        volume=D("0.5"),
        entry_price=None,
        peak_price=None,
        entry_candle_start=None,
        bars_held=0,
        updated_at=NOW,
    )
    with store.transaction() as tx:
        tx.set_position(position)
        tx.set_position(replace(position, bars_held=4))
    assert store.positions("LIVE") == [replace(position, bars_held=4)]
    with store.transaction() as tx:
        tx.clear_position("LIVE", MARKET)
    assert store.positions("LIVE") == []


def test_candles_upserted_by_start_and_read_back_in_order(store: Store) -> None:
    first = Candle(CANDLE, 102_945_000.0, 103_000_000.0, 102_900_000.0, 102_950_000.0, 1.23456789)
    earlier = replace(first, start=CANDLE - timedelta(minutes=15), close=102_940_000.0)
    with store.transaction() as tx:
        tx.save_candles(MARKET, Interval.MINUTE15, [first, earlier])
        tx.save_candles(MARKET, Interval.MINUTE15, [replace(first, close=0.1 + 0.2)])
    assert store.candles(MARKET, Interval.MINUTE15) == [earlier, replace(first, close=0.1 + 0.2)]
    assert store.candles(MARKET, Interval.MINUTE15, Window(start=CANDLE)) == [replace(first, close=0.1 + 0.2)]
    assert store.candles("KRW-ETH", Interval.MINUTE15) == []
