"""The DEFAULT-format stream messages, built from the same market views as the REST answers.

Ticker, candles and order book come from `MarketData` (so a stream message and a REST answer
at the same simulated moment agree); a trade message describes one `Tick`. `stream_type` is
added when the message is sent (SNAPSHOT or REALTIME), the format when it is encoded.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal

from tradebot.core.models import NANOS_PER_SECOND
from tradebot.exchange.simulator.accounts import SimAccount
from tradebot.exchange.simulator.candles import Period
from tradebot.exchange.simulator.formatting import candle_times, json_number, millis, nanos_to_utc
from tradebot.exchange.simulator.market import MarketData
from tradebot.exchange.simulator.records import SimOrder, SimTrade
from tradebot.exchange.simulator.stream_format import Document

MARKET_STATE = "ACTIVE"
_DROPPED_TICKER_KEYS = frozenset({"market", "trade_date_kst", "trade_time_kst"})


@dataclass(frozen=True, slots=True)
class Tick:
    """One trade on a market's stream: when, at what price, how much, and its unique id."""

    at_ns: int
    price: Decimal
    volume: float
    sequential_id: int
    ask_bid: str
    second: SecondCandle | None = None  # its 1-second candle as it stood right after this trade

    def with_second(self, candle: SecondCandle) -> Tick:
        """This tick carrying a copy of its 1-second candle."""
        return replace(self, second=replace(candle))


@dataclass(slots=True)
class SecondCandle:
    """The `candle.1s` candle of one second, built from the ticks streamed in it."""

    start_ns: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: float
    turnover: float
    last_ns: int

    @classmethod
    def opened_by(cls, tick: Tick) -> SecondCandle:
        """The candle of the second `tick` falls in, holding only `tick`."""
        start = tick.at_ns - tick.at_ns % NANOS_PER_SECOND
        price = tick.price
        return cls(start, price, price, price, price, tick.volume, float(price) * tick.volume, tick.at_ns)

    def add(self, tick: Tick) -> None:
        """Count one more tick of the same second."""
        self.high, self.low, self.close = max(self.high, tick.price), min(self.low, tick.price), tick.price
        self.volume += tick.volume
        self.turnover += float(tick.price) * tick.volume
        self.last_ns = tick.at_ns


def _header(message_type: str, code: str, at_ns: int) -> Document:
    return {"type": message_type, "code": code, "timestamp": millis(at_ns)}


def ticker_message(market: MarketData, at_ns: int, ask_bid: str) -> Document:
    """The ticker as of `at_ns`; `ask_bid` is the side of the trade that moved it."""
    rest = market.ticker(at_ns)
    volume = float(str(rest["acc_trade_volume"]))
    fields = {key: value for key, value in rest.items() if key not in _DROPPED_TICKER_KEYS}
    fields.pop("timestamp", None)
    return {
        **_header("ticker", market.code, at_ns),
        **fields,
        "ask_bid": ask_bid,
        # The path knows volumes, not sides: half of each, so the two add up to the total.
        "acc_ask_volume": round(volume / 2, 8),
        "acc_bid_volume": round(volume / 2, 8),
        "market_state": MARKET_STATE,
        "delisting_date": None,
    }


def trade_message(market: MarketData, tick: Tick, previous_close: float) -> Document:
    """The trade message of `tick`; `previous_close` is the previous UTC day's close."""
    moment = nanos_to_utc(tick.at_ns)
    bid, ask = market.best_quotes(tick.at_ns)
    level = market.levels(tick.at_ns, depth=1)[0]
    price = float(tick.price)
    change = price - previous_close
    return {
        **_header("trade", market.code, tick.at_ns),
        "trade_date": moment.date().isoformat(),
        "trade_time": moment.strftime("%H:%M:%S"),
        "trade_timestamp": millis(tick.at_ns),
        "trade_price": json_number(tick.price),
        "trade_volume": round(tick.volume, 8),
        "ask_bid": tick.ask_bid,
        "prev_closing_price": previous_close,
        "change": "RISE" if change > 0 else "FALL" if change < 0 else "EVEN",
        "change_price": abs(change),
        "sequential_id": tick.sequential_id,
        "best_ask_price": json_number(ask),
        "best_ask_size": float(level.ask_size),
        "best_bid_price": json_number(bid),
        "best_bid_size": float(level.bid_size),
    }


def minute_candle_message(market: MarketData, unit_minutes: int, at_ns: int) -> Document | None:
    """The `candle.<unit>m` candle holding `at_ns` as traded by then (the latest one before it)."""
    found = market.candles(Period("minutes", unit_minutes), at_ns, None, 1)
    if not found:
        return None
    rest = found[0]
    fields = {key: value for key, value in rest.items() if key not in ("market", "unit", "timestamp")}
    return {**_header(f"candle.{unit_minutes}m", market.code, at_ns), **fields}


def second_candle_message(code: str, candle: SecondCandle) -> Document:
    """The `candle.1s` message of `candle`."""
    utc, kst = candle_times(candle.start_ns)
    return {
        **_header("candle.1s", code, candle.last_ns),
        "candle_date_time_utc": utc,
        "candle_date_time_kst": kst,
        "opening_price": json_number(candle.open),
        "high_price": json_number(candle.high),
        "low_price": json_number(candle.low),
        "trade_price": json_number(candle.close),
        "candle_acc_trade_volume": round(candle.volume, 8),
        "candle_acc_trade_price": round(candle.turnover, 8),
    }


def orderbook_message(market: MarketData, at_ns: int, depth: int | None) -> Document:
    """The order book now, `depth` levels (all 30 when None)."""
    rest = market.orderbook(at_ns) if depth is None else market.orderbook(at_ns, depth)
    fields = {key: value for key, value in rest.items() if key not in ("market", "timestamp")}
    return {**_header("orderbook", market.code, at_ns), **fields}


def _number(value: Decimal | None) -> int | float | None:
    return None if value is None else json_number(value)


def my_order_message(order: SimOrder, trade: SimTrade | None, at_ns: int) -> Document:
    """One `myOrder` event: a fill (`trade` given, state `trade`) or the order's state now."""
    executed = order.executed_volume
    average = order.executed_funds / executed if executed > 0 else Decimal(0)
    document: Document = {
        **_header("myOrder", order.market, at_ns),
        "uuid": order.uuid,
        "ask_bid": "BID" if order.side == "bid" else "ASK",
        "order_type": order.ord_type,
        "state": "trade" if trade is not None else order.state,
        "trade_uuid": trade.uuid if trade is not None else None,
        # A fill reports its own price and volume; a state change the order's.
        "price": _number(trade.price if trade is not None else order.price),
        "avg_price": json_number(average),
        "volume": _number(trade.volume if trade is not None else order.volume),
        "remaining_volume": _number(order.remaining_volume),
        "executed_volume": json_number(executed),
        "trades_count": len(order.trades),
        "reserved_fee": json_number(order.reserved_fee),
        "remaining_fee": json_number(order.remaining_fee),
        "paid_fee": json_number(order.paid_fee),
        "locked": json_number(order.locked),
        "executed_funds": json_number(order.executed_funds),
        "prevented_volume": 0,
        "prevented_locked": 0,
        "trade_fee": json_number(trade.fee) if trade is not None else None,
        "is_maker": (order.ord_type == "limit" and trade.created_at > order.created_at)
        if trade is not None
        else None,
        "time_in_force": order.time_in_force,
        "smp_type": order.smp_type,
        "identifier": order.identifier,
        "trade_timestamp": millis(_nanos(trade)) if trade is not None else None,
        "order_timestamp": millis(_nanos_of(order)),
    }
    return document


def _nanos(trade: SimTrade) -> int:
    return int(trade.created_at.timestamp() * 1_000_000) * 1000


def _nanos_of(order: SimOrder) -> int:
    return int(order.created_at.timestamp() * 1_000_000) * 1000


def my_asset_message(account: SimAccount, currencies: list[str], at_ns: int, asset_uuid: str) -> Document:
    """One `myAsset` event: the balances of `currencies` now."""
    assets = [
        {
            "currency": currency,
            "balance": json_number(account.wallet.holding(currency).balance),
            "locked": json_number(account.wallet.holding(currency).locked),
        }
        for currency in currencies
    ]
    return {
        "type": "myAsset",
        "asset_uuid": asset_uuid,
        "assets": assets,
        "asset_timestamp": millis(at_ns),
        "timestamp": millis(at_ns),
    }
