"""TEST positions in two markets spend and earn one recorded KRW balance (engine/paper_ledger.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from tradebot.core.broker import OrderStatus
from tradebot.core.models import Interval
from tradebot.core.params import Conditions, StrategyParams
from tradebot.engine.order_desk import OrderDesk
from tradebot.engine.order_intent import OrderIntent
from tradebot.engine.paper_ledger import RecordedPaperBroker
from tradebot.services.storage import Store, open_user_store
from tradebot.services.user_admin import create_user

START = datetime(2026, 3, 1, tzinfo=UTC)


class StillClock:
    def now(self) -> datetime:
        return START + timedelta(minutes=5)

    def monotonic(self) -> float:
        return 0.0

    def sleep(self, seconds: float) -> None:
        return None


def desk(store: Store, market: str) -> OrderDesk:
    broker = RecordedPaperBroker(store, market)
    return OrderDesk(store, broker, StillClock(), "alice", "TEST", market, Interval("minute1"))


def versions(store: Store) -> tuple[int, int]:
    with store.transaction() as transaction:
        params = transaction.record_settings(StrategyParams(), saved_at=START, saved_by="test")
        conditions = transaction.record_settings(Conditions(), saved_at=START, saved_by="test")
    return params, conditions


def buy(order_desk: OrderDesk, krw: int, price: int, recorded: tuple[int, int]) -> None:
    intent = OrderIntent("bid", START, "strategy", *recorded, rule="entry")
    outcome = order_desk.place(intent, Decimal(krw), Decimal(price), lambda transaction: None)
    assert outcome is not None
    assert outcome.status is OrderStatus.FILLED


def test_recorded_paper_broker_two_markets_never_overwrite_each_others_krw(tmp_path: Path) -> None:
    create_user(tmp_path, "alice", None, START)
    with open_user_store(tmp_path, "alice") as store:
        bitcoin, ether = desk(store, "KRW-BTC"), desk(store, "KRW-ETH")  # both built before any fill
        starting = store.account("TEST")
        assert starting is not None

        recorded = versions(store)

        buy(bitcoin, 100_000, 90_000_000, recorded)
        buy(ether, 200_000, 4_000_000, recorded)
        assert ether.reconcile(recorded) is None  # nothing changed outside the bot
        assert bitcoin.reconcile(recorded) is None

        fills = [audit.fill_price * audit.volume + audit.fee for audit in store.trade_audits()]
        spent = sum(fills, Decimal(0))
        account = store.account("TEST")
        assert account is not None
        assert account.krw_balance == starting.krw_balance - spent
        assert {item.market for item in store.positions("TEST")} == {"KRW-BTC", "KRW-ETH"}
