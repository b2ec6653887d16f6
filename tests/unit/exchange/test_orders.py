"""Order parsing with Decimal amounts (§3.4-§3.5 bodies) and order-request rules (§3.6)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from tradebot.exchange.upbit import (
    OrderRequest,
    OrderSide,
    OrderState,
    OrderType,
    TimeInForce,
    UpbitResponseError,
)
from tradebot.exchange.upbit.orders import parse_order
from tradebot.exchange.upbit.parsing import Fields, decode_json

from . import LIMIT_BID_CREATED, MARKET_BUY_CREATED, MARKET_BUY_FINAL, MARKET_SELL_FINAL

KST = timezone(timedelta(hours=9))


def parse(body: str) -> object:
    return parse_order(Fields(decode_json(body, "test"), "test"))


def test_parse_order_limit_bid_created_keeps_decimal_amounts() -> None:
    order = parse_order(Fields(decode_json(LIMIT_BID_CREATED, "test"), "test"))

    assert order.state is OrderState.WAIT
    assert order.side is OrderSide.BID
    assert order.ord_type is OrderType.LIMIT
    assert order.price == Decimal("10000000")
    assert order.volume == Decimal("0.0005")
    assert order.reserved_fee == Decimal("2.5")
    assert order.locked == Decimal("5002.5")
    assert order.created_at == datetime(2026, 3, 22, 12, 42, 22, tzinfo=UTC)
    assert order.created_at.utcoffset() == timedelta(hours=9)
    assert order.trades is None
    assert not order.is_final
    assert not order.is_filled


def test_parse_order_market_buy_created_has_no_volume() -> None:
    order = parse_order(Fields(decode_json(MARKET_BUY_CREATED, "test"), "test"))

    assert order.volume is None
    assert order.remaining_volume is None
    assert order.price == Decimal(10000)
    assert order.filled_funds == Decimal(0)
    assert order.average_fill_price is None


def test_parse_order_market_buy_ending_cancel_with_volume_is_filled() -> None:
    order = parse_order(Fields(decode_json(MARKET_BUY_FINAL, "test"), "test"))

    assert order.state is OrderState.CANCEL
    assert order.is_final
    assert order.is_filled
    assert order.executed_volume == Decimal("0.00009713")
    assert order.paid_fee == Decimal("4.999523925")
    assert order.remaining_fee == Decimal("0.000476075")
    assert order.locked == Decimal("0.952626075")
    assert order.filled_funds == Decimal("9999.04785")
    assert order.average_fill_price == Decimal(102945000)
    assert order.trades is not None
    assert order.trades[0].created_at == datetime(2026, 3, 22, 21, 47, 8, tzinfo=KST)


def test_parse_order_market_sell_done_has_no_price() -> None:
    order = parse_order(Fields(decode_json(MARKET_SELL_FINAL, "test"), "test"))

    assert order.price is None
    assert order.state is OrderState.DONE
    assert order.is_filled
    assert order.paid_fee == Decimal("4.99743563")
    assert order.average_fill_price == Decimal(102902000)


def test_parse_order_cancelled_without_execution_is_final_but_not_filled() -> None:
    document = json.loads(LIMIT_BID_CREATED) | {"state": "cancel"}

    order = parse_order(Fields(document, "test"))

    assert order.is_final
    assert not order.is_filled


def test_parse_order_list_entry_uses_executed_funds_for_average_price() -> None:
    document = json.loads(MARKET_SELL_FINAL)
    del document["trades"]
    document["executed_funds"] = "9994.87126"

    order = parse_order(Fields(document, "test"))

    assert order.filled_funds == Decimal("9994.87126")
    assert order.average_fill_price == Decimal(102902000)


@pytest.mark.parametrize(
    "body",
    [
        LIMIT_BID_CREATED[:80],
        "",
        "<html>maintenance</html>",
        "[]",
        LIMIT_BID_CREATED.replace('"paid_fee":"0",', ""),
        LIMIT_BID_CREATED.replace('"locked":"5002.5"', '"locked":"a lot"'),
        LIMIT_BID_CREATED.replace('"locked":"5002.5"', '"locked":"NaN"'),
        LIMIT_BID_CREATED.replace('"locked":"5002.5"', '"locked":true'),
        LIMIT_BID_CREATED.replace('"state":"wait"', '"state":"pending"'),
        LIMIT_BID_CREATED.replace("+09:00", ""),
        LIMIT_BID_CREATED.replace('"trades_count":0', '"trades_count":"0"'),
        MARKET_BUY_FINAL.replace('"funds":"9999.04785",', ""),
    ],
)
def test_parse_order_malformed_body_raises_response_error(body: str) -> None:
    with pytest.raises(UpbitResponseError):
        parse(body)


def test_order_request_limit_body_fields_in_sending_order() -> None:
    request = OrderRequest.limit("KRW-BTC", OrderSide.BID, Decimal("1E+7"), Decimal("0.00050000"), "id-1")

    assert request.body_pairs() == [
        ("market", "KRW-BTC"),
        ("side", "bid"),
        ("volume", "0.0005"),
        ("price", "10000000"),
        ("ord_type", "limit"),
        ("identifier", "id-1"),
    ]


def test_order_request_market_buy_sends_price_total_without_volume() -> None:
    pairs = dict(OrderRequest.market_buy("KRW-BTC", Decimal(10000), "id-2").body_pairs())

    assert pairs == {
        "market": "KRW-BTC",
        "side": "bid",
        "price": "10000",
        "ord_type": "price",
        "identifier": "id-2",
    }


def test_order_request_market_sell_sends_volume_without_price() -> None:
    pairs = dict(OrderRequest.market_sell("KRW-BTC", Decimal("0.00009713"), "id-3").body_pairs())

    assert pairs == {
        "market": "KRW-BTC",
        "side": "ask",
        "volume": "0.00009713",
        "ord_type": "market",
        "identifier": "id-3",
    }


@pytest.mark.parametrize(
    ("side", "ord_type", "price", "volume", "time_in_force"),
    [
        (OrderSide.BID, OrderType.LIMIT, Decimal(100), None, None),
        (OrderSide.BID, OrderType.PRICE, Decimal(10000), Decimal(1), None),
        (OrderSide.ASK, OrderType.PRICE, Decimal(10000), None, None),
        (OrderSide.ASK, OrderType.MARKET, Decimal(100), Decimal(1), None),
        (OrderSide.ASK, OrderType.MARKET, None, Decimal(1), TimeInForce.IOC),
        (OrderSide.BID, OrderType.BEST, Decimal(10000), None, None),
        (OrderSide.BID, OrderType.LIMIT, Decimal(-1), Decimal(1), None),
    ],
)
def test_order_request_invalid_field_combination_raises_value_error(
    side: OrderSide,
    ord_type: OrderType,
    price: Decimal | None,
    volume: Decimal | None,
    time_in_force: TimeInForce | None,
) -> None:
    with pytest.raises(ValueError, match="order"):
        OrderRequest("KRW-BTC", side, ord_type, "id-4", price, volume, time_in_force)


@pytest.mark.parametrize("identifier", ["", "has space", "a&b=c", "x" * 101])
def test_order_request_unsafe_identifier_raises_value_error(identifier: str) -> None:
    with pytest.raises(ValueError, match="identifier"):
        OrderRequest.market_buy("KRW-BTC", Decimal(10000), identifier)


def test_order_request_best_bid_with_ioc_is_accepted() -> None:
    request = OrderRequest(
        "KRW-BTC", OrderSide.BID, OrderType.BEST, "id-5", Decimal(10000), None, TimeInForce.IOC
    )

    assert ("time_in_force", "ioc") in request.body_pairs()
