"""Private endpoints against a fake Upbit: JWT per request, orders, and order-creation recovery."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest

from tradebot.core.errors import OrderRejected
from tradebot.exchange.upbit import (
    OrderRequest,
    OrderSide,
    OrderState,
    OrderStateUnknownError,
    UpbitExchangeClient,
    UpbitNotFoundError,
    UpbitOrderRejectedError,
)

from . import (
    CREDENTIALS,
    LIMIT_BID_CREATED,
    MARKET_BUY_CREATED,
    MARKET_BUY_FINAL,
    FakeClock,
    make_session,
    upbit_response,
    verify_jwt,
)

ACCOUNTS = (
    '[{"currency":"KRW","balance":"50000.47088291","locked":"0","avg_buy_price":"0",'
    '"avg_buy_price_modified":true,"unit_currency":"KRW"}]'
)
CHANCE = (
    '{"bid_fee":"0.0005","ask_fee":"0.0005","maker_bid_fee":"0.0005","maker_ask_fee":"0.0005",'
    '"market":{"id":"KRW-BTC","name":"BTC/KRW","order_types":["limit"],"order_sides":["ask","bid"],'
    '"bid_types":["best_fok","best_ioc","limit","limit_fok","limit_ioc","price"],'
    '"ask_types":["best_fok","best_ioc","limit","limit_fok","limit_ioc","market"],'
    '"bid":{"currency":"KRW","min_total":"5000"},"ask":{"currency":"BTC","min_total":"5000"},'
    '"max_total":"1000000000","state":"active"},'
    '"bid_account":{"currency":"KRW","balance":"50000.47088291","locked":"0","avg_buy_price":"0",'
    '"avg_buy_price_modified":true,"unit_currency":"KRW"},'
    '"ask_account":{"currency":"BTC","balance":"0","locked":"0","avg_buy_price":"0",'
    '"avg_buy_price_modified":false,"unit_currency":"KRW"}}'
)
ORDER_NOT_FOUND = '{"error":{"name":"order_not_found","message":"주문을 찾지 못했습니다."}}'
INSUFFICIENT_FUNDS = (
    '{"error":{"name":"insufficient_funds_bid","message":"주문가능한 금액(KRW)이 부족합니다."}}'
)
SERVER_ERROR = '{"error":{"name":"server_error","message":"internal error"}}'
IDENTIFIER = "tradebot-order-1"
LIMIT_BID_WITH_ID = LIMIT_BID_CREATED.replace(
    '"trades_count":0}', f'"trades_count":0,"identifier":"{IDENTIFIER}"}}'
)

Outcome = httpx.Response | Exception


class FakeUpbit:
    """Answers each (method, path) from a script, after checking the JWT like Upbit does."""

    def __init__(self, script: dict[tuple[str, str], Sequence[Outcome]]) -> None:
        self.script = {route: list(outcomes) for route, outcomes in script.items()}
        self.requests: list[httpx.Request] = []
        self.nonces: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.nonces.append(verify_jwt(request)["nonce"])
        self.requests.append(request)
        outcome = self.script[(request.method, request.url.path)].pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def sent(self, method: str, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if (r.method, r.url.path) == (method, path)]


def client_for(fake: FakeUpbit, clock: FakeClock | None = None) -> UpbitExchangeClient:
    return UpbitExchangeClient(CREDENTIALS, make_session(fake, clock))


def limit_request() -> OrderRequest:
    return OrderRequest.limit("KRW-BTC", OrderSide.BID, Decimal(10000000), Decimal("0.0005"), IDENTIFIER)


def test_get_accounts_signed_without_parameters_parses_decimal_balance() -> None:
    fake = FakeUpbit({("GET", "/v1/accounts"): [upbit_response(200, ACCOUNTS)]})

    accounts = client_for(fake).get_accounts()

    assert accounts[0].balance == Decimal("50000.47088291")
    assert accounts[0].avg_buy_price_modified is True
    assert fake.requests[0].url.query == b""
    assert str(fake.requests[0].url).startswith("http://127.0.0.1:18080/v1/accounts")


def test_list_open_orders_sends_exactly_the_hashed_query_bytes() -> None:
    fake = FakeUpbit({("GET", "/v1/orders/open"): [upbit_response(200, f"[{LIMIT_BID_CREATED}]")]})

    orders = client_for(fake).list_open_orders("KRW-BTC", states=(OrderState.WAIT, OrderState.WATCH))

    assert fake.requests[0].url.query == (
        b"market=KRW-BTC&states[]=wait&states[]=watch&page=1&limit=100&order_by=desc"
    )
    assert orders[0].uuid == "82fe9b72-eb0f-462b-8e0e-e74ad844acea"


def test_requests_each_use_a_fresh_nonce() -> None:
    fake = FakeUpbit({("GET", "/v1/accounts"): [upbit_response(200, ACCOUNTS)] * 3})
    client = client_for(fake)

    for _ in range(3):
        client.get_accounts()

    assert len(set(fake.nonces)) == 3


def test_create_order_limit_sends_json_body_and_parses_201() -> None:
    fake = FakeUpbit({("POST", "/v1/orders"): [upbit_response(201, LIMIT_BID_WITH_ID, group="order")]})

    order = client_for(fake).create_order(limit_request())

    request = fake.requests[0]
    assert request.content == (
        b'{"market":"KRW-BTC","side":"bid","volume":"0.0005","price":"10000000",'
        b'"ord_type":"limit","identifier":"tradebot-order-1"}'
    )
    assert request.headers["Content-Type"] == "application/json; charset=utf-8"
    assert order.identifier == IDENTIFIER
    assert order.state is OrderState.WAIT


def test_create_order_timeout_then_found_returns_order_without_resend() -> None:
    clock = FakeClock()
    fake = FakeUpbit(
        {
            ("POST", "/v1/orders"): [httpx.ReadTimeout("timed out")],
            ("GET", "/v1/order"): [upbit_response(200, LIMIT_BID_WITH_ID[:-1] + ',"trades":[]}')],
        }
    )

    order = client_for(fake, clock).create_order(limit_request())

    assert order.identifier == IDENTIFIER
    assert len(fake.sent("POST", "/v1/orders")) == 1
    assert fake.sent("GET", "/v1/order")[0].url.query == b"identifier=tradebot-order-1"
    assert clock.sleeps == [0.5]


def test_create_order_timeout_then_not_found_resends_once_with_same_identifier() -> None:
    fake = FakeUpbit(
        {
            ("POST", "/v1/orders"): [
                httpx.ConnectError("connection reset"),
                upbit_response(201, LIMIT_BID_WITH_ID, group="order"),
            ],
            ("GET", "/v1/order"): [upbit_response(404, ORDER_NOT_FOUND)],
        }
    )

    order = client_for(fake).create_order(limit_request())

    posts = fake.sent("POST", "/v1/orders")
    assert len(posts) == 2
    assert [json.loads(post.content)["identifier"] for post in posts] == [IDENTIFIER, IDENTIFIER]
    assert order.identifier == IDENTIFIER


def test_create_order_every_attempt_times_out_raises_order_state_unknown() -> None:
    fake = FakeUpbit(
        {
            ("POST", "/v1/orders"): [httpx.ReadTimeout("timed out")] * 2,
            ("GET", "/v1/order"): [upbit_response(404, ORDER_NOT_FOUND)] * 2,
        }
    )

    with pytest.raises(OrderStateUnknownError) as raised:
        client_for(fake).create_order(limit_request())

    assert raised.value.identifier == IDENTIFIER
    assert len(fake.sent("POST", "/v1/orders")) == 2


def test_create_order_lookup_also_fails_raises_order_state_unknown() -> None:
    fake = FakeUpbit(
        {
            ("POST", "/v1/orders"): [upbit_response(500, SERVER_ERROR, group="order")],
            ("GET", "/v1/order"): [upbit_response(503, "<html>maintenance</html>")] * 3,
        }
    )

    with pytest.raises(OrderStateUnknownError) as raised:
        client_for(fake).create_order(limit_request())

    assert raised.value.identifier == IDENTIFIER
    assert len(fake.sent("POST", "/v1/orders")) == 1


def test_create_order_throttled_then_not_found_resends() -> None:
    fake = FakeUpbit(
        {
            ("POST", "/v1/orders"): [
                upbit_response(429, "Too many API requests.", group=None, content_type="text/plain"),
                upbit_response(201, LIMIT_BID_WITH_ID, group="order"),
            ],
            ("GET", "/v1/order"): [upbit_response(404, ORDER_NOT_FOUND)],
        }
    )

    order = client_for(fake).create_order(limit_request())

    assert order.uuid == "82fe9b72-eb0f-462b-8e0e-e74ad844acea"
    assert len(fake.sent("POST", "/v1/orders")) == 2


def test_create_order_truncated_201_body_is_resolved_by_lookup() -> None:
    fake = FakeUpbit(
        {
            ("POST", "/v1/orders"): [upbit_response(201, LIMIT_BID_WITH_ID[:60], group="order")],
            ("GET", "/v1/order"): [upbit_response(200, LIMIT_BID_WITH_ID)],
        }
    )

    order = client_for(fake).create_order(limit_request())

    assert order.identifier == IDENTIFIER
    assert len(fake.sent("POST", "/v1/orders")) == 1


def test_validate_order_posts_to_the_test_endpoint() -> None:
    fake = FakeUpbit(
        {("POST", "/v1/orders/test"): [upbit_response(201, LIMIT_BID_WITH_ID, group="order-test")]}
    )

    order = client_for(fake).validate_order(limit_request())

    assert order.state is OrderState.WAIT


def test_create_order_rejected_raises_order_rejected_without_lookup() -> None:
    fake = FakeUpbit({("POST", "/v1/orders"): [upbit_response(400, INSUFFICIENT_FUNDS, group="order")]})

    with pytest.raises(OrderRejected) as raised:
        client_for(fake).create_order(limit_request())

    assert isinstance(raised.value, UpbitOrderRejectedError)
    assert raised.value.name == "insufficient_funds_bid"
    assert raised.value.message == "주문가능한 금액(KRW)이 부족합니다."
    assert raised.value.status == 400
    assert fake.sent("GET", "/v1/order") == []


def test_create_order_resend_refused_but_first_landed_returns_found_order() -> None:
    fake = FakeUpbit(
        {
            ("POST", "/v1/orders"): [
                httpx.ReadTimeout("timed out"),
                upbit_response(400, INSUFFICIENT_FUNDS, group="order"),
            ],
            ("GET", "/v1/order"): [
                upbit_response(404, ORDER_NOT_FOUND),
                upbit_response(200, LIMIT_BID_WITH_ID),
            ],
        }
    )

    order = client_for(fake).create_order(limit_request())

    assert order.identifier == IDENTIFIER


def test_create_order_resend_refused_and_still_not_found_raises_rejection() -> None:
    fake = FakeUpbit(
        {
            ("POST", "/v1/orders"): [
                httpx.ReadTimeout("timed out"),
                upbit_response(400, INSUFFICIENT_FUNDS, group="order"),
            ],
            ("GET", "/v1/order"): [upbit_response(404, ORDER_NOT_FOUND)] * 2,
        }
    )

    with pytest.raises(UpbitOrderRejectedError, match="insufficient_funds_bid"):
        client_for(fake).create_order(limit_request())


def test_cancel_order_returns_pre_cancel_snapshot_then_get_shows_cancel() -> None:
    cancelled = LIMIT_BID_CREATED.replace('"state":"wait"', '"state":"cancel"')[:-1] + ',"trades":[]}'
    fake = FakeUpbit(
        {
            ("DELETE", "/v1/order"): [upbit_response(200, LIMIT_BID_CREATED)],
            ("GET", "/v1/order"): [upbit_response(200, cancelled)],
        }
    )
    client = client_for(fake)
    uuid = "82fe9b72-eb0f-462b-8e0e-e74ad844acea"

    snapshot = client.cancel_order(uuid=uuid)
    final = client.get_order(uuid=uuid)

    assert fake.requests[0].url.query == f"uuid={uuid}".encode()
    assert snapshot.state is OrderState.WAIT
    assert final.state is OrderState.CANCEL
    assert final.trades == ()


def test_get_order_market_buy_ending_cancel_is_a_fill() -> None:
    fake = FakeUpbit({("GET", "/v1/order"): [upbit_response(200, MARKET_BUY_FINAL)]})

    order = client_for(fake).get_order(uuid="fce8ffa4")

    assert order.is_filled
    assert order.paid_fee == Decimal("4.999523925")


def test_get_order_unknown_identifier_raises_not_found() -> None:
    fake = FakeUpbit({("GET", "/v1/order"): [upbit_response(404, ORDER_NOT_FOUND)]})

    with pytest.raises(UpbitNotFoundError):
        client_for(fake).get_order(identifier="nope")


def test_get_order_with_both_keys_raises_value_error() -> None:
    client = client_for(FakeUpbit({}))

    with pytest.raises(ValueError, match="exactly one"):
        client.get_order(uuid="a", identifier="b")


def test_create_market_buy_sends_price_total_only() -> None:
    fake = FakeUpbit({("POST", "/v1/orders"): [upbit_response(201, MARKET_BUY_CREATED, group="order")]})

    client_for(fake).create_order(OrderRequest.market_buy("KRW-BTC", Decimal(10000), "buy-1"))

    assert json.loads(fake.requests[0].content) == {
        "market": "KRW-BTC",
        "side": "bid",
        "price": "10000",
        "ord_type": "price",
        "identifier": "buy-1",
    }


def test_get_order_chance_parses_fees_and_minimum_totals() -> None:
    fake = FakeUpbit({("GET", "/v1/orders/chance"): [upbit_response(200, CHANCE)]})

    chance = client_for(fake).get_order_chance("KRW-BTC")

    assert fake.requests[0].url.query == b"market=KRW-BTC"
    assert chance.bid_fee == Decimal("0.0005")
    assert chance.market.bid_min_total == Decimal(5000)
    assert chance.market.max_total == Decimal(1000000000)
    assert chance.bid_account.balance == Decimal("50000.47088291")
    assert "price" in chance.market.bid_types


def test_list_closed_orders_window_sends_epoch_milliseconds() -> None:
    fake = FakeUpbit({("GET", "/v1/orders/closed"): [upbit_response(200, "[]")]})
    start = datetime(2026, 3, 22, tzinfo=UTC)

    client_for(fake).list_closed_orders(
        "KRW-BTC", states=(OrderState.DONE,), start_time=start, end_time=start.replace(day=23)
    )

    assert fake.requests[0].url.query == (
        b"market=KRW-BTC&states[]=done&start_time=1774137600000&end_time=1774224000000"
        b"&limit=100&order_by=desc"
    )


def test_list_closed_orders_window_over_seven_days_raises_value_error() -> None:
    start = datetime(2026, 3, 1, tzinfo=UTC)

    with pytest.raises(ValueError, match="7 days"):
        client_for(FakeUpbit({})).list_closed_orders(start_time=start, end_time=start.replace(day=9))


def test_get_accounts_server_error_is_retried_with_backoff() -> None:
    clock = FakeClock()
    fake = FakeUpbit(
        {("GET", "/v1/accounts"): [upbit_response(500, SERVER_ERROR), upbit_response(200, ACCOUNTS)]}
    )

    accounts = client_for(fake, clock).get_accounts()

    assert accounts[0].currency == "KRW"
    assert clock.sleeps == [0.5]
