"""Rate limiter per group, `Remaining-Req` parsing and limiter sharing (§5)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tradebot.core.models import Interval
from tradebot.exchange.upbit import (
    RateLimit,
    RateLimiter,
    RateLimitRegistry,
    RemainingRequests,
    UpbitError,
    UpbitExchangeClient,
    UpbitQuotationClient,
    UpbitSession,
    UpbitThrottledError,
    parse_remaining_req,
    shared_rate_limits,
)
from tradebot.exchange.upbit.rate_limit import GroupCounts, RateCounters

from . import ACCESS_KEY, CREDENTIALS, TICKER, FakeClock, make_session, upbit_response
from .test_quotation import FakeCandles


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("group=default; min=1800; sec=29", RemainingRequests("default", 29, 1800)),
        ("group=order; min=480; sec=7", RemainingRequests("order", 7, 480)),
        ("group=crix-trades; min=600; sec=9", RemainingRequests("crix-trades", 9, 600)),
        ("group=candles;sec=0", RemainingRequests("candles", 0, None)),
        (" GROUP = ticker ; SEC = 3 ; min = x ", RemainingRequests("ticker", 3, None)),
    ],
)
def test_parse_remaining_req_valid_header_gives_values(header: str, expected: RemainingRequests) -> None:
    assert parse_remaining_req(header) == expected


@pytest.mark.parametrize(
    "header", [None, "", "garbage", "group=default; min=1800", "group=default; sec=-1", "sec=5", "a=b=c;;"]
)
def test_parse_remaining_req_missing_or_odd_header_gives_none(header: str | None) -> None:
    assert parse_remaining_req(header) is None


def test_limiter_eleventh_request_in_one_second_waits_for_the_window() -> None:
    clock = FakeClock()
    limiter = RateLimiter(RateLimit(10), clock)

    for _ in range(10):
        limiter.acquire()
    assert clock.sleeps == []
    limiter.acquire()

    assert clock.sleeps == [pytest.approx(1.0)]


def test_limiter_requests_spread_over_time_never_wait() -> None:
    clock = FakeClock()
    limiter = RateLimiter(RateLimit(2), clock)

    for _ in range(6):
        limiter.acquire()
        clock.seconds += 0.5

    assert clock.sleeps == []


def test_limiter_two_second_window_spaces_cancel_all_requests() -> None:
    clock = FakeClock()
    limiter = RateLimiter(RateLimit(1, 2.0), clock)

    limiter.acquire()
    limiter.acquire()

    assert clock.sleeps == [pytest.approx(2.0)]


def test_limiter_server_reports_zero_left_waits_one_window() -> None:
    clock = FakeClock()
    limiter = RateLimiter(RateLimit(10), clock)
    limiter.acquire()

    limiter.observe(RemainingRequests("ticker", 0, 600))
    limiter.acquire()

    assert clock.sleeps == [pytest.approx(1.0)]


def test_limiter_server_reports_fewer_left_than_local_count_adopts_server_count() -> None:
    clock = FakeClock()
    limiter = RateLimiter(RateLimit(10), clock)
    limiter.acquire()

    limiter.observe(RemainingRequests("ticker", 2, 600))
    limiter.acquire()
    limiter.acquire()
    assert clock.sleeps == []
    limiter.acquire()

    assert clock.sleeps == [pytest.approx(1.0)]


def test_limiter_missing_header_keeps_local_count() -> None:
    clock = FakeClock()
    limiter = RateLimiter(RateLimit(3), clock)

    for _ in range(3):
        limiter.acquire()
        limiter.observe(None)

    assert clock.sleeps == []


def test_limiter_penalize_blocks_for_the_given_time() -> None:
    clock = FakeClock()
    limiter = RateLimiter(RateLimit(10), clock)

    limiter.penalize(5.0)
    limiter.acquire()

    assert clock.sleeps == [pytest.approx(5.0)]


def test_registry_quotation_limiter_is_shared_by_every_client() -> None:
    registry = RateLimitRegistry(FakeClock())
    transport = httpx.MockTransport(lambda request: upbit_response(200, "[]"))

    with (
        UpbitSession(transport=transport, rate_limits=registry) as first,
        UpbitSession(transport=transport, rate_limits=registry) as second,
    ):
        assert first.rate_limits.quotation("candles") is second.rate_limits.quotation("candles")
    assert registry.quotation("candles") is not registry.quotation("ticker")
    assert registry.quotation("candles").limit == RateLimit(10)


def test_registry_exchange_limiters_are_per_access_key() -> None:
    registry = RateLimitRegistry(FakeClock())

    assert registry.exchange(ACCESS_KEY, "order") is registry.exchange(ACCESS_KEY, "order")
    assert registry.exchange(ACCESS_KEY, "order") is not registry.exchange("other-key", "order")
    assert registry.exchange(ACCESS_KEY, "order").limit == RateLimit(8)
    assert registry.exchange(ACCESS_KEY, "default").limit == RateLimit(30)


def test_shared_rate_limits_is_one_registry_per_process() -> None:
    with UpbitSession(transport=httpx.MockTransport(lambda request: upbit_response(200, "[]"))) as session:
        assert session.rate_limits is shared_rate_limits()
    assert shared_rate_limits() is shared_rate_limits()


def test_quotation_clients_on_one_registry_share_the_ip_budget() -> None:
    clock = FakeClock()
    registry = RateLimitRegistry(clock)
    transport = httpx.MockTransport(lambda request: upbit_response(200, TICKER, group=None))
    clients = [
        UpbitQuotationClient(UpbitSession(transport=transport, rate_limits=registry)) for _ in range(2)
    ]

    for _ in range(5):
        for client in clients:
            client.get_tickers(["KRW-BTC"])
    assert clock.sleeps == []
    clients[0].get_tickers(["KRW-BTC"])

    assert clock.sleeps == [pytest.approx(1.0)]


def test_quotation_remaining_zero_header_delays_the_next_request() -> None:
    clock = FakeClock()
    session = make_session(lambda request: upbit_response(200, TICKER, group="ticker", remaining=0), clock)
    client = UpbitQuotationClient(session)

    client.get_tickers(["KRW-BTC"])
    client.get_tickers(["KRW-BTC"])

    assert clock.sleeps == [pytest.approx(1.0)]


def test_quotation_throttled_429_is_retried_after_backoff_and_penalty() -> None:
    clock = FakeClock()
    answers = [
        upbit_response(429, "Too many API requests.", group=None, content_type="text/plain"),
        upbit_response(200, TICKER, group="ticker"),
    ]
    client = UpbitQuotationClient(make_session(lambda request: answers.pop(0), clock))

    tickers = client.get_tickers(["KRW-BTC"])

    assert tickers[0].market == "KRW-BTC"
    # The 0.5 s backoff, then the rest of the 1 s throttle penalty.
    assert sum(clock.sleeps) == pytest.approx(1.0)


def test_quotation_throttled_every_attempt_raises_throttled() -> None:
    clock = FakeClock()
    session = make_session(
        lambda request: upbit_response(429, "Too many API requests.", group=None), clock, attempts=2
    )

    with pytest.raises(UpbitThrottledError):
        UpbitQuotationClient(session).get_tickers(["KRW-BTC"])


def test_exchange_order_group_waits_after_eight_orders_per_second() -> None:
    clock = FakeClock()
    session = make_session(lambda request: upbit_response(200, "[]"), clock)
    client = UpbitExchangeClient(CREDENTIALS, session)
    limiter = session.rate_limits.exchange(ACCESS_KEY, "order")

    for _ in range(8):
        limiter.acquire()
    client.get_accounts()  # the default group is separate
    assert clock.sleeps == []
    limiter.acquire()

    assert clock.sleeps == [pytest.approx(1.0)]


def test_registry_counters_requests_and_throttles_are_counted_per_group() -> None:
    clock = FakeClock()
    answers = [
        upbit_response(429, "Too many API requests.", group=None, content_type="text/plain"),
        upbit_response(418, "blocked", group=None, content_type="text/plain"),
        upbit_response(200, TICKER, group="ticker"),
    ]
    session = make_session(lambda request: answers.pop(0), clock)

    with pytest.raises(UpbitError):
        UpbitQuotationClient(session).get_tickers(["KRW-BTC"])
    session.rate_limits.exchange(ACCESS_KEY, "order").acquire()

    counts = session.rate_limits.counters.snapshot()
    assert counts["quotation:ticker"] == GroupCounts(requests=2, throttled=1, blocked=1)
    assert counts["exchange:order"] == GroupCounts(requests=1)
    assert all(ACCESS_KEY not in group for group in counts)


def test_rate_counters_concurrent_records_lose_nothing() -> None:
    counters = RateCounters()

    def add() -> None:
        for _ in range(1_000):
            counters.record("quotation:candles", requests=1)

    threads = [threading.Thread(target=add) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert counters.snapshot() == {"quotation:candles": GroupCounts(requests=4_000)}


def test_limiter_count_status_ignores_other_status_codes() -> None:
    limiter = RateLimiter(RateLimit(10), FakeClock(), group="quotation:ticker")

    for status in (200, 400, 404, 500, 429):
        limiter.count_status(status)

    assert limiter.counters.snapshot() == {"quotation:ticker": GroupCounts(throttled=1)}


def test_limiter_background_requests_take_at_most_half_of_each_window() -> None:
    clock = FakeClock()
    limiter = RateLimiter(RateLimit(10), clock)
    sent: list[float] = []
    for _ in range(20):
        limiter.acquire(background=True)
        sent.append(clock.seconds)
    assert len(sent) == 20
    for start in sent:  # any one-second window holds at most five of them
        assert sum(1 for moment in sent if start <= moment < start + 1.0) <= 5


def test_limiter_foreground_request_never_waits_behind_background_paging() -> None:
    clock = FakeClock()
    limiter = RateLimiter(RateLimit(10), clock)
    for _ in range(5):
        limiter.acquire(background=True)
    for _ in range(5):  # the other half of the window is the foreground's
        limiter.acquire()
    assert clock.sleeps == []


def test_limiter_background_waits_while_foreground_fills_its_share() -> None:
    clock = FakeClock()
    limiter = RateLimiter(RateLimit(10), clock)
    for _ in range(5):
        limiter.acquire()
    limiter.acquire(background=True)
    assert clock.sleeps == [pytest.approx(1.0)]


def test_quotation_history_pages_go_in_the_background_lane() -> None:
    clock = FakeClock()
    starts = [datetime(2026, 3, 11, tzinfo=UTC) + timedelta(minutes=index) for index in range(3000)]
    fake = FakeCandles(starts)
    session = make_session(fake, clock)
    UpbitQuotationClient(session).get_candles("KRW-BTC", Interval.MINUTE1, 2001)
    assert len(fake.queries) == 11
    # The first page at once, then at most five requests in any second: two waits of a second.
    assert clock.sleeps == [pytest.approx(1.0), pytest.approx(1.0)]
    limiter = session.rate_limits.quotation("candles")
    for _ in range(9):  # meanwhile the rest of the window is free for users' newest candles
        limiter.acquire()
    assert len(clock.sleeps) == 2
