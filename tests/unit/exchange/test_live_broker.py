"""LiveBroker: a doubtful answer to an order is never a refusal; only Upbit's explicit "no" is."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from tradebot.core.broker import OrderStatus
from tradebot.exchange.live_broker import LiveBroker

from . import FakeClock, upbit_response
from .test_exchange_api import INSUFFICIENT_FUNDS, ORDER_NOT_FOUND, FakeUpbit, client_for

BLOCKED = "Too many API requests. Blocked for 60 seconds."
UNAUTHORIZED = '{"error":{"name":"invalid_access_key","message":"잘못된 엑세스 키입니다."}}'
IDENTIFIER = "tb.alice.live.KRW-BTC.0.bid.1"


def broker_for(fake: FakeUpbit, clock: FakeClock) -> LiveBroker:
    return LiveBroker(client_for(fake, clock), "KRW-BTC", clock, Decimal("0.0005"))


@pytest.mark.parametrize(
    "second",
    [
        upbit_response(418, BLOCKED, content_type="text/plain;charset=UTF-8"),
        upbit_response(401, UNAUTHORIZED),
    ],
    ids=["blocked", "auth"],
)
def test_second_create_attempt_blocked_or_unauthorised_is_unknown_not_refused(second: httpx.Response) -> None:
    clock = FakeClock()
    fake = FakeUpbit(
        {
            ("POST", "/v1/orders"): [httpx.ReadTimeout("timed out"), second],
            ("GET", "/v1/order"): [upbit_response(404, ORDER_NOT_FOUND)],
        }
    )

    outcome = broker_for(fake, clock).buy(Decimal(10_000), IDENTIFIER, Decimal(100_000_000))

    assert outcome.status is OrderStatus.UNKNOWN  # the first request may still land: look it up
    assert len(fake.sent("POST", "/v1/orders")) == 2


def test_explicit_refusal_on_first_attempt_is_refused_with_upbits_name() -> None:
    fake = FakeUpbit({("POST", "/v1/orders"): [upbit_response(400, INSUFFICIENT_FUNDS, group="order")]})

    outcome = broker_for(fake, FakeClock()).buy(Decimal(10_000), IDENTIFIER, Decimal(100_000_000))

    assert (outcome.status, outcome.error_name) == (OrderStatus.REFUSED, "insufficient_funds_bid")
