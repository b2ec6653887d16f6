"""Typed quotation and account objects parsed from Upbit responses (upbit-api.md §2, §3.2-§3.3)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Generic, TypeVar

from tradebot.core.models import Candle
from tradebot.core.safeguards import CAUTION_FLAGS
from tradebot.exchange.upbit.errors import UpbitResponseError
from tradebot.exchange.upbit.parsing import Fields

ValueT = TypeVar("ValueT")


@dataclass(frozen=True, slots=True)
class Dated(Generic[ValueT]):
    """What the exchange answered and its own time when it answered.

    `server_time` is the exchange's clock (the answer's `Date` header, whole seconds, never later
    than the moment it answered), None when the answer had no usable `Date`. It is what decides
    that a candle has closed; this host's clock never does (TRADING_RULES.md, Candles).
    """

    value: ValueT
    server_time: datetime | None


@dataclass(frozen=True, slots=True)
class Market:
    """A trading pair from `/v1/market/all`; `warning` is None unless details were asked for.

    `caution` holds the documented `market_event.caution` flags that are set (`CAUTION_FLAGS`),
    empty without details; a member Upbit adds later is ignored like any extra field until it is
    added there.
    """

    market: str
    korean_name: str
    english_name: str
    warning: bool | None
    caution: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class ApiKey:
    """One of the account's API keys from `/v1/api_keys`: its access key and when it expires."""

    access_key: str
    expire_at: datetime


@dataclass(frozen=True, slots=True)
class Ticker:
    """The current state of one market from `/v1/ticker`; `trade_price` is the last price."""

    market: str
    trade_price: Decimal
    opening_price: Decimal
    high_price: Decimal
    low_price: Decimal
    prev_closing_price: Decimal
    change: str
    signed_change_rate: Decimal
    acc_trade_price_24h: Decimal
    acc_trade_volume_24h: Decimal
    timestamp: datetime


@dataclass(frozen=True, slots=True)
class OrderbookUnit:
    """One price level pair; index 0 of `Orderbook.units` is the best bid/ask."""

    ask_price: Decimal
    bid_price: Decimal
    ask_size: Decimal
    bid_size: Decimal


@dataclass(frozen=True, slots=True)
class Orderbook:
    """The order book of one market from `/v1/orderbook`."""

    market: str
    timestamp: datetime
    total_ask_size: Decimal
    total_bid_size: Decimal
    units: tuple[OrderbookUnit, ...]


@dataclass(frozen=True, slots=True)
class Instrument:
    """Tick size and order-book levels of one market from `/v1/orderbook/instruments`."""

    market: str
    quote_currency: str
    tick_size: Decimal
    supported_levels: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Account:
    """One currency balance: `balance` is free, `locked` is reserved by open orders."""

    currency: str
    balance: Decimal
    locked: Decimal
    avg_buy_price: Decimal
    avg_buy_price_modified: bool
    unit_currency: str


@dataclass(frozen=True, slots=True)
class MarketRules:
    """The `market` part of `/v1/orders/chance`."""

    market: str
    state: str
    bid_types: tuple[str, ...]
    ask_types: tuple[str, ...]
    bid_min_total: Decimal
    ask_min_total: Decimal
    max_total: Decimal


@dataclass(frozen=True, slots=True)
class OrderChance:
    """Fees, order rules and the two balances of one market from `/v1/orders/chance`."""

    bid_fee: Decimal
    ask_fee: Decimal
    maker_bid_fee: Decimal
    maker_ask_fee: Decimal
    market: MarketRules
    bid_account: Account
    ask_account: Account


def parse_market(fields: Fields) -> Market:
    """A `/v1/market/all` element."""
    event = fields.nested("market_event") if fields.has("market_event") else None
    has_caution = event is not None and event.has("caution")
    caution = event.true_flags("caution", CAUTION_FLAGS) if event is not None and has_caution else frozenset()
    return Market(
        market=fields.text("market"),
        korean_name=fields.text("korean_name"),
        english_name=fields.text("english_name"),
        warning=None if event is None else event.boolean("warning"),
        caution=caution,
    )


def parse_api_key(fields: Fields) -> ApiKey:
    """A `/v1/api_keys` element (`expire_at` with its offset)."""
    return ApiKey(access_key=fields.text("access_key"), expire_at=fields.aware_datetime("expire_at"))


def parse_candle(fields: Fields) -> Candle:
    """A minute or day candle; `candle_date_time_utc` becomes the aware UTC start.

    Prices must be positive and finite as floats, the volume not negative, and high and low must
    contain open and close: an impossible candle is a malformed response, never a signal.
    """
    keys = ("opening_price", "high_price", "low_price", "trade_price", "candle_acc_trade_volume")
    open_, high, low, close, volume = (float(fields.decimal(key)) for key in keys)
    for key, value in zip(keys, (open_, high, low, close, volume), strict=True):
        floor_ok = value >= 0 if key == "candle_acc_trade_volume" else value > 0
        if not (math.isfinite(value) and floor_ok):
            raise UpbitResponseError(f"candle: field {key!r} is out of range: {value}")
    if high < max(open_, close) or low > min(open_, close):
        raise UpbitResponseError(f"candle: high {high} / low {low} do not contain open and close")
    start = fields.utc_datetime("candle_date_time_utc")
    return Candle(start=start, open=open_, high=high, low=low, close=close, volume=volume)


def parse_ticker(fields: Fields) -> Ticker:
    """A `/v1/ticker` element."""
    return Ticker(
        market=fields.text("market"),
        trade_price=fields.decimal("trade_price"),
        opening_price=fields.decimal("opening_price"),
        high_price=fields.decimal("high_price"),
        low_price=fields.decimal("low_price"),
        prev_closing_price=fields.decimal("prev_closing_price"),
        change=fields.text("change"),
        signed_change_rate=fields.decimal("signed_change_rate"),
        acc_trade_price_24h=fields.decimal("acc_trade_price_24h"),
        acc_trade_volume_24h=fields.decimal("acc_trade_volume_24h"),
        timestamp=fields.epoch_millis("timestamp"),
    )


def parse_orderbook(fields: Fields) -> Orderbook:
    """A `/v1/orderbook` element."""
    units = tuple(
        OrderbookUnit(
            ask_price=unit.decimal("ask_price"),
            bid_price=unit.decimal("bid_price"),
            ask_size=unit.decimal("ask_size"),
            bid_size=unit.decimal("bid_size"),
        )
        for unit in fields.objects("orderbook_units")
    )
    return Orderbook(
        market=fields.text("market"),
        timestamp=fields.epoch_millis("timestamp"),
        total_ask_size=fields.decimal("total_ask_size"),
        total_bid_size=fields.decimal("total_bid_size"),
        units=units,
    )


def parse_instrument(fields: Fields) -> Instrument:
    """A `/v1/orderbook/instruments` element."""
    return Instrument(
        market=fields.text("market"),
        quote_currency=fields.text("quote_currency"),
        tick_size=fields.decimal("tick_size"),
        supported_levels=fields.texts("supported_levels") if fields.has("supported_levels") else (),
    )


def parse_account(fields: Fields) -> Account:
    """A `/v1/accounts` element (also `bid_account`/`ask_account` of the chance)."""
    modified = fields.boolean("avg_buy_price_modified") if fields.has("avg_buy_price_modified") else False
    return Account(
        currency=fields.text("currency"),
        balance=fields.decimal("balance"),
        locked=fields.decimal("locked"),
        avg_buy_price=fields.decimal("avg_buy_price"),
        avg_buy_price_modified=modified,
        unit_currency=fields.text("unit_currency"),
    )


def parse_order_chance(fields: Fields) -> OrderChance:
    """The `/v1/orders/chance` object."""
    market = fields.nested("market")
    rules = MarketRules(
        market=market.text("id"),
        state=market.text("state"),
        bid_types=market.texts("bid_types") if market.has("bid_types") else (),
        ask_types=market.texts("ask_types") if market.has("ask_types") else (),
        bid_min_total=market.nested("bid").decimal("min_total"),
        ask_min_total=market.nested("ask").decimal("min_total"),
        max_total=market.decimal("max_total"),
    )
    bid_fee, ask_fee = fields.decimal("bid_fee"), fields.decimal("ask_fee")
    maker_bid_fee = fields.optional_decimal("maker_bid_fee")
    maker_ask_fee = fields.optional_decimal("maker_ask_fee")
    return OrderChance(
        bid_fee=bid_fee,
        ask_fee=ask_fee,
        maker_bid_fee=bid_fee if maker_bid_fee is None else maker_bid_fee,
        maker_ask_fee=ask_fee if maker_ask_fee is None else maker_ask_fee,
        market=rules,
        bid_account=parse_account(fields.nested("bid_account")),
        ask_account=parse_account(fields.nested("ask_account")),
    )
