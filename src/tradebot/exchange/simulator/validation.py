"""Checking an order request field by field, as Upbit does before looking at money (§3.6, §6.2).

Field-combination mistakes are `create_bid_error`/`create_ask_error`, missing or unknown values
`validation_error`, bad numbers `invalid_price_*`/`invalid_volume_*`. Totals and balances are
checked later, by the matching engine, against the market and the wallet.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from tradebot.core.krw_rules import floor_volume, is_on_tick
from tradebot.exchange.simulator.errors import (
    INVALID_PRICE_MESSAGE,
    INVALID_VOLUME_MESSAGE,
    ApiError,
    validation_error,
)
from tradebot.exchange.simulator.params import RequestParams

SIDES = ("bid", "ask")
ORDER_TYPES = ("limit", "price", "market", "best")
TIMES_IN_FORCE = ("ioc", "fok", "post_only")
SMP_TYPES = ("cancel_maker", "cancel_taker", "reduce", "none")
MAX_IDENTIFIER_LENGTH = 100


@dataclass(frozen=True, slots=True)
class OrderSpec:
    """A well-formed order request; `price` is a unit price, or the KRW total of a market buy."""

    market: str
    side: str
    ord_type: str
    price: Decimal | None
    volume: Decimal | None
    identifier: str | None
    time_in_force: str | None
    smp_type: str | None

    @property
    def sized_in_krw(self) -> bool:
        """True for a market or best buy, whose `price` is the KRW to spend."""
        return self.side == "bid" and self.ord_type in ("price", "best")


def identifier_of(params: RequestParams) -> str | None:
    """The request's `identifier`, checked for length."""
    identifier = params.first("identifier")
    if identifier is not None and not 0 < len(identifier) <= MAX_IDENTIFIER_LENGTH:
        raise validation_error("identifier does not have a valid value")
    return identifier


def parse_order(params: RequestParams, markets: Container[str]) -> OrderSpec:
    """An `OrderSpec` from the parameters of `POST /v1/orders`."""
    market = params.first("market") or ""
    side = _choice(params.first("side"), SIDES, "side")
    ord_type = _choice(params.first("ord_type"), ORDER_TYPES, "ord_type")
    if market not in markets:
        if not market:
            raise validation_error("market is missing")
        raise ApiError(400, "market_does_not_exist", f"market {market} does not exist")
    time_in_force = _optional_choice(params.first("time_in_force"), TIMES_IN_FORCE, "time_in_force")
    smp_type = _optional_choice(params.first("smp_type"), SMP_TYPES, "smp_type")
    price_text, volume_text = params.first("price"), params.first("volume")
    _check_combination(side, ord_type, price_text is not None, volume_text is not None, time_in_force)
    if time_in_force == "post_only" and smp_type is not None:
        raise create_error(side, "post_only cannot be combined with smp_type")
    price = None if price_text is None else _price(price_text, side, unit=ord_type == "limit")
    volume = None if volume_text is None else _volume(volume_text, side)
    return OrderSpec(market, side, ord_type, price, volume, identifier_of(params), time_in_force, smp_type)


def create_error(side: str, reason: str) -> ApiError:
    """`create_bid_error` / `create_ask_error`."""
    return ApiError(400, f"create_{side}_error", f"주문 요청 정보가 올바르지 않습니다. ({reason})")


def _choice(value: str | None, allowed: tuple[str, ...], name: str) -> str:
    if value not in allowed:
        raise validation_error(f"{name} is missing, {name} does not have a valid value")
    assert value is not None
    return value


def _optional_choice(value: str | None, allowed: tuple[str, ...], name: str) -> str | None:
    return None if value is None else _choice(value, allowed, name)


def _check_combination(
    side: str, ord_type: str, has_price: bool, has_volume: bool, time_in_force: str | None
) -> None:
    if ord_type == "limit":
        wanted = (True, True)
    elif ord_type == "price":
        if side != "bid":
            raise create_error(side, "ord_type price is only for bids")
        wanted = (True, False)
    elif ord_type == "market":
        if side != "ask":
            raise create_error(side, "ord_type market is only for asks")
        wanted = (False, True)
    else:
        if time_in_force not in ("ioc", "fok"):
            raise create_error(side, "a best order needs time_in_force ioc or fok")
        wanted = (side == "bid", side == "ask")
    if (has_price, has_volume) != wanted:
        raise create_error(side, f"price/volume do not fit ord_type {ord_type}")
    if ord_type in ("price", "market") and time_in_force is not None:
        raise create_error(side, "market orders take no time_in_force")


def _number(text: str) -> Decimal | None:
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return value if value.is_finite() and value > 0 else None


def _price(text: str, side: str, *, unit: bool) -> Decimal:
    value = _number(text)
    if value is None or (unit and not is_on_tick(value)):
        raise ApiError(400, f"invalid_price_{side}", INVALID_PRICE_MESSAGE)
    return value


def _volume(text: str, side: str) -> Decimal:
    value = _number(text)
    if value is None or floor_volume(value) != value:
        raise ApiError(400, f"invalid_volume_{side}", INVALID_VOLUME_MESSAGE)
    return value
