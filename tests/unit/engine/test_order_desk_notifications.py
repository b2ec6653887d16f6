"""Fills, dust write-offs and refused orders write their message in their own transaction (issue 14)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from cryptography.fernet import Fernet

from tradebot.core.broker import OrderOutcome, OrderStatus
from tradebot.core.krw_rules import Fill
from tradebot.services.notifications.outbox import due
from tradebot.services.notifications.setup import NotifyChanges, save_changes
from tradebot.services.secrets import SecretBox
from tradebot.services.storage import Store

from .test_order_desk import MARKET, START, VERSIONS, FakeBroker, StepClock, buy, intent, make_desk, store

__all__ = ["store"]  # the fixture this module uses
WEBHOOK = "https://hooks.example/services/secret-path"


@pytest.fixture
def notified(store: Store) -> Store:
    changes = NotifyChanges(webhook_url=WEBHOOK, webhook_format="slack")
    save_changes(store, SecretBox(Fernet.generate_key()), changes, now=START, updated_by="test")
    return store


def messages(store: Store) -> list[tuple[str, str]]:
    return [(item.kind, item.text) for item in due(store, START + timedelta(days=1), limit=100)]


def test_buy_and_sell_fills_each_write_one_message(notified: Store) -> None:
    broker, clock = FakeBroker(), StepClock(START)
    desk = make_desk(notified, broker, clock)
    buy(desk, START)
    later = START + timedelta(minutes=1)
    desk.place(intent("ask", later, "take_profit"), Decimal("0.001"), Decimal(102_000_000), lambda _: None)
    [(buy_kind, bought), (sell_kind, sold)] = messages(notified)
    assert (buy_kind, sell_kind) == ("fill", "fill")
    assert bought.startswith(f"[LIVE] {MARKET} buy filled: 0.001 at 100,000,000 KRW = 100,000 KRW")
    assert "rule: golden_cross" in bought
    assert sold.startswith(f"[LIVE] {MARKET} sell filled: 0.001 at 102,000,000 KRW = 102,000 KRW")
    assert "rule: take_profit; realised profit +1,899 KRW (+1.90%)" in sold
    assert len(notified.trade_audits()) == 2


def test_refused_order_writes_one_message_with_the_error(notified: Store) -> None:
    broker, clock = FakeBroker(), StepClock(START)
    desk = make_desk(notified, broker, clock)
    identifier = desk.identifier("bid", START)
    assert identifier is not None
    broker.answers[identifier] = OrderOutcome(
        identifier, OrderStatus.REFUSED, error_name="insufficient_funds_bid", message="not enough KRW"
    )
    buy(desk, START)
    assert messages(notified) == [
        (
            "order_refused",
            f"[LIVE] {MARKET} buy order REFUSED, nothing traded: insufficient_funds_bid: not enough KRW "
            f"(order {identifier})",
        )
    ]


def test_fill_rolled_back_writes_no_message(notified: Store) -> None:
    broker, clock = FakeBroker(), StepClock(START)
    desk = make_desk(notified, broker, clock)
    identifier = desk.identifier("bid", START)
    assert identifier is not None
    broker.answers[identifier] = OrderOutcome(identifier, OrderStatus.PENDING)
    buy(desk, START)  # sent, still waiting for its fill
    fill = Fill("bid", Decimal(100), Decimal(1), Decimal(100), Decimal("0.05"), Decimal("-100.05"))
    outcome = OrderOutcome(identifier, OrderStatus.FILLED, fill)

    def crash_after_the_fill() -> None:
        with notified.transaction() as transaction:
            desk.apply(transaction, outcome, intent("bid", START))
            assert len(due(transaction, START + timedelta(days=1))) == 1  # written with the fill ...
            raise RuntimeError("crash before the commit")

    with pytest.raises(RuntimeError):
        crash_after_the_fill()
    assert messages(notified) == []  # ... and gone with it
    assert notified.trade_audits() == []


def test_dust_write_off_writes_one_fill_message(notified: Store) -> None:
    broker, clock = FakeBroker(), StepClock(START)
    desk = make_desk(notified, broker, clock)
    buy(desk, START, krw="6000")
    position = desk.position()
    assert position is not None
    later = START + timedelta(minutes=1)
    desk.write_off_dust(intent("ask", later, "stop_loss"), position, Decimal(50_000_000), lambda _: None)
    kinds_and_texts = messages(notified)
    assert [kind for kind, _ in kinds_and_texts] == ["fill", "fill"]
    assert "written off as dust" in kinds_and_texts[1][1]


def test_fill_without_channel_recorded_without_message(store: Store) -> None:
    broker, clock = FakeBroker(), StepClock(START)
    buy(make_desk(store, broker, clock), START)
    assert messages(store) == []
    assert len(store.trade_audits()) == 1


def test_bot_coins_sold_outside_write_one_alert_with_the_shrink(notified: Store) -> None:
    broker, clock = FakeBroker(), StepClock(START)
    desk = make_desk(notified, broker, clock)
    buy(desk, START)
    broker.free = Decimal("0.0004")  # the user sold 0.0006 of the bot's coins on Upbit's app
    desk.reconcile(VERSIONS)  # one read may lag a fill: nothing yet
    assert [kind for kind, _ in messages(notified)] == ["fill"]
    note = desk.reconcile(VERSIONS)
    assert note is not None
    for _ in range(3):
        desk.reconcile(VERSIONS)  # the shrunk position matches the wallet: no new alert
    [(kind, text)] = messages(notified)[1:]
    assert kind == "alert"
    assert text == f"ALERT: [LIVE] {MARKET}: {note}"
    assert "sold or withdrawn outside the bot" in text
