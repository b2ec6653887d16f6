"""Every response shape the client parses: wrong types, missing fields, extra fields, any JSON.

A parser either returns its typed object or raises `UpbitResponseError`; KeyError, TypeError,
ValueError, OverflowError and the like never leak. Extra fields change nothing, and a missing
required field is named in the error.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.property import upbit_bodies as bodies
from tests.unit.property.strategies import (
    FEW_EXAMPLES,
    JSON_VALUES,
    PROPERTY_SETTINGS,
    deleted,
    json_paths,
    replaced,
)
from tradebot.exchange.upbit.errors import UpbitResponseError, parse_error_body
from tradebot.exchange.upbit.models import (
    parse_account,
    parse_candle,
    parse_instrument,
    parse_market,
    parse_order_chance,
    parse_orderbook,
    parse_ticker,
)
from tradebot.exchange.upbit.orders import parse_order, parse_trade
from tradebot.exchange.upbit.parsing import Fields, decode_json
from tradebot.exchange.upbit.rate_limit import parse_remaining_req


@dataclass(frozen=True)
class Shape:
    """One response object, its parser and the top-level keys the parser cannot do without."""

    name: str
    parse: Callable[[Fields], object]
    document: dict[str, Any]
    required: tuple[str, ...]


def first(body: str) -> dict[str, Any]:
    document = json.loads(body)
    element: dict[str, Any] = document[0] if isinstance(document, list) else document
    return element


CANDLE_KEYS = ("candle_date_time_utc", "opening_price", "high_price", "low_price", "trade_price")
ORDER_KEYS = ("uuid", "market", "side", "ord_type", "state", "created_at", "executed_volume", "reserved_fee")
ORDER_FEES = ("remaining_fee", "paid_fee", "locked", "trades_count")
SHAPES = [
    Shape("market", parse_market, first(bodies.MARKETS), ("market", "korean_name", "english_name")),
    Shape("minute candle", parse_candle, first(bodies.MINUTE_CANDLES), CANDLE_KEYS),
    Shape("day candle", parse_candle, first(bodies.DAY_CANDLES), (*CANDLE_KEYS, "candle_acc_trade_volume")),
    Shape("ticker", parse_ticker, first(bodies.TICKER), ("market", "trade_price", "change", "timestamp")),
    Shape("orderbook", parse_orderbook, first(bodies.ORDERBOOK), ("market", "timestamp", "orderbook_units")),
    Shape(
        "instrument", parse_instrument, first(bodies.INSTRUMENTS), ("market", "quote_currency", "tick_size")
    ),
    Shape(
        "account", parse_account, first(bodies.ACCOUNTS), ("currency", "balance", "locked", "avg_buy_price")
    ),
    Shape(
        "order chance",
        parse_order_chance,
        first(bodies.ORDER_CHANCE),
        ("bid_fee", "ask_fee", "market", "bid_account", "ask_account"),
    ),
    Shape("created order", parse_order, first(bodies.ORDER_CREATED), (*ORDER_KEYS, *ORDER_FEES)),
    Shape("order with trades", parse_order, first(bodies.ORDER_WITH_TRADES), (*ORDER_KEYS, *ORDER_FEES)),
    Shape("listed order", parse_order, first(bodies.ORDERS_LIST), (*ORDER_KEYS, *ORDER_FEES)),
    Shape(
        "trade",
        parse_trade,
        first(bodies.ORDER_WITH_TRADES)["trades"][0],
        ("uuid", "market", "side", "price", "volume", "funds", "created_at"),
    ),
]
SHAPE_IDS = [shape.name for shape in SHAPES]
PER_SHAPE = settings(FEW_EXAMPLES, max_examples=50)  # 12 shapes: 600 examples per property


def parse_text(shape: Shape, document: object) -> object:
    """`document` through the client's own decoding (numbers as Decimal), then the parser."""
    decoded = decode_json(json.dumps(document), shape.name)
    try:
        return shape.parse(Fields(decoded, shape.name))
    except UpbitResponseError as error:
        return error


@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
def test_parser_recorded_shape_parses(shape: Shape) -> None:
    assert not isinstance(parse_text(shape, shape.document), UpbitResponseError)


@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
def test_parser_missing_required_field_is_named_in_a_typed_error(shape: Shape) -> None:
    for key in shape.required:
        outcome = parse_text(shape, deleted(shape.document, (key,)))
        assert isinstance(outcome, UpbitResponseError), key
        assert repr(key) in str(outcome)


@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
@PER_SHAPE
@given(data=st.data())
def test_parser_any_field_replaced_by_any_json_returns_or_raises_typed_error(
    shape: Shape, data: st.DataObject
) -> None:
    path = data.draw(st.sampled_from(list(json_paths(shape.document))))
    parse_text(shape, replaced(shape.document, path, data.draw(JSON_VALUES)))


@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
@PER_SHAPE
@given(data=st.data())
def test_parser_any_field_deleted_returns_or_raises_typed_error(shape: Shape, data: st.DataObject) -> None:
    path = data.draw(st.sampled_from(list(json_paths(shape.document))))
    parse_text(shape, deleted(shape.document, path))


@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
@PER_SHAPE
@given(data=st.data())
def test_parser_extra_fields_anywhere_change_nothing(shape: Shape, data: st.DataObject) -> None:
    objects = [()] + [
        path for path in json_paths(shape.document) if isinstance(_at(shape.document, path), dict)
    ]
    where = data.draw(st.sampled_from(objects))
    target = _at(shape.document, where)
    key = data.draw(st.text(min_size=1, max_size=12).filter(lambda text: text not in target))
    extended = (
        replaced(shape.document, (*where, key), data.draw(JSON_VALUES))
        if where
        else shape.document | {key: data.draw(JSON_VALUES)}
    )
    assert parse_text(shape, extended) == parse_text(shape, shape.document)


@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
@PER_SHAPE
@given(document=JSON_VALUES)
def test_parser_arbitrary_json_document_returns_or_raises_typed_error(shape: Shape, document: object) -> None:
    parse_text(shape, document)


def _at(document: Any, path: tuple[str | int, ...]) -> Any:
    for step in path:
        document = document[step]
    return document


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("candle_date_time_utc", "0001-01-01T00:00:00+09:00"),
        ("candle_date_time_utc", "9999-12-31T23:59:59-09:00"),
        ("timestamp", 10**30),
        ("trade_price", "1e999999999999999999999"),
        ("trade_price", True),
    ],
)
def test_parser_extreme_values_raise_typed_error(key: str, value: object) -> None:
    shape = SHAPES[1] if key.startswith("candle") else SHAPES[3]
    assert isinstance(parse_text(shape, shape.document | {key: value}), UpbitResponseError)


@pytest.mark.parametrize(
    "body",
    ["[" * 100_000 + "]" * 100_000, '{"a":' * 100_000 + "1" + "}" * 100_000],
    ids=["nested-arrays", "nested-objects"],
)
def test_decode_json_nested_too_deeply_raises_typed_error(body: str) -> None:
    with pytest.raises(UpbitResponseError, match="nested too deeply"):
        decode_json(body, "GET /v1/ticker")


@PROPERTY_SETTINGS
@given(body=st.text(max_size=80) | JSON_VALUES.map(json.dumps))
def test_error_body_any_text_gives_a_name_and_a_message(body: str) -> None:
    name, message = parse_error_body(body)
    assert name is None or isinstance(name, str | int)
    assert isinstance(message, str)
    assert message


def test_error_body_nested_too_deeply_gives_an_excerpt() -> None:
    name, message = parse_error_body('{"error":' * 100_000 + "1" + "}" * 100_000)
    assert name is None
    assert message.endswith("...")


@PROPERTY_SETTINGS
@given(
    header=st.none()
    | st.text(max_size=60)
    | st.builds(
        "group={}; min={}; sec={}".format,
        st.text(max_size=8),
        st.text(max_size=8),
        st.text(alphabet=st.characters(categories=["Nd", "No"]), max_size=8) | st.just("9" * 5000),
    )
)
def test_remaining_req_any_header_parses_or_is_ignored(header: str | None) -> None:
    remaining = parse_remaining_req(header)
    if remaining is not None:
        assert remaining.per_second >= 0
        assert remaining.group
