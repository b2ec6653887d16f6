"""Typed messages of Upbit's WebSocket streams and the parser for their frames (upbit-websocket.md).

Frames are UTF-8 JSON in DEFAULT or SIMPLE keys, one object or a list (`*_LIST` formats); numbers
are read as `Decimal`, so prices and volumes are exact. A frame that is not JSON, or a message
missing a field its type needs, raises `MalformedFrameError`: a message was lost, which the
client reports as a gap.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

_SIMPLE_TO_DEFAULT = {
    "ty": "type",
    "cd": "code",
    "tms": "timestamp",
    "st": "stream_type",
    "tp": "trade_price",
    "tv": "trade_volume",
    "ttms": "trade_timestamp",
    "ab": "ask_bid",
    "sid": "sequential_id",
    "op": "opening_price",
    "hp": "high_price",
    "lp": "low_price",
    "cdttmu": "candle_date_time_utc",
    "catv": "candle_acc_trade_volume",
    "uid": "uuid",
    "id": "identifier",
    "ot": "order_type",
    "s": "state",
    "tuid": "trade_uuid",
    "p": "price",
    "v": "volume",
    "rv": "remaining_volume",
    "ev": "executed_volume",
    "ef": "executed_funds",
    "pf": "paid_fee",
    "tf": "trade_fee",
    "ast": "assets",
    "cu": "currency",
    "b": "balance",
    "l": "locked",
    "obu": "orderbook_units",
}
_SIMPLE_UNIT_KEYS = {"ap": "ask_price", "bp": "bid_price", "as": "ask_size", "bs": "bid_size"}


class MalformedFrameError(ValueError):
    """A frame that cannot be read as Upbit messages."""


@dataclass(frozen=True, slots=True)
class TradeMessage:
    """One trade; `sequential_id` is unique per trade (order is not guaranteed)."""

    code: str
    price: Decimal
    volume: Decimal
    ask_bid: str
    sequential_id: int
    trade_timestamp_ms: int
    snapshot: bool


@dataclass(frozen=True, slots=True)
class TickerMessage:
    """The market's latest price as of `trade_timestamp_ms`."""

    code: str
    price: Decimal
    trade_timestamp_ms: int
    timestamp_ms: int
    snapshot: bool


@dataclass(frozen=True, slots=True)
class CandleMessage:
    """A candle as traded so far; there is no closed flag (a newer start, or time, closes it)."""

    code: str
    unit: str  # "1s", "1m", ... "240m"
    start: datetime  # aware UTC
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    timestamp_ms: int
    snapshot: bool


@dataclass(frozen=True, slots=True)
class OrderbookLevel:
    """One level of the book."""

    ask_price: Decimal
    ask_size: Decimal
    bid_price: Decimal
    bid_size: Decimal


@dataclass(frozen=True, slots=True)
class OrderbookMessage:
    """The best levels of one market's book."""

    code: str
    levels: tuple[OrderbookLevel, ...]
    timestamp_ms: int
    snapshot: bool


@dataclass(frozen=True, slots=True)
class MyOrderMessage:
    """An order event: a fill (`state == "trade"`, `price`/`volume` are the fill's) or a state change."""

    code: str
    uuid: str
    identifier: str | None
    state: str
    ask_bid: str
    order_type: str
    price: Decimal | None
    volume: Decimal | None
    executed_volume: Decimal
    executed_funds: Decimal
    paid_fee: Decimal
    trade_uuid: str | None
    timestamp_ms: int


@dataclass(frozen=True, slots=True)
class AssetBalance:
    """One currency of a `myAsset` message."""

    currency: str
    balance: Decimal
    locked: Decimal


@dataclass(frozen=True, slots=True)
class MyAssetMessage:
    """Balances that changed."""

    assets: tuple[AssetBalance, ...]
    timestamp_ms: int


@dataclass(frozen=True, slots=True)
class StreamErrorMessage:
    """Upbit's `{"error": {"name", "message"}}` answer to a request."""

    name: str
    message: str


@dataclass(frozen=True, slots=True)
class StatusMessage:
    """`{"status": "UP"}`: the answer to the text `PING`."""

    status: str


@dataclass(frozen=True, slots=True)
class SubscriptionsMessage:
    """The answer to `LIST_SUBSCRIPTIONS`: every request sent before it is in effect."""

    ticket: str
    types: tuple[str, ...]


StreamMessage = (
    TradeMessage
    | TickerMessage
    | CandleMessage
    | OrderbookMessage
    | MyOrderMessage
    | MyAssetMessage
    | StreamErrorMessage
    | StatusMessage
    | SubscriptionsMessage
)


def parse_frame(frame: bytes | str) -> list[StreamMessage]:
    """The messages of one frame; unknown types are skipped."""
    try:
        value = json.loads(frame, parse_float=Decimal, parse_int=Decimal)
    except (ValueError, UnicodeDecodeError) as error:
        raise MalformedFrameError(f"not JSON: {error}") from None
    items = value if isinstance(value, list) else [value]
    messages: list[StreamMessage] = []
    for item in items:
        if not isinstance(item, dict):
            raise MalformedFrameError("a message is not an object")
        message = _message(_default_keys(item))
        if message is not None:
            messages.append(message)
    return messages


def _default_keys(item: dict[str, Any]) -> dict[str, Any]:
    if "ty" not in item:
        return item
    named = {_SIMPLE_TO_DEFAULT.get(key, key): value for key, value in item.items()}
    for key in ("orderbook_units", "assets"):
        if isinstance(named.get(key), list):
            named[key] = [
                {_SIMPLE_UNIT_KEYS.get(k, _SIMPLE_TO_DEFAULT.get(k, k)): v for k, v in entry.items()}
                for entry in named[key]
                if isinstance(entry, dict)
            ]
    return named


def _message(item: dict[str, Any]) -> StreamMessage | None:
    try:
        if "error" in item:
            return StreamErrorMessage(str(item["error"]["name"]), str(item["error"].get("message", "")))
        if "status" in item:
            return StatusMessage(str(item["status"]))
        if item.get("method", item.get("mthd")) == "LIST_SUBSCRIPTIONS":
            return _subscriptions(item)
        kind = item.get("type")
        if not isinstance(kind, str):
            return None
        if kind.startswith("candle."):
            return _candle(item, kind.removeprefix("candle."))
        reader = _READERS.get(kind)
        return reader(item) if reader is not None else None
    except (KeyError, TypeError, ValueError, ArithmeticError) as error:
        raise MalformedFrameError(f"a {item.get('type')} message lacks a field: {error}") from None


def _subscriptions(item: dict[str, Any]) -> SubscriptionsMessage:
    result = item.get("result", item.get("rslt", []))
    types = tuple(str(entry.get("type", entry.get("ty"))) for entry in result if isinstance(entry, dict))
    return SubscriptionsMessage(str(item.get("ticket", item.get("tckt", ""))), types)


def _decimal(value: object) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, str):
        return Decimal(value)
    raise TypeError(f"not a number: {value!r}")


def _optional_decimal(value: object) -> Decimal | None:
    return None if value is None else _decimal(value)


def _snapshot(item: dict[str, Any]) -> bool:
    return item.get("stream_type") == "SNAPSHOT"


def _trade(item: dict[str, Any]) -> TradeMessage:
    return TradeMessage(
        code=str(item["code"]),
        price=_decimal(item["trade_price"]),
        volume=_decimal(item["trade_volume"]),
        ask_bid=str(item["ask_bid"]),
        sequential_id=int(item["sequential_id"]),
        trade_timestamp_ms=int(item["trade_timestamp"]),
        snapshot=_snapshot(item),
    )


def _ticker(item: dict[str, Any]) -> TickerMessage:
    return TickerMessage(
        code=str(item["code"]),
        price=_decimal(item["trade_price"]),
        trade_timestamp_ms=int(item["trade_timestamp"]),
        timestamp_ms=int(item["timestamp"]),
        snapshot=_snapshot(item),
    )


def _candle(item: dict[str, Any], unit: str) -> CandleMessage:
    start = datetime.fromisoformat(str(item["candle_date_time_utc"])).replace(tzinfo=UTC)
    return CandleMessage(
        code=str(item["code"]),
        unit=unit,
        start=start,
        open=_decimal(item["opening_price"]),
        high=_decimal(item["high_price"]),
        low=_decimal(item["low_price"]),
        close=_decimal(item["trade_price"]),
        volume=_decimal(item["candle_acc_trade_volume"]),
        timestamp_ms=int(item["timestamp"]),
        snapshot=_snapshot(item),
    )


def _orderbook(item: dict[str, Any]) -> OrderbookMessage:
    levels = tuple(
        OrderbookLevel(
            _decimal(unit["ask_price"]),
            _decimal(unit["ask_size"]),
            _decimal(unit["bid_price"]),
            _decimal(unit["bid_size"]),
        )
        for unit in item["orderbook_units"]
    )
    return OrderbookMessage(str(item["code"]), levels, int(item["timestamp"]), _snapshot(item))


def _my_order(item: dict[str, Any]) -> MyOrderMessage:
    identifier, trade_uuid = item.get("identifier"), item.get("trade_uuid")
    return MyOrderMessage(
        code=str(item["code"]),
        uuid=str(item["uuid"]),
        identifier=None if identifier is None else str(identifier),
        state=str(item["state"]),
        ask_bid=str(item["ask_bid"]),
        order_type=str(item["order_type"]),
        price=_optional_decimal(item.get("price")),
        volume=_optional_decimal(item.get("volume")),
        executed_volume=_decimal(item["executed_volume"]),
        executed_funds=_decimal(item.get("executed_funds", Decimal(0))),
        paid_fee=_decimal(item.get("paid_fee", Decimal(0))),
        trade_uuid=None if trade_uuid is None else str(trade_uuid),
        timestamp_ms=int(item["timestamp"]),
    )


def _my_asset(item: dict[str, Any]) -> MyAssetMessage:
    assets = tuple(
        AssetBalance(str(asset["currency"]), _decimal(asset["balance"]), _decimal(asset["locked"]))
        for asset in item["assets"]
    )
    return MyAssetMessage(assets, int(item["timestamp"]))


_READERS: dict[str, Callable[[dict[str, Any]], StreamMessage]] = {
    "trade": _trade,
    "ticker": _ticker,
    "orderbook": _orderbook,
    "myOrder": _my_order,
    "myAsset": _my_asset,
}
