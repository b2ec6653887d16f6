"""Issue 12, findings 1, 2, 6, 7 and 8 against the simulator: the bot trades only its own coins.

The account starts with BTC the user owned before the bot (deposited: Upbit's average buy price is
0). The loop runs in this process on the simulator's stopped clock, as in test_live_loop.py.
"""

from __future__ import annotations

from contextlib import ExitStack
from decimal import Decimal
from pathlib import Path

import pytest

from tradebot.core.broker import NOT_FOUND, OrderStatus
from tradebot.core.clock import SystemClock
from tradebot.core.krw_rules import round_to_tick
from tradebot.engine.live_loop import LiveLoop
from tradebot.exchange.live_broker import LiveBroker
from tradebot.exchange.upbit import OrderRequest, OrderSide
from tradebot.services.records import Position
from tradebot.services.storage import Store, open_user_store

from .conftest import Simulator, SimulatorFactory
from .test_live_loop import LIVE_ACCESS, LIVE_SECRET, USER, prepare_user, start_loop

USERS_BTC = Decimal("0.05")  # 5,000,000 KRW at the simulator's 100,000,000 KRW per BTC


@pytest.fixture
def exchange(simulator_factory: SimulatorFactory) -> Simulator:
    balances = {"KRW": "1000000", "BTC": str(USERS_BTC)}
    accounts = [{"access_key": LIVE_ACCESS, "secret_key": LIVE_SECRET, "balances": balances}]
    return simulator_factory(markets=["KRW-BTC"], accounts=accounts, seed=11, rate_limits={"enforce": False})


def wallet_btc(exchange: Simulator) -> Decimal:
    held = exchange.balances(LIVE_ACCESS).get("BTC", {"balance": Decimal(0), "locked": Decimal(0)})
    return held["balance"] + held["locked"]


def bot_volume(store: Store) -> Decimal:
    return sum((item.volume for item in store.positions("LIVE")), Decimal(0))


def until_in_position(exchange: Simulator, loop: LiveLoop, store: Store) -> Position:
    for _ in range(300):
        exchange.step(60)
        loop.cycle()
        if store.positions("LIVE"):
            [position] = store.positions("LIVE")
            return position
    raise AssertionError("the loop never entered a position")


def test_users_own_btc_never_adopted_or_sold_over_round_trips(
    exchange: Simulator, tmp_path: Path, resources: ExitStack
) -> None:
    prepare_user(tmp_path, "LIVE")
    client = exchange.exchange_client(access_key=LIVE_ACCESS, secret_key=LIVE_SECRET)
    [btc] = [item for item in client.get_accounts() if item.currency == "BTC"]
    assert btc.avg_buy_price == 0  # deposited coins: today's "no valid entry price (nan)"
    loop = start_loop(exchange, tmp_path, "LIVE", resources)  # finding 2: starts
    with open_user_store(tmp_path, USER) as store:
        assert store.positions("LIVE") == []  # finding 1: not adopted
        for _ in range(200):
            exchange.step(60)
            loop.cycle()
            sides = [audit.side for audit in store.trade_audits()]
            if sides.count("ask") >= 2 and not store.positions("LIVE"):
                break
        audits = store.trade_audits()
        assert [audit.side for audit in audits].count("ask") >= 2
        assert "manual" not in {audit.cause for audit in audits}
        assert wallet_btc(exchange) == USERS_BTC + bot_volume(store)
        bought = sum((audit.volume for audit in audits if audit.side == "bid"), Decimal(0))
        sold = sum((audit.volume for audit in audits if audit.side == "ask"), Decimal(0))
        assert sold <= bought


def test_restart_with_unsettled_stop_loss_sell_books_one_fill_with_rule_and_profit(
    exchange: Simulator, tmp_path: Path, resources: ExitStack
) -> None:
    prepare_user(tmp_path, "LIVE")
    loop = start_loop(exchange, tmp_path, "LIVE", resources)
    with open_user_store(tmp_path, USER) as store:
        position = until_in_position(exchange, loop, store)
        assert position.entry_price is not None
        crash = round_to_tick(position.entry_price * Decimal("0.97"), up=False)
        exchange.set_price("KRW-BTC", str(crash))
        exchange.step(5)
        # The sell lands on the exchange, its answer is lost and every lookup fails: unsettled.
        exchange.schedule_fault("drop", "POST", "/v1/orders")
        exchange.schedule_fault("error", "GET", "/v1/order", count=1000)
        loop.cycle()
        [unsettled] = store.unfinished_orders("LIVE")
        assert unsettled.side == "ask"
        assert [order["state"] for order in exchange.orders(LIVE_ACCESS)][-1] == "done"
        resources.close()  # the process dies
        exchange._admin("DELETE", "/_admin/faults")
        with ExitStack() as again:
            start_loop(exchange, tmp_path, "LIVE", again)  # start() finishes the order first
            audits = store.trade_audits()
        asks = [audit for audit in audits if audit.side == "ask"]
        assert [(audit.cause, audit.rule, audit.order_identifier) for audit in asks] == [
            ("strategy", "stop_loss", unsettled.identifier)
        ]
        assert asks[0].realised_profit is not None
        assert asks[0].realised_profit < 0
        assert "manual" not in {audit.cause for audit in audits}
        assert store.positions("LIVE") == []
        assert wallet_btc(exchange) == USERS_BTC


def test_manual_buy_and_locking_order_keep_position_then_users_sale_shrinks_it(
    exchange: Simulator, tmp_path: Path, resources: ExitStack
) -> None:
    prepare_user(tmp_path, "LIVE")
    loop = start_loop(exchange, tmp_path, "LIVE", resources)
    client = exchange.exchange_client(access_key=LIVE_ACCESS, secret_key=LIVE_SECRET)
    with open_user_store(tmp_path, USER) as store:
        before = until_in_position(exchange, loop, store)
        client.create_order(OrderRequest.market_buy("KRW-BTC", Decimal(20_000), "app-buy-1"))
        exchange.step(5)  # inside the forming candle: no candle closes
        loop.cycle()
        [after] = store.positions("LIVE")
        assert (after.volume, after.entry_price, after.entry_candle_start, after.bars_held) == (
            before.volume, before.entry_price, before.entry_candle_start, before.bars_held,
        )  # fmt: skip
        assert after.peak_price is not None
        assert before.peak_price is not None
        assert after.peak_price >= before.peak_price
        # The user's limit sell of everything far above the market locks every coin: not a sale.
        everything = wallet_btc(exchange)
        high = round_to_tick(Decimal(200_000_000), up=True)
        limit = client.create_order(
            OrderRequest.limit("KRW-BTC", OrderSide.ASK, high, everything, "app-limit-1")
        )
        for _ in range(3):
            exchange.step(5)
            loop.cycle()
        [locked] = store.positions("LIVE")
        assert locked.volume == before.volume
        assert "manual" not in {audit.cause for audit in store.trade_audits()}
        client.cancel_order(uuid=limit.uuid)
        # The user sells all their own coins and half of the bot's: the position shrinks to what is left.
        half = (before.volume / 2).quantize(Decimal("0.00000001"))
        users = wallet_btc(exchange) - before.volume
        client.create_order(OrderRequest.market_sell("KRW-BTC", users + half, "app-sell-1"))
        for _ in range(2):
            exchange.step(5)
            loop.cycle()
        [shrunk] = store.positions("LIVE")
        assert shrunk.volume == before.volume - half == wallet_btc(exchange)
        manual = store.trade_audits()[-1]
        assert (manual.cause, manual.side, manual.volume) == ("manual", "ask", half)


def test_create_refused_by_auth_is_looked_up_and_never_declared_refused_while_unknown(
    exchange: Simulator,
) -> None:
    wrong = exchange.exchange_client(access_key=LIVE_ACCESS, secret_key="x" * 40)
    broker = LiveBroker(wrong, "KRW-BTC", SystemClock(), Decimal("0.0005"))
    outcome = broker.buy(Decimal(10_000), "tb.alice.live.KRW-BTC.0.bid.1", Decimal(100_000_000))
    assert outcome.status is OrderStatus.UNKNOWN  # was REFUSED without a lookup
    assert broker.follow_up(outcome.identifier).status is OrderStatus.UNKNOWN  # lookups fail too
    right = exchange.exchange_client(access_key=LIVE_ACCESS, secret_key=LIVE_SECRET)
    fixed = LiveBroker(right, "KRW-BTC", SystemClock(), Decimal("0.0005"))
    absent = fixed.follow_up(outcome.identifier)
    assert (absent.status, absent.error_name) == (OrderStatus.REFUSED, NOT_FOUND)
