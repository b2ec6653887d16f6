"""The simulator's stream pieces without a server: requests, formats, trades from the path, limits."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from tradebot.core.krw_rules import to_decimal
from tradebot.exchange.simulator.formatting import utc_to_nanos
from tradebot.exchange.simulator.market import MarketData
from tradebot.exchange.simulator.pricepath import MINUTE_NS, generated_path
from tradebot.exchange.simulator.stream_faults import ScheduledStreamFault, StreamFaults
from tradebot.exchange.simulator.stream_format import encode
from tradebot.exchange.simulator.stream_limits import SlidingWindows
from tradebot.exchange.simulator.stream_market import MarketStreams
from tradebot.exchange.simulator.stream_subscription import (
    ListRequest,
    Subscription,
    SubscriptionError,
    parse_request,
)

NOW_NS = utc_to_nanos(datetime(2026, 3, 22, 12, 47, 8, tzinfo=UTC))


def make_market() -> MarketData:
    first = (NOW_NS // MINUTE_NS - 100) * MINUTE_NS
    return MarketData(
        "KRW-BTC", generated_path("KRW-BTC", seed=1, first_start_ns=first, count=200, start_price=1e8), seed=1
    )


def test_parse_request_reads_types_flags_and_format() -> None:
    raw = json.dumps(
        [
            {"ticket": "t"},
            {"type": "orderbook", "codes": ["KRW-BTC.5"], "is_only_snapshot": True},
            {"type": "candle.240m", "codes": ["KRW-ETH"]},
            {"format": "SIMPLE"},
        ]
    )

    subscription = parse_request(raw, private=False)

    assert isinstance(subscription, Subscription)
    assert subscription.wire_format == "SIMPLE"
    assert subscription.types[0].depth_of("KRW-BTC") == 5
    assert subscription.wanted("orderbook", "KRW-BTC") is None  # snapshot only
    assert subscription.wanted("candle.240m", "KRW-ETH") is not None


def test_parse_request_private_types_need_no_codes_and_list_is_a_list_request() -> None:
    private = parse_request('[{"ticket":"t"},{"type":"myOrder"},{"type":"myAsset"}]', private=True)
    listing = parse_request('[{"ticket":"t"},{"method":"LIST_SUBSCRIPTIONS"}]', private=False)

    assert isinstance(private, Subscription)
    assert private.wanted("myOrder", "KRW-XRP") is not None
    assert isinstance(listing, ListRequest)


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ("{}", "WRONG_FORMAT"),
        ('[{"ticket":""},{"type":"trade","codes":["KRW-BTC"]}]', "INVALID_PARAM"),
        ('[{"ticket":"t"},{"type":"trade","codes":["KRW-BTC"],"is_only_realtime":"yes"}]', "INVALID_PARAM"),
        ('[{"ticket":"t"},{"type":"trade","codes":["KRW-BTC"]},{"format":"XML"}]', "INVALID_PARAM"),
        ('[{"ticket":"t"},{"type":"trade","codes":[]}]', "NO_CODES"),
    ],
)
def test_parse_request_refuses_with_upbits_error_name(raw: str, name: str) -> None:
    with pytest.raises(SubscriptionError) as refused:
        parse_request(raw, private=False)

    assert refused.value.name == name


def test_encode_simple_list_renames_nested_keys_and_wraps_in_a_list() -> None:
    document: dict[str, object] = {
        "type": "orderbook",
        "code": "KRW-BTC",
        "orderbook_units": [{"ask_price": 2, "bid_price": 1, "ask_size": 0.5, "bid_size": 0.25}],
    }

    decoded = json.loads(encode(document, "SIMPLE_LIST"))

    assert decoded == [
        {"ty": "orderbook", "cd": "KRW-BTC", "obu": [{"ap": 2, "bp": 1, "as": 0.5, "bs": 0.25}]}
    ]


def test_market_streams_print_each_ended_candle_close_then_the_new_candle() -> None:
    market, streams = make_market(), MarketStreams()
    streams.watch(market, NOW_NS)
    later = NOW_NS + 3 * MINUTE_NS

    ticks = streams.advance(market, later)

    path, index = market.path, market.index(NOW_NS)
    closes = [to_decimal(float(path.close[position])) for position in range(index, index + 3)]
    assert [tick.price for tick in ticks[:3]] == closes
    assert [tick.at_ns for tick in ticks[:3]] == [
        int(path.start_ns[index + n]) + MINUTE_NS - 1 for n in range(3)
    ]
    assert ticks[-1].at_ns == later
    assert len({tick.sequential_id for tick in ticks}) == len(ticks)


def test_market_streams_print_nothing_when_nothing_traded() -> None:
    market, streams = make_market(), MarketStreams()
    streams.watch(market, NOW_NS)

    assert streams.advance(market, NOW_NS) == []


def test_market_streams_price_set_is_a_trade_and_its_candle_message_shows_it() -> None:
    market, streams = make_market(), MarketStreams()
    market.set_price(NOW_NS, Decimal(95_000_000))

    tick = streams.price_set(market, NOW_NS)
    messages = streams.messages(market, tick, {"trade", "candle.1m", "candle.1s"})

    assert tick.price == Decimal(95_000_000)
    assert [message_type for message_type, _, _ in messages] == ["trade", "candle.1s", "candle.1m"]
    assert all(document["trade_price"] == 95_000_000 for _, _, document in messages)


def test_sliding_windows_allow_five_a_second_then_refuse_until_the_window_moves() -> None:
    now = [100.0]
    windows = SlidingWindows(lambda: now[0])
    rules = ((5, 1.0),)

    allowed = [windows.allow("client", rules) for _ in range(6)]
    now[0] += 1.0

    assert allowed == [True] * 5 + [False]
    assert windows.allow("client", rules)


def test_stream_faults_scheduled_fault_hits_only_its_path_and_count() -> None:
    faults = StreamFaults()
    faults.schedule(ScheduledStreamFault(kind="reorder", path="/websocket/v1/private", count=2))

    chosen = [faults.choose("/websocket/v1"), faults.choose("/websocket/v1/private")]
    chosen += [faults.choose("/websocket/v1/private"), faults.choose("/websocket/v1/private")]

    assert chosen == [None, "reorder", "reorder", None]
    assert faults.counts() == {"reorder": 2}
