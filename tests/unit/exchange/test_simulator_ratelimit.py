"""Server-side rate limits: Remaining-Req per group, 429, then 418 blocks that grow."""

from __future__ import annotations

from tradebot.exchange.simulator.ratelimit import RateLimitSettings, Throttle, group_of


class Timer:
    def __init__(self) -> None:
        self.value = 100.5

    def __call__(self) -> float:
        return self.value


def test_counts_down_per_group_and_window() -> None:
    timer = Timer()
    throttle = Throttle(RateLimitSettings(), timer)
    verdicts = [throttle.check("ip:1", "candles") for _ in range(10)]
    assert [verdict.remaining_req for verdict in verdicts[:2]] == [
        "group=candles; min=600; sec=9",
        "group=candles; min=600; sec=8",
    ]
    assert throttle.check("ip:1", "candles").status == 429
    assert throttle.check("ip:1", "ticker").status == 200  # groups count independently
    assert throttle.check("ip:2", "candles").status == 200  # and so do clients
    timer.value += 1
    assert throttle.check("ip:1", "candles").remaining_req.endswith("sec=9")


def test_ignoring_429s_gets_a_block_that_grows() -> None:
    timer = Timer()
    throttle = Throttle(RateLimitSettings(block_after=2, block_seconds=10), timer)
    for _ in range(8):
        throttle.check("pocket:a", "order")
    assert throttle.check("pocket:a", "order").status == 429
    blocked = throttle.check("pocket:a", "order")
    assert (blocked.status, blocked.retry_after) == (418, 10)
    assert throttle.check("pocket:a", "default").status == 418
    timer.value += 11
    for _ in range(8):
        assert throttle.check("pocket:a", "order").status == 200
    throttle.check("pocket:a", "order")
    assert throttle.check("pocket:a", "order").retry_after == 20
    throttle.reset()
    assert throttle.check("pocket:a", "order").status == 200


def test_cancel_all_has_a_two_second_window_and_enforcement_can_be_off() -> None:
    timer = Timer()
    throttle = Throttle(RateLimitSettings(enforce=False), timer)
    assert (
        throttle.check("pocket:a", "order-cancel-all").remaining_req
        == "group=order-cancel-all; min=30; sec=0"
    )
    assert throttle.check("pocket:a", "order-cancel-all").status == 200


def test_groups_of_paths() -> None:
    assert group_of("GET", "/v1/candles/minutes/1") == "candles"
    assert group_of("GET", "/v1/orderbook/instruments") == "orderbook"
    assert group_of("GET", "/v1/trades/ticks") == "crix-trades"
    assert group_of("POST", "/v1/orders") == "order"
    assert group_of("POST", "/v1/orders/test") == "order-test"
    assert group_of("GET", "/v1/orders") == "default"
    assert group_of("DELETE", "/v1/orders/open") == "order-cancel-all"
    assert group_of("GET", "/_admin/state") is None
