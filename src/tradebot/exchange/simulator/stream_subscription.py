"""Reading a subscription request: ticket, types, codes, flags and format (upbit-websocket.md).

A request is one JSON array: a `{"ticket"}` object, one object per type and an optional
`{"format"}` object; `[{"ticket"}, {"method": "LIST_SUBSCRIPTIONS"}]` asks what is subscribed.
Anything else is answered with Upbit's error names: `WRONG_FORMAT`, `NO_TICKET`, `NO_TYPE`,
`NO_CODES` or `INVALID_PARAM`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import cast

from tradebot.exchange.simulator.stream_format import FORMATS, StreamFormat

MARKET_TYPES = frozenset({"ticker", "trade", "orderbook"})
CANDLE_UNITS: dict[str, int] = {
    "1s": 1,
    "1m": 60,
    "3m": 180,
    "5m": 300,
    "10m": 600,
    "15m": 900,
    "30m": 1800,
    "60m": 3600,
    "240m": 14400,
}
CANDLE_TYPES = frozenset(f"candle.{unit}" for unit in CANDLE_UNITS)
PUBLIC_TYPES = MARKET_TYPES | CANDLE_TYPES
PRIVATE_TYPES = frozenset({"myOrder", "myAsset"})
LIST_SUBSCRIPTIONS = "LIST_SUBSCRIPTIONS"


class SubscriptionError(Exception):
    """A request Upbit would answer with an error object."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name
        self.message = message


@dataclass(frozen=True, slots=True)
class TypeRequest:
    """One subscribed type; empty `codes` means every code (private types only)."""

    type: str
    codes: tuple[str, ...]
    is_only_snapshot: bool = False
    is_only_realtime: bool = False

    def covers(self, code: str) -> bool:
        """True if messages about `code` belong to this type request (`myAsset` has no code)."""
        return self.type == "myAsset" or not self.codes or code in self.market_codes

    @property
    def market_codes(self) -> tuple[str, ...]:
        """The codes without an order book's `.count` suffix (`KRW-BTC.5` -> `KRW-BTC`)."""
        return tuple(code.split(".", 1)[0] for code in self.codes)

    def depth_of(self, code: str) -> int | None:
        """The order book depth asked for `code` (`KRW-BTC.5` -> 5); None: all levels."""
        for requested in self.codes:
            market, _, count = requested.partition(".")
            if market == code and count.isdigit():
                return int(count)
        return None

    def listed(self) -> dict[str, object]:
        """This type as `LIST_SUBSCRIPTIONS` shows it."""
        listed: dict[str, object] = {"type": self.type}
        if self.codes:
            listed["codes"] = list(self.codes)
        return listed


@dataclass(frozen=True, slots=True)
class Subscription:
    """A connection's current subscription (a new request replaces it whole)."""

    ticket: str
    types: tuple[TypeRequest, ...]
    wire_format: StreamFormat = "DEFAULT"

    def wanted(self, message_type: str, code: str) -> TypeRequest | None:
        """The type request realtime messages of `message_type` about `code` go to, if any."""
        for request in self.types:
            if request.type == message_type and not request.is_only_snapshot and request.covers(code):
                return request
        return None

    def listing(self) -> dict[str, object]:
        """The `LIST_SUBSCRIPTIONS` answer (SIMPLE keys are applied by the caller)."""
        return {
            "method": LIST_SUBSCRIPTIONS,
            "result": [request.listed() for request in self.types],
            "ticket": self.ticket,
        }


@dataclass(frozen=True, slots=True)
class ListRequest:
    """`[{"ticket"}, {"method": "LIST_SUBSCRIPTIONS"}, {"format"}?]`."""

    ticket: str
    wire_format: StreamFormat | None


def parse_request(raw: str | bytes, *, private: bool) -> Subscription | ListRequest:
    """The subscription (or list request) in `raw`; `SubscriptionError` when Upbit would refuse it."""
    try:
        items = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise SubscriptionError("WRONG_FORMAT", "the request is not JSON") from None
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise SubscriptionError("WRONG_FORMAT", "the request must be a JSON array of objects")
    objects = cast(list[dict[str, object]], items)
    ticket = _ticket(objects)
    wire_format = _format(objects)
    if any(item.get("method") == LIST_SUBSCRIPTIONS for item in objects):
        return ListRequest(ticket, wire_format)
    types = tuple(_type_request(item, private=private) for item in objects if "type" in item)
    if not types:
        raise SubscriptionError("NO_TYPE", "the request names no type")
    return Subscription(ticket, types, wire_format or "DEFAULT")


def _ticket(objects: list[dict[str, object]]) -> str:
    for item in objects:
        if "ticket" in item:
            ticket = item["ticket"]
            if not isinstance(ticket, str) or not ticket:
                raise SubscriptionError("INVALID_PARAM", "ticket must be a non-empty string")
            return ticket
    raise SubscriptionError("NO_TICKET", "the request has no ticket")


def _format(objects: list[dict[str, object]]) -> StreamFormat | None:
    for item in objects:
        if "format" in item:
            value = item["format"]
            if value not in FORMATS:
                raise SubscriptionError(
                    "INVALID_PARAM", f"format must be one of {', '.join(sorted(FORMATS))}"
                )
            return cast(StreamFormat, value)
    return None


def _type_request(item: dict[str, object], *, private: bool) -> TypeRequest:
    name = item["type"]
    allowed = PRIVATE_TYPES if private else PUBLIC_TYPES
    if not isinstance(name, str) or name not in allowed:
        raise SubscriptionError("INVALID_PARAM", f"type {name!r} is not served on this endpoint")
    codes = item.get("codes", [])
    if not isinstance(codes, list) or not all(isinstance(code, str) and code for code in codes):
        raise SubscriptionError("INVALID_PARAM", "codes must be a list of market codes")
    if not codes and not private:
        raise SubscriptionError("NO_CODES", f"type {name} needs codes")
    flags = []
    for flag in ("is_only_snapshot", "is_only_realtime"):
        value = item.get(flag, False)
        if not isinstance(value, bool):
            raise SubscriptionError("INVALID_PARAM", f"{flag} must be true or false")
        flags.append(value)
    return TypeRequest(name, tuple(cast(list[str], codes)), flags[0], flags[1])
