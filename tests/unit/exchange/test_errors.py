"""Error classification from status and body (§5.3, §6), malformed bodies, and secret hygiene."""

from __future__ import annotations

import logging
from decimal import Decimal

import httpx
import pytest

from tradebot.core.errors import OrderRejected, TradebotError
from tradebot.exchange.upbit import (
    OrderRequest,
    OrderStateUnknownError,
    UpbitAuthError,
    UpbitBlockedError,
    UpbitClientError,
    UpbitError,
    UpbitExchangeClient,
    UpbitNotFoundError,
    UpbitOrderRejectedError,
    UpbitQuotationClient,
    UpbitResponseError,
    UpbitServerError,
    UpbitTemporaryError,
    UpbitThrottledError,
)
from tradebot.exchange.upbit.errors import error_from_response

from . import CREDENTIALS, SECRET_KEY, FakeClock, Handler, make_session, upbit_response


def upbit_error(name: str, message: str) -> str:
    return f'{{"error":{{"name":"{name}","message":"{message}"}}}}'


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (
            400,
            upbit_error("insufficient_funds_bid", "주문가능한 금액(KRW)이 부족합니다."),
            UpbitOrderRejectedError,
        ),
        (400, upbit_error("insufficient_funds_ask", "부족"), UpbitOrderRejectedError),
        (
            400,
            upbit_error("under_min_total_bid", "최소주문금액 이상으로 주문해주세요"),
            UpbitOrderRejectedError,
        ),
        (
            400,
            upbit_error("invalid_price_ask", "주문가격 단위를 잘못 입력하셨습니다."),
            UpbitOrderRejectedError,
        ),
        (
            400,
            upbit_error("invalid_volume_bid", "주문수량 단위를 잘못 입력하셨습니다."),
            UpbitOrderRejectedError,
        ),
        (400, upbit_error("create_bid_error", "invalid order"), UpbitOrderRejectedError),
        (401, upbit_error("jwt_verification", "Jwt 토큰 검증에 실패했습니다."), UpbitAuthError),
        (401, upbit_error("no_authorization_ip", "허용되지 않은 IP"), UpbitAuthError),
        (401, upbit_error("expired_access_key", "expired"), UpbitAuthError),
        (401, upbit_error("invalid_access_key", "잘못된 엑세스 키입니다."), UpbitAuthError),
        (
            401,
            upbit_error("invalid_query_payload", "Jwt의 query를 검증하는데 실패하였습니다."),
            UpbitAuthError,
        ),
        (403, upbit_error("out_of_scope", "권한이 부족합니다."), UpbitAuthError),
        (418, "You are blocked for 60 seconds.", UpbitBlockedError),
        (429, "Too many API requests.", UpbitThrottledError),
        (500, "<html><body>maintenance</body></html>", UpbitServerError),
        (
            400,
            '{"error":{"name":400,"message":"Invalid parameter. Check the given value!"}}',
            UpbitClientError,
        ),
        (400, upbit_error("validation_error", "side is missing"), UpbitClientError),
        (404, '{"error":{"name":404,"message":"Code not found"}}', UpbitNotFoundError),
        (404, upbit_error("order_not_found", "주문을 찾지 못했습니다."), UpbitNotFoundError),
    ],
)
def test_error_from_response_status_and_name_give_typed_error(
    status: int, body: str, expected: type[UpbitError]
) -> None:
    error = error_from_response(status, body)

    assert type(error) is expected
    assert isinstance(error, TradebotError)


def test_error_from_response_rejection_keeps_upbit_name_and_message() -> None:
    error = error_from_response(400, upbit_error("under_min_total_ask", "최소주문금액"))

    assert isinstance(error, OrderRejected)
    assert (error.name, error.message, error.status) == ("under_min_total_ask", "최소주문금액", 400)
    assert str(error) == "Upbit 400 under_min_total_ask: 최소주문금액"


def test_error_from_response_integer_name_is_kept_as_int() -> None:
    error = error_from_response(404, '{"error":{"name":404,"message":"Code not found"}}')

    assert error.name == 404
    assert error.message == "Code not found"


def test_error_from_response_validation_error_on_order_request_is_a_rejection() -> None:
    error = error_from_response(400, upbit_error("validation_error", "side is missing"), order_request=True)

    assert isinstance(error, UpbitOrderRejectedError)


def test_error_from_response_418_plain_text_keeps_text_and_retry_after() -> None:
    error = error_from_response(418, "You are blocked.", retry_after="120")

    assert isinstance(error, UpbitBlockedError)
    assert error.name is None
    assert error.message == "You are blocked."
    assert error.retry_after_seconds == 120.0


def test_error_from_response_429_is_temporary() -> None:
    assert isinstance(error_from_response(429, "Too many API requests."), UpbitTemporaryError)


def test_quotation_418_plain_text_raises_blocked_without_retry() -> None:
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(418, text="blocked", headers={"Content-Type": "text/plain"})

    with pytest.raises(UpbitBlockedError, match="blocked"):
        UpbitQuotationClient(make_session(handler)).get_tickers(["KRW-BTC"])

    assert len(requests) == 1


@pytest.mark.parametrize(
    "body",
    ['[{"market":"KRW-BTC","trade_price":', '{"market":"KRW-BTC"}', '[{"market":"KRW-BTC"}]', "[1]"],
)
def test_quotation_malformed_body_raises_response_error(body: str) -> None:
    session = make_session(lambda request: upbit_response(200, body, group="ticker"))

    with pytest.raises(UpbitResponseError):
        UpbitQuotationClient(session).get_tickers(["KRW-BTC"])


def echo_authorization(request: httpx.Request) -> httpx.Response:
    """A misbehaving server that puts our Authorization header into its error message."""
    message = request.headers["Authorization"]
    return upbit_response(401, upbit_error("jwt_verification", message))


def raise_timeout(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadTimeout(f"timed out; sent {request.headers['Authorization']}")


def answer_blocked(request: httpx.Request) -> httpx.Response:
    return httpx.Response(418, text="blocked")


@pytest.mark.parametrize("handler", [echo_authorization, raise_timeout, answer_blocked])
def test_exchange_errors_never_carry_secret_or_token(
    handler: Handler, caplog: pytest.LogCaptureFixture
) -> None:
    tokens: list[str] = []

    def recording(request: httpx.Request) -> httpx.Response:
        tokens.append(request.headers["Authorization"].removeprefix("Bearer "))
        return handler(request)

    client = UpbitExchangeClient(CREDENTIALS, make_session(recording, FakeClock()), order_attempts=1)
    caplog.set_level(logging.DEBUG)

    with pytest.raises(UpbitError) as raised:
        client.create_order(OrderRequest.market_buy("KRW-BTC", Decimal(10000), "secret-check-1"))

    shown = [str(raised.value), repr(raised.value), repr(client), caplog.text]
    shown += [repr(record.args) for record in caplog.records]
    for text in shown:
        assert SECRET_KEY not in text
        for token in tokens:
            assert token not in text
    assert raised.value.__cause__ is None


def test_order_state_unknown_carries_identifier_in_message() -> None:
    error = OrderStateUnknownError("tradebot-1", "timed out")

    assert error.identifier == "tradebot-1"
    assert "tradebot-1" in str(error)
