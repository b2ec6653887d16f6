"""Fuzzing the client from bytes to objects: realistic Upbit bodies, truncated and mutated.

Each example serves one recorded-shape body (upbit_bodies) after 1-3 random mutations (cut, byte
flips, insertions, deletions, splices of hostile JSON), with a success or error status and
sometimes odd headers, through `httpx.MockTransport` into the real `UpbitSession` and clients. The
call either returns its typed result or raises a subclass of `UpbitError`; nothing else escapes,
and no wait is infinite.
"""

from __future__ import annotations

import gzip
import math
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.exchange import FakeClock, make_session
from tests.unit.property import upbit_bodies as bodies
from tests.unit.property.strategies import PROPERTY_SETTINGS
from tradebot.core.models import Candle, Interval
from tradebot.exchange.upbit import (
    Account,
    Credentials,
    Instrument,
    Market,
    Order,
    Orderbook,
    OrderChance,
    OrderRequest,
    Ticker,
    UpbitError,
    UpbitExchangeClient,
    UpbitQuotationClient,
    UpbitSession,
)

CREDENTIALS = Credentials("fuzz-access-key", "fuzz0secret0key0for0tests0only0000000000")
Call = Callable[[UpbitQuotationClient, UpbitExchangeClient], object]


@dataclass(frozen=True)
class Endpoint:
    """A client call, the body its success answer carries, its status and its result type."""

    name: str
    body: str
    status: int
    call: Call
    result: type


ORDER_REQUEST = OrderRequest.market_buy("KRW-BTC", Decimal(10_000), "tradebot-fuzz-1")
ENDPOINTS = [
    Endpoint("markets", bodies.MARKETS, 200, lambda q, e: q.list_markets(details=True), Market),
    Endpoint(
        "minute candles",
        bodies.MINUTE_CANDLES,
        200,
        lambda q, e: q.get_candles("KRW-BTC", Interval.MINUTE1, 2),
        Candle,
    ),
    Endpoint(
        "day candles", bodies.DAY_CANDLES, 200, lambda q, e: q.get_candles("KRW-BTC", Interval.DAY, 1), Candle
    ),
    Endpoint("ticker", bodies.TICKER, 200, lambda q, e: q.get_tickers(["KRW-BTC"]), Ticker),
    Endpoint("orderbook", bodies.ORDERBOOK, 200, lambda q, e: q.get_orderbooks(["KRW-BTC"]), Orderbook),
    Endpoint("instruments", bodies.INSTRUMENTS, 200, lambda q, e: q.get_instruments(["KRW-BTC"]), Instrument),
    Endpoint("accounts", bodies.ACCOUNTS, 200, lambda q, e: e.get_accounts(), Account),
    Endpoint(
        "order chance", bodies.ORDER_CHANCE, 200, lambda q, e: e.get_order_chance("KRW-BTC"), OrderChance
    ),
    Endpoint("order", bodies.ORDER_WITH_TRADES, 200, lambda q, e: e.get_order(uuid="72091b0f-0c1d"), Order),
    Endpoint("open orders", bodies.ORDERS_LIST, 200, lambda q, e: e.list_open_orders("KRW-BTC"), Order),
    Endpoint("create order", bodies.ORDER_CREATED, 201, lambda q, e: e.create_order(ORDER_REQUEST), Order),
    Endpoint("cancel order", bodies.ORDER_CREATED, 200, lambda q, e: e.cancel_order(uuid="fce8ffa4"), Order),
]
ERROR_BODIES = [
    bodies.ERROR_EXCHANGE,
    bodies.ERROR_QUOTATION,
    bodies.ERROR_NOT_FOUND,
    bodies.THROTTLED_TEXT,
    bodies.MAINTENANCE_HTML,
]
ERROR_STATUSES = [302, 400, 401, 403, 404, 418, 429, 500, 503]
HOSTILE_SNIPPETS = [
    b"null",
    b"true",
    b'""',
    b"[]",
    b"{}",
    b"-1",
    b"0",
    b"1e999",
    b"-1e999",
    b"NaN",
    b"Infinity",
    b'"\\ud800"',
    b'"1e999999999999999999999"',
    b"9" * 5000,
    b"[" * 5000,
    b'{"a":' * 3000,
    b"\xff\xfe",
    b"\x00",
    b'"2026-13-45T99:99:99"',
    b'"0001-01-01T00:00:00+09:00"',
]
ODD_HEADERS = st.fixed_dictionaries(
    {},
    optional={
        "Remaining-Req": st.sampled_from(
            ["group=default; min=1800; sec=0", "group=x; sec=²", "sec=" + "9" * 5000, ";;;", "group=; sec=-1"]
        )
        | st.text(max_size=30),
        "Retry-After": st.sampled_from(["inf", "nan", "1e309", "1e300", "-5", "abc", "120", ""]),
        "Content-Type": st.sampled_from(
            ["application/json;charset=latin-1", "application/json;charset=bogus", "text/html", ""]
        ),
    },
)


@st.composite
def mutated(draw: st.DrawFn, body: bytes) -> bytes:
    """`body` after one to three random mutations."""
    for _ in range(draw(st.integers(1, 3))):
        position = draw(st.integers(0, len(body)))
        kind = draw(st.sampled_from(["truncate", "flip", "insert", "delete", "splice"]))
        if kind == "truncate":
            body = body[:position]
        elif kind == "flip" and body:
            index = position % len(body)
            body = body[:index] + bytes([draw(st.integers(0, 255))]) + body[index + 1 :]
        elif kind == "insert":
            body = body[:position] + draw(st.binary(min_size=1, max_size=8)) + body[position:]
        elif kind == "delete":
            body = body[:position] + body[position + draw(st.integers(1, 40)) :]
        else:
            end = position + draw(st.integers(0, 30))
            body = body[:position] + draw(st.sampled_from(HOSTILE_SNIPPETS)) + body[end:]
    return body


@dataclass(frozen=True)
class Answer:
    """What the mock server sends for every request of one example."""

    status: int
    content: bytes
    headers: dict[str, str]


def serve(answer: Answer) -> tuple[UpbitSession, FakeClock]:
    clock = FakeClock()

    # Raw header bytes, as a server sends them (httpx decodes them as ASCII, UTF-8 or Latin-1).
    headers = [(name.encode("ascii"), value.encode("utf-8")) for name, value in answer.headers.items()]

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(answer.status, content=answer.content, headers=headers)

    return make_session(handler, clock), clock


def outcome_of(endpoint: Endpoint, answer: Answer) -> object:
    """The call's result, or the UpbitError it raised; anything else fails the test."""
    session, clock = serve(answer)
    quotation, exchange = UpbitQuotationClient(session), UpbitExchangeClient(CREDENTIALS, session)
    try:
        result = endpoint.call(quotation, exchange)
    except UpbitError as error:
        result = error
    finally:
        session.close()
    assert all(math.isfinite(seconds) and seconds >= 0 for seconds in clock.sleeps), clock.sleeps
    return result


def assert_typed(endpoint: Endpoint, result: object) -> None:
    if isinstance(result, UpbitError):
        return
    items = result if isinstance(result, list) else [result]
    assert all(isinstance(item, endpoint.result) for item in items), result


@st.composite
def answers(draw: st.DrawFn) -> tuple[Endpoint, Answer]:
    endpoint = draw(st.sampled_from(ENDPOINTS))
    if draw(st.integers(0, 4)) == 0:
        status, body = draw(st.sampled_from(ERROR_STATUSES)), draw(st.sampled_from(ERROR_BODIES))
    else:
        status, body = endpoint.status, endpoint.body
    content = draw(mutated(body.encode("utf-8")))
    return endpoint, Answer(status, content, draw(ODD_HEADERS))


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=[endpoint.name for endpoint in ENDPOINTS])
def test_fuzz_unmutated_body_parses_to_the_typed_result(endpoint: Endpoint) -> None:
    result = outcome_of(endpoint, Answer(endpoint.status, endpoint.body.encode("utf-8"), {}))
    assert not isinstance(result, UpbitError), result
    assert_typed(endpoint, result)


@settings(PROPERTY_SETTINGS, max_examples=400)
@given(case=answers())
def test_fuzz_mutated_body_gives_typed_result_or_upbit_error(case: tuple[Endpoint, Answer]) -> None:
    endpoint, answer = case
    assert_typed(endpoint, outcome_of(endpoint, answer))


@PROPERTY_SETTINGS
@given(endpoint=st.sampled_from(ENDPOINTS), cut=st.integers(min_value=0))
def test_fuzz_truncated_body_raises_upbit_error(endpoint: Endpoint, cut: int) -> None:
    content = endpoint.body.encode("utf-8")
    result = outcome_of(endpoint, Answer(endpoint.status, content[: cut % len(content)], {}))
    assert isinstance(result, UpbitError), result


@PROPERTY_SETTINGS
@given(endpoint=st.sampled_from(ENDPOINTS), garbage=st.binary(max_size=64))
def test_fuzz_gzip_declared_but_not_gzip_raises_upbit_error(endpoint: Endpoint, garbage: bytes) -> None:
    answer = Answer(endpoint.status, b"\x00" + garbage, {"Content-Encoding": "gzip"})
    assert isinstance(outcome_of(endpoint, answer), UpbitError)


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=[endpoint.name for endpoint in ENDPOINTS])
def test_fuzz_gzip_encoded_real_body_still_parses(endpoint: Endpoint) -> None:
    answer = Answer(endpoint.status, gzip.compress(endpoint.body.encode()), {"Content-Encoding": "gzip"})
    assert_typed(endpoint, outcome_of(endpoint, answer))
    assert not isinstance(outcome_of(endpoint, answer), UpbitError)


@pytest.mark.parametrize("retry_after", ["inf", "1e309", "1e300", "nan", "-5"])
def test_fuzz_blocked_answer_with_absurd_retry_after_waits_at_most_a_day(retry_after: str) -> None:
    session, clock = serve(Answer(418, b"blocked", {"Retry-After": retry_after}))
    client = UpbitQuotationClient(session)
    for _ in range(2):  # the second request waits out the first one's penalty
        with pytest.raises(UpbitError):
            client.get_tickers(["KRW-BTC"])
    session.close()
    assert clock.sleeps
    assert all(0 < seconds <= 86_400 for seconds in clock.sleeps), clock.sleeps
