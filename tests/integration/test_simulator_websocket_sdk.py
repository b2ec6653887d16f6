"""The official `upbit-sdk` WebSocket clients, unchanged, against the simulator's streams.

The SDK derives its WebSocket address from the REST base URL (`http://127.0.0.1:PORT` ->
`ws://127.0.0.1:PORT/websocket/v1`), so pointing it at the simulator is all it takes.
Every wait is bounded by the SDK's own receive timeout.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from upbit import Upbit

from tradebot.exchange.upbit import OrderRequest, OrderSide

from .conftest import ACCESS_KEY, OTHER_ACCESS_KEY, OTHER_SECRET_KEY, SECRET_KEY, Simulator

WAIT_SECONDS = 5.0


def _receive_until(connection: Any, wanted: Callable[[Any], bool]) -> Any:
    deadline = time.monotonic() + WAIT_SECONDS
    while (left := deadline - time.monotonic()) > 0:
        event = connection.parse_event(connection.recv_bytes(timeout=left))
        if wanted(event):
            return event
    raise AssertionError("the awaited message did not arrive")


def _subscribe(connection: Any, request: list[dict[str, object]]) -> None:
    """Send `request`, then wait for the answer to a later `LIST_SUBSCRIPTIONS`: it is in effect."""
    connection.send_raw(json.dumps(request))
    connection.send_raw('[{"ticket":"barrier"},{"method":"LIST_SUBSCRIPTIONS"}]')
    listing = _receive_until(connection, lambda event: getattr(event, "method", None) == "LIST_SUBSCRIPTIONS")
    assert [item.type for item in listing.result] == [item["type"] for item in request if "type" in item]


def test_sdk_public_stream_admin_price_arrives_as_trade_ticker_and_candle(simulator: Simulator) -> None:
    client = Upbit(base_url=simulator.base_url, max_retries=0)
    with client.ws_public.connect_public() as connection:
        _subscribe(
            connection,
            [
                {"ticket": "sdk-public"},
                {"type": "ticker", "codes": ["KRW-BTC"], "is_only_realtime": True},
                {"type": "trade", "codes": ["KRW-BTC"], "is_only_realtime": True},
                {"type": "candle.1m", "codes": ["KRW-BTC"], "is_only_realtime": True},
            ],
        )
        simulator.set_price("KRW-BTC", "91234000")

        trade = _receive_until(connection, lambda event: event.type == "trade")
        ticker = _receive_until(connection, lambda event: event.type == "ticker")
        candle = _receive_until(connection, lambda event: event.type == "candle.1m")

    assert (trade.code, Decimal(trade.trade_price), trade.stream_type) == (
        "KRW-BTC",
        Decimal(91234000),
        "REALTIME",
    )
    assert Decimal(ticker.trade_price) == Decimal(91234000)
    assert Decimal(candle.trade_price) == Decimal(91234000)


def test_sdk_private_stream_rest_order_arrives_as_my_order_events(simulator: Simulator) -> None:
    client = Upbit(access_key=ACCESS_KEY, secret_key=SECRET_KEY, base_url=simulator.base_url, max_retries=0)
    with client.ws_private.connect_private() as connection:
        _subscribe(connection, [{"ticket": "sdk-private"}, {"type": "myOrder"}])
        with simulator.exchange_client() as rest:
            created = rest.create_order(OrderRequest.market_buy("KRW-BTC", Decimal(10_000), "sdk-stream-buy"))

        fill = _receive_until(connection, lambda event: event.type == "myOrder" and event.state == "trade")
        # A market buy ends `cancel` when the last few won cannot buy a whole volume unit (Upbit's way).
        ended = _receive_until(connection, lambda event: event.type == "myOrder" and event.state == "cancel")

    assert fill.uuid == ended.uuid == created.uuid
    assert (fill.identifier, fill.ask_bid, fill.order_type) == ("sdk-stream-buy", "BID", "price")
    assert (
        Decimal(fill.executed_funds)
        == Decimal(ended.executed_funds)
        == created_funds(simulator, created.uuid)
    )


def created_funds(simulator: Simulator, uuid: str) -> Decimal:
    """What REST says the order spent: the stream must say the same."""
    (order,) = [order for order in simulator.orders() if order["uuid"] == uuid]
    return sum((Decimal(trade["funds"]) for trade in order["trades"]), Decimal(0))


def test_sdk_private_stream_sees_only_its_own_account(simulator: Simulator) -> None:
    client = Upbit(access_key=ACCESS_KEY, secret_key=SECRET_KEY, base_url=simulator.base_url, max_retries=0)
    with client.ws_private.connect_private() as connection:
        _subscribe(connection, [{"ticket": "sdk-own"}, {"type": "myOrder"}])
        with simulator.exchange_client(access_key=OTHER_ACCESS_KEY, secret_key=OTHER_SECRET_KEY) as other:
            other.create_order(OrderRequest.market_buy("KRW-BTC", Decimal(10_000), "someone-else"))
        with simulator.exchange_client() as rest:
            rest.create_order(
                OrderRequest.limit("KRW-BTC", OrderSide.BID, Decimal(10_000_000), Decimal("0.001"), "mine")
            )

        first = _receive_until(connection, lambda event: event.type == "myOrder")

    assert (first.identifier, first.state) == ("mine", "wait")
