"""The order desk's bookkeeping: the bot's own fills, the wallet check, recovery and lookups.

A small fake broker stands in for the exchange: its holdings are set by the test (the user's own
coins included) and its orders fill, refuse, or stay unknown as told.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from tests.fakes.clocks import StepClock
from tradebot.core.broker import NOT_FOUND, Holdings, OrderOutcome, OrderStatus
from tradebot.core.krw_rules import Fill
from tradebot.core.models import Interval
from tradebot.core.params import Conditions, StrategyParams
from tradebot.engine.order_desk import ABSENT_CONFIRMATION, NOT_FOUND_GRACE, OrderDesk
from tradebot.engine.order_intent import OrderIntent
from tradebot.services.records import AccountBalance, PendingOrder, Position
from tradebot.services.storage import Store

START = datetime(2026, 3, 22, 12, 0, tzinfo=UTC)
FEE = Decimal("0.0005")
MARKET = "KRW-BTC"
VERSIONS = (1, 2)


class FakeBroker:
    """Fills at the given price; `answers` overrides what an identifier's send or lookup returns."""

    fee_rate = FEE

    def __init__(self) -> None:
        self.krw = Decimal(1_000_000)
        self.free = Decimal(0)  # the wallet's free coin, the user's own included
        self.locked = Decimal(0)
        self.sent: list[str] = []
        self.answers: dict[str, OrderOutcome] = {}
        self.filled: dict[str, OrderOutcome] = {}

    def holdings(self) -> Holdings:
        return Holdings(self.krw, self.free, None, self.locked)

    def cycle_holdings(self) -> Holdings:
        return self.holdings()

    def buy(self, total_krw: Decimal, identifier: str, price: Decimal) -> OrderOutcome:
        volume = (total_krw / price).quantize(Decimal("0.00000001"))
        fee = total_krw * FEE
        fill = Fill("bid", price, volume, total_krw, fee, -(total_krw + fee))
        self.krw -= total_krw + fee
        self.free += volume
        return self._answer(OrderOutcome(identifier, OrderStatus.FILLED, fill, uuid=f"u-{identifier}"))

    def sell(self, volume: Decimal, identifier: str, price: Decimal) -> OrderOutcome:
        funds = volume * price
        fill = Fill("ask", price, volume, funds, funds * FEE, funds - funds * FEE)
        self.krw += funds - funds * FEE
        self.free -= volume
        return self._answer(OrderOutcome(identifier, OrderStatus.FILLED, fill, uuid=f"u-{identifier}"))

    def follow_up(self, identifier: str) -> OrderOutcome:
        if identifier in self.answers:
            return self.answers[identifier]
        return self.filled.get(identifier) or OrderOutcome(
            identifier, OrderStatus.REFUSED, error_name=NOT_FOUND
        )

    def _answer(self, outcome: OrderOutcome) -> OrderOutcome:
        self.sent.append(outcome.identifier)
        self.filled[outcome.identifier] = outcome
        return self.answers.get(outcome.identifier, outcome)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    opened = Store.open(tmp_path / "tradebot_alice.db")
    with opened.transaction() as transaction:
        transaction.set_account(AccountBalance(mode="LIVE", krw_balance=Decimal(1_000_000), updated_at=START))
        versions = tuple(
            transaction.record_settings(settings, saved_at=START, saved_by="test")
            for settings in (StrategyParams(), Conditions())
        )
    assert versions == VERSIONS
    return opened


def make_desk(store: Store, broker: FakeBroker, clock: StepClock, market: str = MARKET) -> OrderDesk:
    return OrderDesk(store, broker, clock, "alice", "LIVE", market, Interval.MINUTE1)


def intent(side: str, candle: datetime, rule: str = "golden_cross") -> OrderIntent:
    return OrderIntent(side, candle, "strategy", *VERSIONS, rule=rule)  # type: ignore[arg-type]


def buy(
    desk: OrderDesk, candle: datetime, krw: str = "100000", price: str = "100000000"
) -> OrderOutcome | None:
    return desk.place(intent("bid", candle), Decimal(krw), Decimal(price), lambda transaction: None)


def test_position_from_own_fills_entry_is_fill_price_not_wallet(store: Store) -> None:
    broker, clock = FakeBroker(), StepClock(START)
    broker.free = Decimal("0.05")  # the user's own BTC, held before the bot started
    desk = make_desk(store, broker, clock)
    assert desk.position() is None
    assert desk.reconcile(VERSIONS) is None
    assert desk.position() is None  # never adopted
    buy(desk, START)
    position = desk.position()
    assert position is not None
    assert (position.volume, position.entry_price, position.peak_price) == (
        Decimal("0.001"), Decimal(100_000_000), Decimal(100_000_000),
    )  # fmt: skip


def test_manual_buy_in_wallet_changes_nothing_of_the_position(store: Store) -> None:
    broker, clock = FakeBroker(), StepClock(START)
    desk = make_desk(store, broker, clock)
    buy(desk, START)
    before = desk.position()
    assert before is not None
    with store.transaction() as transaction:
        transaction.set_position(
            Position(**{**_fields(before), "peak_price": Decimal(105_000_000), "bars_held": 4})
        )
    broker.free += Decimal("0.02")  # bought by hand in the app, at another price
    broker.krw -= Decimal(20_000)
    assert desk.reconcile(VERSIONS) is None
    after = desk.position()
    assert after is not None
    assert (after.volume, after.entry_price, after.peak_price, after.bars_held) == (
        Decimal("0.001"), Decimal(100_000_000), Decimal(105_000_000), 4,
    )  # fmt: skip
    assert [audit.cause for audit in store.trade_audits()] == ["strategy"]


def test_coins_locked_in_users_order_are_not_a_sale(store: Store) -> None:
    broker, clock = FakeBroker(), StepClock(START)
    desk = make_desk(store, broker, clock)
    buy(desk, START)
    broker.locked, broker.free = broker.free, Decimal(0)  # the user's limit sell locks every coin
    for _ in range(3):
        desk.reconcile(VERSIONS)
    position = desk.position()
    assert position is not None
    assert position.volume == Decimal("0.001")
    assert [audit.cause for audit in store.trade_audits()] == ["strategy"]


def test_wallet_short_of_bot_volume_twice_shrinks_position_audited_manual(store: Store) -> None:
    broker, clock = FakeBroker(), StepClock(START)
    desk = make_desk(store, broker, clock)
    buy(desk, START)
    broker.free = Decimal("0.0004")  # the user sold 0.0006 of the bot's coins
    assert desk.reconcile(VERSIONS) is None  # one read may lag a fill: not yet
    note = desk.reconcile(VERSIONS)
    assert note is not None
    position = desk.position()
    assert position is not None
    assert (position.volume, position.entry_price) == (Decimal("0.0004"), Decimal(100_000_000))
    manual = store.trade_audits()[-1]
    assert (manual.cause, manual.side, manual.volume, manual.realised_profit) == (
        "manual", "ask", Decimal("0.0006"), None,
    )  # fmt: skip


def test_sell_asks_for_bot_volume_capped_at_free_coin(store: Store) -> None:
    broker, clock = FakeBroker(), StepClock(START)
    desk = make_desk(store, broker, clock)
    buy(desk, START)
    broker.free += Decimal("0.5")  # the user's coins: never sold
    outcome = desk.place(
        intent("ask", START + timedelta(minutes=1), "stop_loss"), Decimal("0.001"), Decimal(99_000_000),
        lambda transaction: None,
    )  # fmt: skip
    assert outcome is not None
    assert outcome.fill is not None
    assert outcome.fill.volume == Decimal("0.001")
    assert broker.free == Decimal("0.5")
    assert desk.position() is None


def test_lost_sell_recovered_keeps_rule_and_profit_without_manual_row(store: Store) -> None:
    broker, clock = FakeBroker(), StepClock(START)
    desk = make_desk(store, broker, clock)
    buy(desk, START)
    sell_candle = START + timedelta(minutes=3)
    identifier = desk.identifier("ask", sell_candle)
    assert identifier is not None
    broker.answers[identifier] = OrderOutcome(identifier, OrderStatus.UNKNOWN, message="answer lost")
    desk.place(intent("ask", sell_candle, "stop_loss"), Decimal("0.001"), Decimal(99_000_000), lambda _: None)
    assert desk.unresolved()
    del broker.answers[identifier]
    restarted = make_desk(store, broker, clock)  # a restart: a new desk over the same database
    assert restarted.resume_unfinished(VERSIONS)
    assert restarted.reconcile(VERSIONS) is None
    audits = store.trade_audits()
    assert [(audit.cause, audit.side, audit.rule) for audit in audits] == [
        ("strategy", "bid", "golden_cross"), ("strategy", "ask", "stop_loss"),
    ]  # fmt: skip
    assert audits[-1].realised_profit is not None
    assert audits[-1].realised_profit < 0
    assert "finished after a restart" in (audits[-1].note or "")
    assert restarted.position() is None


def test_order_not_shown_is_looked_up_past_old_grace_and_blocks_new_orders(store: Store) -> None:
    broker, clock = FakeBroker(), StepClock(START)
    desk = make_desk(store, broker, clock)
    identifier = desk.identifier("bid", START)
    assert identifier is not None
    broker.answers[identifier] = OrderOutcome(identifier, OrderStatus.UNKNOWN, message="timeout")
    buy(desk, START)
    del broker.answers[identifier]
    lost_fill = broker.filled.pop(identifier)  # Upbit does not show it yet
    clock.sleep(90)
    assert not desk.resume_unfinished(VERSIONS)
    clock.sleep(40)  # past the old 2-minute grace
    assert not desk.resume_unfinished(VERSIONS)
    assert desk.waiting is not None
    assert "not shown by Upbit" in desk.waiting
    assert buy(desk, START + timedelta(minutes=2)) is None  # no second position meanwhile
    broker.answers[identifier] = lost_fill  # it shows up late
    assert desk.resume_unfinished(VERSIONS)
    order = store.order(identifier)
    assert order is not None
    assert order.state == "done"
    assert broker.sent == [identifier]


def test_order_absent_everywhere_long_enough_is_declared_rejected(store: Store) -> None:
    broker, clock = FakeBroker(), StepClock(START)
    desk = make_desk(store, broker, clock)
    identifier = "tb.alice.live.KRW-BTC.0.bid.1"
    request = PendingOrder(
        identifier=identifier, mode="LIVE", market=MARKET, side="bid", ord_type="price",
        price=Decimal(10_000), volume=None, candle_start=START, requested_at=START,
    )  # fmt: skip
    with store.transaction() as transaction:
        transaction.insert_order(request)
    assert not desk.resume_unfinished(VERSIONS)
    broker.answers[identifier] = OrderOutcome(identifier, OrderStatus.UNKNOWN, message="lookup failed")
    clock.sleep((NOT_FOUND_GRACE + ABSENT_CONFIRMATION).total_seconds())
    assert not desk.resume_unfinished(VERSIONS)  # a failed lookup is never taken for absence
    del broker.answers[identifier]
    assert desk.resume_unfinished(VERSIONS)
    order = store.order(identifier)
    assert order is not None
    assert (order.state, order.error_name) == ("rejected", NOT_FOUND)


def test_order_absent_with_the_desk_rebuilt_every_lookup_is_still_declared_rejected(store: Store) -> None:
    broker, clock = FakeBroker(), StepClock(START)
    identifier = "tb.alice.live.KRW-BTC.0.bid.1"
    request = PendingOrder(
        identifier=identifier, mode="LIVE", market=MARKET, side="bid", ord_type="price",
        price=Decimal(10_000), volume=None, candle_start=START, requested_at=START,
    )  # fmt: skip
    with store.transaction() as transaction:
        transaction.insert_order(request)
    for _ in range(int((NOT_FOUND_GRACE + ABSENT_CONFIRMATION).total_seconds()) // 30):
        assert not make_desk(store, broker, clock).resume_unfinished(VERSIONS)  # a new desk each time
        clock.sleep(30)
    assert make_desk(store, broker, clock).resume_unfinished(VERSIONS)
    order = store.order(identifier)
    assert order is not None
    assert (order.state, order.error_name) == ("rejected", NOT_FOUND)


def test_refused_order_gets_one_attempt_per_candle_and_side(store: Store) -> None:
    broker, clock = FakeBroker(), StepClock(START)
    desk = make_desk(store, broker, clock)
    first = desk.identifier("bid", START)
    assert first is not None
    broker.answers[first] = OrderOutcome(first, OrderStatus.REFUSED, error_name="insufficient_funds_bid")
    buy(desk, START)
    assert buy(desk, START) is None
    assert desk.identifier("bid", START) is None
    assert desk.identifier("bid", START + timedelta(minutes=1)) is not None
    assert broker.sent == [first]


def test_unfinished_order_of_another_market_neither_followed_nor_blocking(store: Store) -> None:
    broker, clock = FakeBroker(), StepClock(START)
    other = PendingOrder(
        identifier="tb.alice.live.KRW-ETH.0.ask.1", mode="LIVE", market="KRW-ETH", side="ask",
        ord_type="market", price=None, volume=Decimal(1), candle_start=START, requested_at=START,
    )  # fmt: skip
    with store.transaction() as transaction:
        transaction.insert_order(other)
    desk = make_desk(store, broker, clock)
    assert not desk.unresolved()
    assert desk.resume_unfinished(VERSIONS)
    assert [order.identifier for order in store.unfinished_orders("LIVE")] == [other.identifier]
    assert store.unfinished_orders("LIVE", MARKET) == []
    assert buy(desk, START) is not None


def test_adopted_position_neither_counted_nor_sold_and_blocks_entries(store: Store) -> None:
    broker, clock = FakeBroker(), StepClock(START)
    broker.free = Decimal("0.05")
    adopted = Position(
        mode="LIVE", market=MARKET, volume=Decimal("0.05"), entry_price=None, peak_price=None,
        entry_candle_start=None, bars_held=0, updated_at=START, origin="adopted",
    )  # fmt: skip
    with store.transaction() as transaction:
        transaction.set_position(adopted)
    desk = make_desk(store, broker, clock)
    assert desk.position() is None
    assert desk.adopted() == adopted
    assert buy(desk, START) is None
    assert broker.sent == []


def _fields(position: Position) -> dict[str, object]:
    return {name: getattr(position, name) for name in Position.__dataclass_fields__}


def test_sell_with_some_of_the_bots_coins_locked_asks_only_for_the_free_coin(store: Store) -> None:
    broker, clock = FakeBroker(), StepClock(START)
    desk = make_desk(store, broker, clock)
    buy(desk, START)
    position = desk.position()
    assert position is not None
    broker.free, broker.locked = position.volume / 2, position.volume - position.volume / 2  # an open order
    sold = desk.place(
        intent("ask", START + timedelta(minutes=1), "stop_loss"), position.volume, Decimal(100_000_000),
        lambda transaction: None,
    )  # fmt: skip
    assert sold is not None
    assert sold.fill is not None
    assert sold.fill.volume == position.volume / 2  # never more than the wallet can sell now
    remaining = desk.position()
    assert remaining is not None
    assert remaining.volume == position.volume - position.volume / 2
