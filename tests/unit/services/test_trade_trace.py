"""The trade → reason trace (`services.trade_trace`) on a database written by the engine's order desk.

The order desk (the code every TEST and LIVE order goes through) records the orders, fills, dust
write-offs and manual rows; the evaluation rows are written in the same transaction as the order,
as the live loop does. A fake broker stands in for the exchange (see tests/unit/engine).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from tests.unit.engine.test_order_desk import START, VERSIONS, FakeBroker, StepClock, make_desk
from tradebot.core.broker import OrderOutcome, OrderStatus
from tradebot.core.models import Interval
from tradebot.core.params import Conditions, StrategyParams
from tradebot.core.strategy import Action, ConditionResult
from tradebot.engine.order_desk import OrderDesk
from tradebot.engine.order_intent import OrderIntent
from tradebot.services.records import (
    AccountBalance,
    BuyEvaluation,
    CommandRequest,
    SellEvaluation,
    TriggerKind,
)
from tradebot.services.storage import Store, Transaction
from tradebot.services.trade_trace import EvaluationKey, TradeTrace, trace_order, trace_trade
from tradebot.services.trade_trace_text import trace_document, trace_lines

MARKET = "KRW-BTC"
INTERVAL = Interval.MINUTE1  # the test desk's interval
PRICE = Decimal(100_000_000)
BUY_CANDLE = START  # 2026-03-22 12:00 UTC = 21:00 KST
SELL_CANDLE = START + timedelta(minutes=5)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    opened = Store.open(tmp_path / "tradebot_alice.db")
    with opened.transaction() as transaction:
        transaction.set_account(AccountBalance(mode="LIVE", krw_balance=Decimal(1_000_000), updated_at=START))
        for settings in (StrategyParams(warmup_bars=40), Conditions()):
            transaction.record_settings(settings, saved_at=START, saved_by="test")
    return opened


def buy_row(start: datetime, decision: Action) -> BuyEvaluation:
    return BuyEvaluation(
        market=MARKET, interval=INTERVAL, candle_start=start, price=PRICE, macd=12.5, signal=8.0,
        hist=4.5, conditions={
            "golden_cross": ConditionResult(True, decision is Action.BUY, 12.5),
            "macd_positive": ConditionResult(False, True, 12.5),
        },
        decision=decision, reason="every enabled buy condition held", params_version=VERSIONS[0],
        conditions_version=VERSIONS[1], evaluated_at=start + timedelta(minutes=1),
    )  # fmt: skip


def sell_row(start: datetime, kind: TriggerKind, rule: str | None) -> SellEvaluation:
    return SellEvaluation(
        market=MARKET, interval=INTERVAL, candle_start=start, trigger_kind=kind, price=PRICE,
        entry_price=PRICE, peak_price=PRICE, stop_loss_price=Decimal(99_000_000),
        take_profit_price=Decimal(101_000_000), trailing_stop_price=Decimal(99_500_000), bars_held=4,
        rules={"stop_loss": ConditionResult(True, rule == "stop_loss", 99_000_000.0)},
        decision=Action.SELL if rule else Action.HOLD, reason=f"{rule} hit" if rule else "held",
        trigger_rule=rule, params_version=VERSIONS[0], conditions_version=VERSIONS[1],
        evaluated_at=start + timedelta(seconds=30 if kind == "tick" else 60),
    )  # fmt: skip


def strategy(side: str, candle: datetime, rule: str) -> OrderIntent:
    return OrderIntent(side, candle, "strategy", *VERSIONS, rule=rule)  # type: ignore[arg-type]


def bought(store: Store, desk: OrderDesk) -> str:
    """A strategy entry on BUY_CANDLE, its buy_eval written with the order; returns the identifier."""
    identifier = desk.identifier("bid", BUY_CANDLE)
    assert identifier is not None

    def record(transaction: Transaction) -> None:
        transaction.upsert_buy_evaluation(buy_row(BUY_CANDLE, Action.BUY))

    desk.place(strategy("bid", BUY_CANDLE, "entry"), Decimal(100_000), PRICE, record)
    return identifier


def found(trace: TradeTrace | None) -> TradeTrace:
    assert trace is not None
    return trace


def test_trace_strategy_buy_has_order_fill_candle_conditions_and_settings(store: Store) -> None:
    desk = make_desk(store, FakeBroker(), StepClock(START))
    trace = found(trace_order(store, bought(store, desk)))
    assert (trace.cause, trace.rule, trace.side, trace.mode) == ("strategy", "entry", "bid", "LIVE")
    assert trace.trade is not None
    assert trace.order is not None
    assert trace.order.state == "done"
    assert trace.evaluation_table == "buy_eval"
    assert trace.evaluation == buy_row(BUY_CANDLE, Action.BUY)
    document = trace_document(trace)
    json.dumps(document)  # plain JSON values only
    assert document["candle"] == {
        "start_utc": "2026-03-22T12:00:00Z",
        "start_kst": "2026-03-22T21:00:00+09:00",
    }
    evaluation = document["evaluation"]
    assert isinstance(evaluation, dict)
    assert evaluation["conditions"]["macd_positive"] == {"enabled": False, "passed": True, "value": 12.5}
    settings = document["settings"]
    assert isinstance(settings, dict)
    assert (settings["params_version"], settings["conditions_version"]) == VERSIONS
    assert settings["params"]["warmup_bars"] == 40
    text = "\n".join(trace_lines(document))
    assert "2026-03-22T21:00:00+09:00 KST" in text
    assert "golden_cross" in text
    assert "params.warmup_bars = 40" in text


def test_trace_sell_between_closes_links_the_tick_evaluation_with_its_rule(store: Store) -> None:
    desk = make_desk(store, FakeBroker(), StepClock(START))
    bought(store, desk)
    identifier = desk.identifier("ask", SELL_CANDLE)
    assert identifier is not None

    def record(transaction: Transaction) -> None:
        transaction.upsert_sell_evaluation(sell_row(SELL_CANDLE, "close", None))  # an earlier hold
        transaction.upsert_sell_evaluation(sell_row(SELL_CANDLE, "tick", "stop_loss"))

    desk.place(strategy("ask", SELL_CANDLE, "stop_loss"), Decimal("0.001"), PRICE, record)
    trace = found(trace_order(store, identifier))
    assert isinstance(trace.evaluation, SellEvaluation)
    assert (trace.evaluation.trigger_kind, trace.evaluation.trigger_rule) == ("tick", "stop_loss")
    assert trace.evaluation_reference == (
        "sell_eval",
        EvaluationKey(market=MARKET, interval=INTERVAL, candle_start=SELL_CANDLE, trigger_kind="tick"),
    )
    assert trace.trade is not None
    assert trace.trade.realised_profit is not None


def test_trace_force_buy_shows_command_who_and_why_and_no_evaluation(store: Store) -> None:
    desk = make_desk(store, FakeBroker(), StepClock(START))
    with store.transaction() as transaction:
        command_id = transaction.submit_command(
            CommandRequest(kind="force_buy", requested_by="bob", requested_at=START, args={"reason": "test"})
        )
        transaction.upsert_buy_evaluation(buy_row(BUY_CANDLE, Action.HOLD))  # same candle, not the cause
    intent = OrderIntent(
        "bid", BUY_CANDLE, "force", *VERSIONS, rule="force", command_id=command_id, requested_by="bob",
        note="testing the button",
    )  # fmt: skip
    desk.place(intent, Decimal(100_000), PRICE, lambda _: None)
    [audit] = store.trade_audits()
    trace = found(trace_order(store, str(audit.order_identifier)))
    assert (trace.cause, trace.requested_by, trace.note) == ("force", "bob", "testing the button")
    assert trace.command is not None
    assert (trace.command.id, trace.command.kind, trace.command.args) == (
        command_id,
        "force_buy",
        {"reason": "test"},
    )
    assert trace.evaluation is None
    assert trace.evaluation_reference is None
    text = "\n".join(trace_lines(trace_document(trace)))
    assert f"command    #{command_id} force_buy by bob" in text
    assert "no strategy evaluation decided it" in text


def test_trace_recovered_order_keeps_its_stored_intent_and_recovery_note(store: Store) -> None:
    broker, clock = FakeBroker(), StepClock(START)
    desk = make_desk(store, broker, clock)
    identifier = desk.identifier("bid", BUY_CANDLE)
    assert identifier is not None
    broker.answers[identifier] = OrderOutcome(identifier, OrderStatus.UNKNOWN, message="answer lost")
    bought(store, desk)
    assert found(trace_order(store, identifier)).trade is None  # not filled yet: the order and intent
    del broker.answers[identifier]
    assert make_desk(store, broker, clock).resume_unfinished(VERSIONS)  # a restart finishes it
    trace = found(trace_order(store, identifier))
    assert (trace.cause, trace.rule) == ("strategy", "entry")
    assert trace.note is not None
    assert "finished after a restart" in trace.note
    assert trace.evaluation == buy_row(BUY_CANDLE, Action.BUY)
    assert trace.trade is not None
    assert found(trace_order(store, f"u-{identifier}")) == trace  # the Upbit uuid finds it too


def test_trace_rejected_order_has_order_intent_and_evaluation_but_no_fill(store: Store) -> None:
    broker = FakeBroker()
    desk = make_desk(store, broker, StepClock(START))
    identifier = desk.identifier("bid", BUY_CANDLE)
    assert identifier is not None
    broker.answers[identifier] = OrderOutcome(
        identifier, OrderStatus.REFUSED, error_name="insufficient_funds_bid"
    )
    bought(store, desk)
    trace = found(trace_order(store, identifier))
    assert (trace.trade, trace.trade_id, trace.cause, trace.rule) == (None, None, "strategy", "entry")
    assert trace.order is not None
    assert (trace.order.state, trace.order.error_name) == ("rejected", "insufficient_funds_bid")
    assert trace.interval == INTERVAL  # from the evaluation: an order row has no interval
    document = trace_document(trace)
    assert document["fill"] is None
    assert trace_lines(document)[0].startswith("order (no fill): LIVE buy KRW-BTC minute1")


def test_trace_dust_write_off_found_by_trade_id_links_its_sell_evaluation(store: Store) -> None:
    desk = make_desk(store, FakeBroker(), StepClock(START))
    bought(store, desk)
    position = desk.position()
    assert position is not None

    def record(transaction: Transaction) -> None:
        transaction.upsert_sell_evaluation(sell_row(SELL_CANDLE, "close", "stop_loss"))

    dust_intent = OrderIntent(
        "ask", SELL_CANDLE, "strategy", *VERSIONS, rule="stop_loss", note="exit: stop_loss"
    )
    assert desk.write_off_dust(dust_intent, position, Decimal(4_000_000), record) is not None
    [_, row] = store.query("SELECT id FROM trade_audit ORDER BY id")
    trace = found(trace_trade(store, int(row["id"])))
    assert (trace.order, trace.rule, trace.cause) == (None, "dust", "strategy")
    assert isinstance(trace.evaluation, SellEvaluation)
    assert trace.evaluation.trigger_rule == "stop_loss"
    assert "exit: stop_loss" in "\n".join(trace_lines(trace_document(trace)))


def test_trace_manual_row_has_cause_and_note_but_no_candle_or_evaluation(store: Store) -> None:
    broker = FakeBroker()
    desk = make_desk(store, broker, StepClock(START))
    bought(store, desk)
    broker.free = Decimal(0)  # the user sold the bot's coins outside the bot
    desk.reconcile(VERSIONS)
    assert desk.reconcile(VERSIONS) is not None
    [_, row] = store.query("SELECT id FROM trade_audit ORDER BY id")
    trace = found(trace_trade(store, int(row["id"])))
    assert (trace.cause, trace.order, trace.candle_start, trace.evaluation) == ("manual", None, None, None)
    document = trace_document(trace)
    assert document["candle"] is None
    assert "sold or withdrawn outside the bot" in "\n".join(trace_lines(document))


def test_trace_unknown_order_or_trade_is_none(store: Store) -> None:
    assert trace_order(store, "tb.nobody") is None
    assert trace_trade(store, 999) is None
