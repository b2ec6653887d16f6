"""Order lifecycle and fill arithmetic of the simulator, against the paper ledger's numbers."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from tradebot.core.ledger import PaperAccount
from tradebot.exchange.simulator.accounts import SimAccount
from tradebot.exchange.simulator.errors import ApiError
from tradebot.exchange.simulator.formatting import utc_to_nanos
from tradebot.exchange.simulator.market import MarketData
from tradebot.exchange.simulator.matching import MatchingEngine
from tradebot.exchange.simulator.pricepath import MINUTE_NS, generated_path
from tradebot.exchange.simulator.records import order_document
from tradebot.exchange.simulator.validation import OrderSpec

NOW_NS = utc_to_nanos(datetime(2026, 3, 22, 12, 47, 8, tzinfo=UTC))


def make_market() -> MarketData:
    first = (NOW_NS // MINUTE_NS - 600) * MINUTE_NS
    path = generated_path("KRW-BTC", seed=7, first_start_ns=first, count=2000, start_price=100_000_000.0)
    market = MarketData("KRW-BTC", path, seed=7)
    market.set_price(NOW_NS, Decimal(102_902_000), Decimal(102_902_000), Decimal(102_945_000))
    return market


def spec(
    side: str, ord_type: str, price: str | None = None, volume: str | None = None, **extra: str
) -> OrderSpec:
    return OrderSpec(
        "KRW-BTC",
        side,
        ord_type,
        None if price is None else Decimal(price),
        None if volume is None else Decimal(volume),
        extra.get("identifier"),
        extra.get("time_in_force"),
        None,
    )


def place(
    engine: MatchingEngine, account: SimAccount, market: MarketData, order: OrderSpec
) -> dict[str, object]:
    created = engine.open_order(account, order, market, NOW_NS)
    snapshot = order_document(created)
    engine.execute(account, created, market, NOW_NS)
    return snapshot


def test_market_buy_and_sell_book_exactly_what_the_paper_ledger_books() -> None:
    market, engine = make_market(), MatchingEngine()
    account = SimAccount.funded("key", "secret", {"KRW": Decimal(1_000_000)})
    paper = PaperAccount(Decimal(1_000_000))
    snapshot = place(engine, account, market, spec("bid", "price", price="10000"))
    assert (snapshot["state"], snapshot["locked"], snapshot["reserved_fee"]) == ("wait", "10005", "5")
    buy = next(iter(account.orders.values()))
    paper_buy = paper.market_buy(Decimal(10_000), Decimal(102_945_000))
    assert (buy.state, buy.executed_volume, buy.paid_fee) == ("cancel", paper_buy.volume, paper_buy.fee)
    assert buy.locked == Decimal("0.952626075")
    assert buy.remaining_fee == Decimal("0.000476075")
    place(engine, account, market, spec("ask", "market", volume="0.00009713"))
    paper.market_sell(Decimal("0.00009713"), Decimal(102_902_000))
    sell = list(account.orders.values())[1]
    assert sell.state == "done"
    assert sell.paid_fee == Decimal("4.99743563")
    assert account.wallet.holding("KRW").balance == paper.krw == Decimal("999985.826450445")
    assert account.wallet.holding("KRW").locked == 0


def test_limit_orders_rest_then_fill_at_their_price_when_the_path_reaches_them() -> None:
    market, engine = make_market(), MatchingEngine()
    account = SimAccount.funded("key", "secret", {"KRW": Decimal(1_000_000), "BTC": Decimal(1)})
    place(engine, account, market, spec("bid", "limit", price="102000000", volume="0.001"))
    bid = next(iter(account.orders.values()))
    assert bid.state == "wait"
    assert account.wallet.holding("KRW").locked == Decimal("102051")
    path = market.path
    index = market.index(NOW_NS)
    reached = next(i for i in range(index + 1, len(path)) if path.low[i] <= 102_000_000)
    engine.follow_path(account, bid, market, int(path.start_ns[reached]) - 1)
    assert bid.state == "wait"  # one nanosecond before that candle: not yet
    engine.follow_path(account, bid, market, int(path.start_ns[reached]))
    assert bid.state == "done"
    assert bid.trades[0].price == Decimal(102_000_000)
    assert account.wallet.holding("KRW").balance == Decimal(1_000_000) - Decimal("102051")
    assert account.wallet.holding("BTC").balance == Decimal("1.001")


def test_cancel_returns_the_lock_and_partial_fills_keep_their_trades() -> None:
    market, engine = make_market(), MatchingEngine()
    account = SimAccount.funded("key", "secret", {"BTC": Decimal(1)})
    place(engine, account, market, spec("ask", "limit", price="200000000", volume="0.5"))
    ask = next(iter(account.orders.values()))
    assert account.wallet.holding("BTC").locked == Decimal("0.5")
    engine.cancel(account, ask)
    assert ask.state == "cancel"
    assert account.wallet.holding("BTC").balance == Decimal(1)


@pytest.mark.parametrize(
    ("order", "name"),
    [
        (spec("bid", "price", price="4999"), "under_min_total_bid"),
        (spec("bid", "price", price="2000000"), "insufficient_funds_bid"),
        (spec("bid", "price", price="2000000000"), "invalid_funds_bid"),
        (spec("ask", "market", volume="2"), "insufficient_funds_ask"),
    ],
)
def test_refusals_name_the_upbit_error(order: OrderSpec, name: str) -> None:
    market, engine = make_market(), MatchingEngine()
    account = SimAccount.funded("key", "secret", {"KRW": Decimal(1_000_000), "BTC": Decimal(1)})
    with pytest.raises(ApiError) as refused:
        engine.open_order(account, order, market, NOW_NS)
    assert refused.value.name == name
    assert account.orders == {}
    assert account.wallet.holding("KRW").locked == 0


def test_fill_or_kill_and_post_only_end_without_trades_when_they_cannot_be_honoured() -> None:
    market, engine = make_market(), MatchingEngine()
    account = SimAccount.funded("key", "secret", {"KRW": Decimal(1_000_000)})
    place(
        engine,
        account,
        market,
        spec("bid", "limit", price="102945000", volume="0.001", time_in_force="post_only"),
    )
    place(
        engine, account, market, spec("bid", "limit", price="90000000", volume="0.001", time_in_force="fok")
    )
    assert [(order.state, len(order.trades)) for order in account.orders.values()] == [
        ("cancel", 0),
        ("cancel", 0),
    ]
    assert account.wallet.holding("KRW").balance == Decimal(1_000_000)
