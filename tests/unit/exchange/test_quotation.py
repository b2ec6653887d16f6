"""Quotation endpoints: candle paging and sparsity, tickers, order books, instruments, retries."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from urllib.parse import parse_qsl

import httpx
import pytest

from tradebot.core.models import Candle, Interval
from tradebot.exchange.upbit import (
    UpbitNotFoundError,
    UpbitQuotationClient,
    UpbitResponseError,
    UpbitTimeoutError,
)
from tradebot.exchange.upbit.session import parse_http_date

from . import TICKER, FakeClock, make_session, upbit_response

MINUTE_CANDLE = (
    '[{"market":"KRW-BTC","candle_date_time_utc":"2026-03-11T14:40:00",'
    '"candle_date_time_kst":"2026-03-11T23:40:00","opening_price":103600000.0,'
    '"high_price":103600000.0,"low_price":103425000.0,"trade_price":103460000.0,'
    '"timestamp":1773240059132,"candle_acc_trade_price":164899503.14206,'
    '"candle_acc_trade_volume":1.5933512,"unit":1}]'
)
ORDERBOOK = (
    '[{"market":"KRW-BTC","timestamp":1773240059027,"total_ask_size":4.17884094,'
    '"total_bid_size":2.29686376,"orderbook_units":[{"bid_price":103460000,"bid_size":0.004,'
    '"ask_price":103493000,"ask_size":0.04910155},{"bid_price":103438000,"bid_size":0.00483381,'
    '"ask_price":103507000,"ask_size":0.06146}],"level":0}]'
)
INSTRUMENTS = (
    '[{"market":"KRW-BTC","quote_currency":"KRW","tick_size":"1000",'
    '"supported_levels":["0","10000","100000","1000000","10000000","100000000"]}]'
)
MARKETS = (
    '[{"market":"KRW-BTC","korean_name":"비트코인","english_name":"Bitcoin",'
    '"market_event":{"warning":false,"caution":{"PRICE_FLUCTUATIONS":false,'
    '"TRADING_VOLUME_SOARING":false,"DEPOSIT_AMOUNT_SOARING":false,'
    '"GLOBAL_PRICE_DIFFERENCES":false,"CONCENTRATION_OF_SMALL_ACCOUNTS":false}}}]'
)
CODE_NOT_FOUND = '{"error":{"name":404,"message":"Code not found"}}'
T0 = datetime(2026, 3, 11, 0, 0, tzinfo=UTC)


def candle_json(start: datetime) -> dict[str, object]:
    kst = start + timedelta(hours=9)
    return {
        "market": "KRW-BTC",
        "candle_date_time_utc": start.strftime("%Y-%m-%dT%H:%M:%S"),
        "candle_date_time_kst": kst.strftime("%Y-%m-%dT%H:%M:%S"),
        "opening_price": 100.0,
        "high_price": 110.0,
        "low_price": 90.0,
        "trade_price": 105.0,
        "timestamp": int(start.timestamp() * 1000),
        "candle_acc_trade_price": 1050.0,
        "candle_acc_trade_volume": 10.0,
        "unit": 1,
    }


class FakeCandles:
    """Serves the candles that exist before `to`, newest first, at most `count` (max 200)."""

    def __init__(self, starts: list[datetime]) -> None:
        self.starts = sorted(starts, reverse=True)
        self.queries: list[dict[str, str]] = []
        self.paths: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        query = dict(parse_qsl(request.url.query.decode()))
        self.queries.append(query)
        self.paths.append(request.url.path)
        count = int(query.get("count", "1"))
        if count > 200:
            return upbit_response(400, '{"error":{"name":400,"message":"Invalid parameter."}}')
        to = (
            datetime.strptime(query["to"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
            if "to" in query
            else None
        )
        selected = [start for start in self.starts if to is None or start < to][:count]
        return upbit_response(200, json.dumps([candle_json(s) for s in selected]), group="candles")


def minutes(first: int, last: int) -> list[datetime]:
    return [T0 + timedelta(minutes=index) for index in range(first, last)]


def test_get_candles_past_200_pages_with_to_and_returns_oldest_first() -> None:
    fake = FakeCandles(minutes(0, 500))

    candles = UpbitQuotationClient(make_session(fake)).get_candles("KRW-BTC", Interval.MINUTE1, 450)

    assert [query["count"] for query in fake.queries] == ["200", "200", "50"]
    assert "to" not in fake.queries[0]
    assert fake.queries[1]["to"] == "2026-03-11T05:00:00Z"  # the oldest of page one (minute 300)
    assert fake.queries[2]["to"] == "2026-03-11T01:40:00Z"
    assert [candle.start for candle in candles] == minutes(50, 500)
    assert fake.paths == ["/v1/candles/minutes/1"] * 3


def test_get_candles_sparse_history_keeps_gaps_and_invents_nothing() -> None:
    starts = minutes(0, 3) + minutes(10, 12) + minutes(300, 301)
    fake = FakeCandles(starts)

    candles = UpbitQuotationClient(make_session(fake)).get_candles("KRW-BTC", Interval.MINUTE1, 1000)

    assert [candle.start for candle in candles] == starts
    assert len(fake.queries) == 2  # the second page is empty: history begins


def test_get_candles_exact_upbit_body_becomes_aware_utc_candle() -> None:
    session = make_session(lambda request: upbit_response(200, MINUTE_CANDLE, group="candles"))

    candles = UpbitQuotationClient(session).get_candles("KRW-BTC", Interval.MINUTE1, 1)

    assert candles == [
        Candle(
            start=datetime(2026, 3, 11, 14, 40, tzinfo=UTC),
            open=103600000.0,
            high=103600000.0,
            low=103425000.0,
            close=103460000.0,
            volume=1.5933512,
        )
    ]


@pytest.mark.parametrize(
    ("interval", "path"),
    [
        (Interval.DAY, "/v1/candles/days"),
        (Interval.MINUTE15, "/v1/candles/minutes/15"),
        (Interval.MINUTE240, "/v1/candles/minutes/240"),
    ],
)
def test_get_candles_interval_selects_upbit_path(interval: Interval, path: str) -> None:
    fake = FakeCandles([])

    UpbitQuotationClient(make_session(fake)).get_candles("KRW-BTC", interval, 5)

    assert fake.paths == [path]


def test_get_candles_every_interval_has_an_upbit_path() -> None:
    fake = FakeCandles([])
    client = UpbitQuotationClient(make_session(fake))

    for interval in Interval:
        client.get_candles("KRW-BTC", interval, 1)

    assert len(set(fake.paths)) == len(Interval)


def test_get_candles_aware_to_is_sent_as_utc_rounded_up_to_the_second() -> None:
    fake = FakeCandles([])
    kst = timezone(timedelta(hours=9))
    to = datetime(2026, 3, 11, 23, 40, 0, 500000, tzinfo=kst)

    UpbitQuotationClient(make_session(fake)).get_candles("KRW-BTC", Interval.MINUTE1, 3, to=to)

    assert fake.queries == [{"market": "KRW-BTC", "count": "3", "to": "2026-03-11T14:40:01Z"}]


def test_get_candles_server_ignoring_to_raises_instead_of_looping() -> None:
    page = json.dumps([candle_json(start) for start in reversed(minutes(0, 200))])
    session = make_session(lambda request: upbit_response(200, page, group="candles"))

    with pytest.raises(UpbitResponseError, match="not before to"):
        UpbitQuotationClient(session).get_candles("KRW-BTC", Interval.MINUTE1, 300)


@pytest.mark.parametrize("count", [0, -5])
def test_get_candles_non_positive_count_raises_value_error(count: int) -> None:
    with pytest.raises(ValueError, match="count"):
        UpbitQuotationClient(make_session(FakeCandles([]))).get_candles("KRW-BTC", Interval.DAY, count)


def test_get_candles_naive_to_raises_value_error() -> None:
    client = UpbitQuotationClient(make_session(FakeCandles([])))

    with pytest.raises(ValueError, match="aware"):
        client.get_candles("KRW-BTC", Interval.DAY, 1, to=datetime(2026, 3, 11))  # noqa: DTZ001


def test_get_candles_unknown_market_raises_not_found_without_retry() -> None:
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return upbit_response(404, CODE_NOT_FOUND, group=None)

    with pytest.raises(UpbitNotFoundError, match="Code not found"):
        UpbitQuotationClient(make_session(handler)).get_candles("KRW-NOPE", Interval.DAY, 1)

    assert len(requests) == 1


def test_get_tickers_several_markets_use_one_comma_separated_request() -> None:
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return upbit_response(200, TICKER, group="ticker")

    tickers = UpbitQuotationClient(make_session(handler)).get_tickers(["KRW-BTC", "KRW-ETH"])

    assert len(requests) == 1
    assert requests[0].url.raw_path == b"/v1/ticker?markets=KRW-BTC,KRW-ETH"
    assert "Authorization" not in requests[0].headers
    assert tickers[0].trade_price == Decimal("103493000.0")
    assert tickers[0].timestamp == datetime(2026, 3, 11, 14, 40, 58, 973000, tzinfo=UTC)


def test_get_orderbooks_parses_units_as_decimal() -> None:
    session = make_session(lambda request: upbit_response(200, ORDERBOOK, group="orderbook"))

    book = UpbitQuotationClient(session).get_orderbooks(["KRW-BTC"])[0]

    assert book.units[0].bid_price == Decimal(103460000)
    assert book.units[0].ask_size == Decimal("0.04910155")
    assert book.total_bid_size == Decimal("2.29686376")


def test_get_instruments_gives_tick_size() -> None:
    session = make_session(lambda request: upbit_response(200, INSTRUMENTS, group="orderbook"))

    instrument = UpbitQuotationClient(session).get_instruments(["KRW-BTC"])[0]

    assert instrument.tick_size == Decimal(1000)
    assert instrument.supported_levels[0] == "0"


def test_list_markets_with_details_reads_warning_flag() -> None:
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return upbit_response(200, MARKETS, group="market")

    markets = UpbitQuotationClient(make_session(handler)).list_markets(details=True)

    assert requests[0].url.query == b"is_details=true"
    assert markets[0].market == "KRW-BTC"
    assert markets[0].korean_name == "비트코인"
    assert markets[0].warning is False


def test_get_tickers_timeout_then_success_retries_with_backoff() -> None:
    clock = FakeClock()
    answers: list[httpx.Response | Exception] = [
        httpx.ConnectTimeout("timed out"),
        upbit_response(502, "<html>bad gateway</html>", group=None),
        upbit_response(200, TICKER, group="ticker"),
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    tickers = UpbitQuotationClient(make_session(handler, clock)).get_tickers(["KRW-BTC"])

    assert tickers[0].market == "KRW-BTC"
    assert clock.sleeps == [0.5, 1.0]


def test_get_tickers_every_attempt_times_out_raises_timeout() -> None:
    clock = FakeClock()

    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out")

    with pytest.raises(UpbitTimeoutError):
        UpbitQuotationClient(make_session(handler, clock)).get_tickers(["KRW-BTC"])

    assert clock.sleeps == [0.5, 1.0]


@pytest.mark.parametrize("markets", [[], "KRW-BTC", ["krw-btc"], ["KRW-BTC&x=1"]])
def test_get_tickers_bad_market_list_raises_value_error(markets: list[str]) -> None:
    with pytest.raises(ValueError, match="market"):
        UpbitQuotationClient(make_session(FakeCandles([]))).get_tickers(markets)


def test_read_candles_carries_the_date_header_of_the_newest_page() -> None:
    fake = FakeCandles(minutes(0, 500))
    dates = iter(["Wed, 11 Mar 2026 08:20:07 GMT", "Wed, 11 Mar 2026 08:20:09 GMT"])

    def dated(request: httpx.Request) -> httpx.Response:
        response = fake(request)
        response.headers["Date"] = next(dates)
        return response

    answer = UpbitQuotationClient(make_session(dated)).read_candles("KRW-BTC", Interval.MINUTE1, 300)
    assert answer.server_time == datetime(2026, 3, 11, 8, 20, 7, tzinfo=UTC)
    assert len(answer.value) == 300


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Sun, 22 Mar 2026 12:47:10 GMT", datetime(2026, 3, 22, 12, 47, 10, tzinfo=UTC)),
        ("Sun, 22 Mar 2026 21:47:10 +0900", datetime(2026, 3, 22, 12, 47, 10, tzinfo=UTC)),
        ("Sun, 22 Mar 2026 12:47:10 -0000", datetime(2026, 3, 22, 12, 47, 10, tzinfo=UTC)),
        (None, None),
        ("", None),
        ("yesterday", None),
    ],
)
def test_parse_http_date_gives_utc_or_none(header: str | None, expected: datetime | None) -> None:
    assert parse_http_date(header) == expected
