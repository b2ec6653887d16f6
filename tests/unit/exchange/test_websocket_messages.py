"""Parsing Upbit's stream frames into typed messages, and dropping repeats, without a server."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from tradebot.exchange.upbit.websocket_client import RepeatFilter, websocket_url
from tradebot.exchange.upbit.websocket_messages import (
    CandleMessage,
    MalformedFrameError,
    MyAssetMessage,
    MyOrderMessage,
    StreamErrorMessage,
    SubscriptionsMessage,
    TradeMessage,
    parse_frame,
)

TRADE = (
    b'{"type":"trade","code":"KRW-BTC","timestamp":1,"trade_price":95871000.5,"trade_volume":0.00010417,'
    b'"ask_bid":"BID","sequential_id":17741836280000001,"trade_timestamp":1774183628000,"stream_type":"REALTIME"}'
)


def test_parse_frame_reads_a_default_trade_with_exact_numbers() -> None:
    (trade,) = parse_frame(TRADE)

    assert trade == TradeMessage(
        "KRW-BTC",
        Decimal("95871000.5"),
        Decimal("0.00010417"),
        "BID",
        17741836280000001,
        1774183628000,
        False,
    )


def test_parse_frame_reads_simple_list_candles() -> None:
    frame = (
        b'[{"ty":"candle.1m","cd":"KRW-BTC","tms":5,"cdttmu":"2026-03-22T12:47:00","op":1,"hp":3,"lp":1,'
        b'"tp":2,"catv":0.5,"st":"SNAPSHOT"}]'
    )

    (candle,) = parse_frame(frame)

    assert isinstance(candle, CandleMessage)
    assert (candle.unit, candle.start, candle.close, candle.snapshot) == (
        "1m",
        datetime(2026, 3, 22, 12, 47, tzinfo=UTC),
        Decimal(2),
        True,
    )


def test_parse_frame_reads_private_errors_and_listings() -> None:
    order = (
        b'{"type":"myOrder","code":"KRW-BTC","timestamp":9,"uuid":"u","identifier":null,"state":"trade",'
        b'"ask_bid":"BID","order_type":"price","price":100,"volume":0.1,"executed_volume":0.1,'
        b'"executed_funds":10,"paid_fee":0.005,"trade_uuid":"t"}'
    )
    asset = b'{"type":"myAsset","timestamp":9,"assets":[{"currency":"KRW","balance":1.5,"locked":0}]}'

    parsed = [
        *parse_frame(order),
        *parse_frame(asset),
        *parse_frame(b'{"error":{"name":"NO_TICKET","message":"m"}}'),
        *parse_frame(b'{"method":"LIST_SUBSCRIPTIONS","result":[{"type":"myOrder"}],"ticket":"t"}'),
    ]

    assert isinstance(parsed[0], MyOrderMessage)
    assert (parsed[0].state, parsed[0].trade_uuid, parsed[0].paid_fee) == ("trade", "t", Decimal("0.005"))
    assert isinstance(parsed[1], MyAssetMessage)
    assert parsed[1].assets[0].balance == Decimal("1.5")
    assert parsed[2] == StreamErrorMessage("NO_TICKET", "m")
    assert parsed[3] == SubscriptionsMessage("t", ("myOrder",))


@pytest.mark.parametrize("frame", [TRADE[: len(TRADE) // 2], b'{"type":"trade","code":"KRW-BTC"}', b"[1]"])
def test_parse_frame_refuses_a_cut_or_incomplete_frame(frame: bytes) -> None:
    with pytest.raises(MalformedFrameError):
        parse_frame(frame)


def test_repeat_filter_drops_a_repeated_trade_and_an_older_candle_state() -> None:
    (trade,) = parse_frame(TRADE)
    repeat = RepeatFilter()
    newer = CandleMessage(
        "KRW-BTC",
        "1m",
        datetime(2026, 3, 22, tzinfo=UTC),
        *(Decimal(1),) * 5,
        timestamp_ms=20,
        snapshot=False,
    )
    older = CandleMessage(
        "KRW-BTC",
        "1m",
        datetime(2026, 3, 22, tzinfo=UTC),
        *(Decimal(1),) * 5,
        timestamp_ms=10,
        snapshot=False,
    )

    assert [repeat.is_repeat(trade), repeat.is_repeat(trade)] == [False, True]
    assert [repeat.is_repeat(newer), repeat.is_repeat(older), repeat.is_repeat(newer)] == [False, True, False]


def test_websocket_url_follows_the_rest_base_url() -> None:
    assert websocket_url("http://127.0.0.1:8555/", private=False) == "ws://127.0.0.1:8555/websocket/v1"
    assert websocket_url("https://api.upbit.com", private=True) == "wss://api.upbit.com/websocket/v1/private"
