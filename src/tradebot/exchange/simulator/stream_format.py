"""How a stream message looks on the wire: DEFAULT or SIMPLE keys, one object or a list.

Every message is a binary frame holding UTF-8 JSON (upbit-websocket.md "Subscribing"); SIMPLE
renames the keys to Upbit's short names (those of the official SDK's `Simple*` models), the
`*_LIST` formats wrap each message in a one-element array.
"""

from __future__ import annotations

import json
from typing import Literal

StreamFormat = Literal["DEFAULT", "SIMPLE", "JSON_LIST", "SIMPLE_LIST"]
FORMATS: frozenset[str] = frozenset({"DEFAULT", "SIMPLE", "JSON_LIST", "SIMPLE_LIST"})
Document = dict[str, object]

_COMMON = {
    "type": "ty",
    "code": "cd",
    "timestamp": "tms",
    "stream_type": "st",
}
_MARKET = {
    "trade_price": "tp",
    "trade_volume": "tv",
    "trade_timestamp": "ttms",
    "opening_price": "op",
    "high_price": "hp",
    "low_price": "lp",
    "prev_closing_price": "pcp",
    "change": "c",
    "change_price": "cp",
    "ask_bid": "ab",
}
_TICKER = {
    **_MARKET,
    "trade_date": "tdt",
    "trade_time": "ttm",
    "change_rate": "cr",
    "signed_change_price": "scp",
    "signed_change_rate": "scr",
    "acc_trade_volume": "atv",
    "acc_trade_price": "atp",
    "acc_trade_volume_24h": "atv24h",
    "acc_trade_price_24h": "atp24h",
    "acc_ask_volume": "aav",
    "acc_bid_volume": "abv",
    "highest_52_week_price": "h52wp",
    "highest_52_week_date": "h52wdt",
    "lowest_52_week_price": "l52wp",
    "lowest_52_week_date": "l52wdt",
    "market_state": "ms",
    "delisting_date": "dd",
}
_TRADE = {
    **_MARKET,
    "trade_date": "td",
    "trade_time": "ttm",
    "sequential_id": "sid",
    "best_ask_price": "bap",
    "best_ask_size": "bas",
    "best_bid_price": "bbp",
    "best_bid_size": "bbs",
}
_CANDLE = {
    **_MARKET,
    "candle_date_time_utc": "cdttmu",
    "candle_date_time_kst": "cdttmk",
    "candle_acc_trade_price": "catp",
    "candle_acc_trade_volume": "catv",
}
_ORDERBOOK = {
    "orderbook_units": "obu",
    "ask_price": "ap",
    "bid_price": "bp",
    "ask_size": "as",
    "bid_size": "bs",
    "total_ask_size": "tas",
    "total_bid_size": "tbs",
    "level": "lv",
}
_MY_ORDER = {
    "uuid": "uid",
    "identifier": "id",
    "ask_bid": "ab",
    "order_type": "ot",
    "state": "s",
    "trade_uuid": "tuid",
    "price": "p",
    "avg_price": "ap",
    "volume": "v",
    "remaining_volume": "rv",
    "executed_volume": "ev",
    "trades_count": "tc",
    "reserved_fee": "rsf",
    "remaining_fee": "rmf",
    "paid_fee": "pf",
    "locked": "l",
    "executed_funds": "ef",
    "trade_fee": "tf",
    "is_maker": "im",
    "time_in_force": "tif",
    "smp_type": "smpt",
    "prevented_volume": "pv",
    "prevented_locked": "pl",
    "trade_timestamp": "ttms",
    "order_timestamp": "otms",
}
_MY_ASSET = {
    "asset_uuid": "astuid",
    "assets": "ast",
    "currency": "cu",
    "balance": "b",
    "locked": "l",
    "asset_timestamp": "asttms",
}
_BY_TYPE = {
    "ticker": _TICKER,
    "trade": _TRADE,
    "orderbook": _ORDERBOOK,
    "myOrder": _MY_ORDER,
    "myAsset": _MY_ASSET,
}


def simple_keys(message_type: str) -> dict[str, str]:
    """DEFAULT key -> SIMPLE key for one message type (candles share one table)."""
    table = _CANDLE if message_type.startswith("candle.") else _BY_TYPE.get(message_type, {})
    return {**_COMMON, **table}


def simplified(document: Document) -> Document:
    """`document` with SIMPLE keys, nested lists of objects included."""
    keys = simple_keys(str(document.get("type", "")))
    return {keys.get(key, key): _simplified_value(value, keys) for key, value in document.items()}


def _simplified_value(value: object, keys: dict[str, str]) -> object:
    if isinstance(value, list):
        return [
            {keys.get(key, key): item for key, item in entry.items()} if isinstance(entry, dict) else entry
            for entry in value
        ]
    return value


def encode(document: Document, wire_format: StreamFormat) -> bytes:
    """The bytes of one binary frame carrying `document` in `wire_format`."""
    shaped: Document = simplified(document) if wire_format in ("SIMPLE", "SIMPLE_LIST") else document
    payload: object = [shaped] if wire_format.endswith("_LIST") else shaped
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def error_frame(name: str, message: str) -> bytes:
    """Upbit's error object: `{"error": {"name": ..., "message": ...}}`."""
    return encode({"error": {"name": name, "message": message}}, "DEFAULT")
