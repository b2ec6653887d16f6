"""Order requests and parsed orders (upbit-api.md §3.4-§3.6), every amount a Decimal."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import TypeVar

from tradebot.exchange.upbit.errors import UpbitResponseError
from tradebot.exchange.upbit.parsing import Fields

# Identifiers go into query strings unescaped (see auth.render_query), so keep them to safe text.
_IDENTIFIER = re.compile(r"^[A-Za-z0-9\-._:]{1,100}$")
EnumT = TypeVar("EnumT", bound=StrEnum)
MARKET_CODE = re.compile(r"^[A-Z0-9]{1,10}-[A-Z0-9]{1,20}$")


class OrderSide(StrEnum):
    """`bid` buys, `ask` sells."""

    BID = "bid"
    ASK = "ask"


class OrderType(StrEnum):
    """`limit`; `price` = market buy by KRW total; `market` = market sell by volume; `best`."""

    LIMIT = "limit"
    PRICE = "price"
    MARKET = "market"
    BEST = "best"


class OrderState(StrEnum):
    """`wait` (open), `watch` (reserved stop order), `done`, `cancel`."""

    WAIT = "wait"
    WATCH = "watch"
    DONE = "done"
    CANCEL = "cancel"


class TimeInForce(StrEnum):
    """Optional execution condition of limit and best orders."""

    IOC = "ioc"
    FOK = "fok"
    POST_ONLY = "post_only"


FINAL_STATES = frozenset({OrderState.DONE, OrderState.CANCEL})


def new_order_identifier() -> str:
    """A fresh identifier; record it before sending so the order can be found after a crash."""
    return f"tradebot-{uuid.uuid4()}"


def check_market_code(market: str) -> str:
    """`market` if it looks like `KRW-BTC`, else ValueError."""
    if not MARKET_CODE.match(market):
        raise ValueError(f"invalid Upbit market code {market!r} (expected e.g. 'KRW-BTC')")
    return market


def check_identifier(identifier: str) -> str:
    """`identifier` if it is 1-100 characters of [A-Za-z0-9-._:], else ValueError."""
    if not _IDENTIFIER.match(identifier):
        raise ValueError(f"order identifier {identifier!r} must be 1-100 characters of A-Za-z0-9-._:")
    return identifier


def format_decimal(value: Decimal) -> str:
    """Plain notation without exponent or trailing zeros: Decimal('1E+7') -> '10000000'."""
    return f"{value.normalize():f}"


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """One order to send, checked against the §3.6 field rules when built."""

    market: str
    side: OrderSide
    ord_type: OrderType
    identifier: str
    price: Decimal | None = None
    volume: Decimal | None = None
    time_in_force: TimeInForce | None = None

    def __post_init__(self) -> None:
        check_market_code(self.market)
        check_identifier(self.identifier)
        for amount in (self.price, self.volume):
            if amount is not None and not (amount.is_finite() and amount > 0):
                raise ValueError(f"order price and volume must be positive, got {amount}")
        _check_fields(self)

    @classmethod
    def limit(
        cls,
        market: str,
        side: OrderSide,
        price: Decimal,
        volume: Decimal,
        identifier: str,
        time_in_force: TimeInForce | None = None,
    ) -> OrderRequest:
        """A limit order of `volume` at unit `price`."""
        return cls(market, side, OrderType.LIMIT, identifier, price, volume, time_in_force)

    @classmethod
    def market_buy(cls, market: str, total_krw: Decimal, identifier: str) -> OrderRequest:
        """A market buy spending `total_krw` (fee comes on top): `ord_type=price`, no volume."""
        return cls(market, OrderSide.BID, OrderType.PRICE, identifier, price=total_krw)

    @classmethod
    def market_sell(cls, market: str, volume: Decimal, identifier: str) -> OrderRequest:
        """A market sell of `volume`: `ord_type=market`, no price."""
        return cls(market, OrderSide.ASK, OrderType.MARKET, identifier, volume=volume)

    def body_pairs(self) -> list[tuple[str, str]]:
        """The JSON body fields in sending order (also the order they are hashed in)."""
        pairs = [("market", self.market), ("side", self.side.value)]
        if self.volume is not None:
            pairs.append(("volume", format_decimal(self.volume)))
        if self.price is not None:
            pairs.append(("price", format_decimal(self.price)))
        pairs.append(("ord_type", self.ord_type.value))
        if self.time_in_force is not None:
            pairs.append(("time_in_force", self.time_in_force.value))
        pairs.append(("identifier", self.identifier))
        return pairs


def _check_fields(request: OrderRequest) -> None:
    has_price, has_volume = request.price is not None, request.volume is not None
    kind = request.ord_type
    if kind is OrderType.LIMIT:
        problem = None if has_price and has_volume else "a limit order needs price and volume"
    elif kind is OrderType.PRICE:
        problem = _market_problem(request, OrderSide.BID, has_price, has_volume)
    elif kind is OrderType.MARKET:
        problem = _market_problem(request, OrderSide.ASK, has_volume, has_price)
    else:
        wants_price = request.side is OrderSide.BID
        amounts_ok = has_price == wants_price and has_volume != wants_price
        tif_ok = request.time_in_force in (TimeInForce.IOC, TimeInForce.FOK)
        problem = None if amounts_ok and tif_ok else "a best order needs ioc/fok and one amount"
    if problem:
        raise ValueError(f"invalid order request: {problem}")


def _market_problem(
    request: OrderRequest, side: OrderSide, has_required: bool, has_forbidden: bool
) -> str | None:
    if request.side is not side:
        return f"ord_type {request.ord_type.value} is only for side {side.value}"
    if not has_required or has_forbidden:
        wanted = "price (KRW total) only" if side is OrderSide.BID else "volume only"
        return f"ord_type {request.ord_type.value} takes {wanted}"
    if request.time_in_force is not None:
        return "market orders take no time_in_force"
    return None


@dataclass(frozen=True, slots=True)
class Trade:
    """One fill of an order."""

    uuid: str
    market: str
    side: OrderSide
    price: Decimal
    volume: Decimal
    funds: Decimal
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Order:
    """An order as Upbit reports it.

    `price` is the unit price of a limit order but the KRW total of a market buy, and absent for
    a market sell; `volume` is absent for a market buy. `trades` is None unless the response came
    from `GET /v1/order`; `executed_funds` only comes from the list endpoints.
    """

    uuid: str
    market: str
    side: OrderSide
    ord_type: OrderType
    state: OrderState
    created_at: datetime
    price: Decimal | None
    volume: Decimal | None
    remaining_volume: Decimal | None
    executed_volume: Decimal
    executed_funds: Decimal | None
    reserved_fee: Decimal
    remaining_fee: Decimal
    paid_fee: Decimal
    locked: Decimal
    trades_count: int
    trades: tuple[Trade, ...] | None
    identifier: str | None
    time_in_force: str | None

    @property
    def is_final(self) -> bool:
        """True once the order can no longer change (`done` or `cancel`)."""
        return self.state in FINAL_STATES

    @property
    def is_filled(self) -> bool:
        """Final with something executed.

        A market buy ends `cancel`, not `done`, when the KRW does not divide exactly (§3.5);
        the unspendable remainder is cancelled, and what was bought is still a fill.
        """
        return self.is_final and self.executed_volume > 0

    @property
    def filled_funds(self) -> Decimal | None:
        """KRW value of the executed volume; None if the response does not say."""
        if self.trades:
            return sum((trade.funds for trade in self.trades), Decimal(0))
        if self.executed_volume == 0:
            return Decimal(0)
        return self.executed_funds

    @property
    def average_fill_price(self) -> Decimal | None:
        """Volume-weighted price of the fills; None without fills or without fill data."""
        if self.trades:
            volume = sum((trade.volume for trade in self.trades), Decimal(0))
            if volume > 0:
                return sum((trade.funds for trade in self.trades), Decimal(0)) / volume
        if self.executed_volume > 0 and self.executed_funds is not None:
            return self.executed_funds / self.executed_volume
        return None


def parse_trade(fields: Fields) -> Trade:
    """A `trades[]` element."""
    return Trade(
        uuid=fields.text("uuid"),
        market=fields.text("market"),
        side=_enum(OrderSide, fields, "side"),
        price=fields.decimal("price"),
        volume=fields.decimal("volume"),
        funds=fields.decimal("funds"),
        created_at=fields.aware_datetime("created_at"),
    )


def parse_order(fields: Fields) -> Order:
    """An order object from any order endpoint."""
    trades = tuple(parse_trade(item) for item in fields.objects("trades")) if fields.has("trades") else None
    return Order(
        uuid=fields.text("uuid"),
        market=fields.text("market"),
        side=_enum(OrderSide, fields, "side"),
        ord_type=_enum(OrderType, fields, "ord_type"),
        state=_enum(OrderState, fields, "state"),
        created_at=fields.aware_datetime("created_at"),
        price=fields.optional_decimal("price"),
        volume=fields.optional_decimal("volume"),
        remaining_volume=fields.optional_decimal("remaining_volume"),
        executed_volume=fields.decimal("executed_volume"),
        executed_funds=fields.optional_decimal("executed_funds"),
        reserved_fee=fields.decimal("reserved_fee"),
        remaining_fee=fields.decimal("remaining_fee"),
        paid_fee=fields.decimal("paid_fee"),
        locked=fields.decimal("locked"),
        trades_count=fields.integer("trades_count"),
        trades=trades,
        identifier=fields.optional_text("identifier"),
        time_in_force=fields.optional_text("time_in_force"),
    )


def _enum(kind: type[EnumT], fields: Fields, key: str) -> EnumT:
    value = fields.text(key)
    try:
        return kind(value)
    except ValueError:
        raise UpbitResponseError(f"unknown {key} {value!r} in an Upbit order") from None
