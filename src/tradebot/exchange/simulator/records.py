"""Simulated orders and trades, and their JSON as Upbit sends it (upbit-api.md §3.4, §3.5).

Field presence follows `ord_type`: a market buy (`price`) has no `volume`, `remaining_volume` or
`prevented_volume`; a market sell (`market`) has no `price`. `executed_funds` only appears in
list answers and `trades` only in `GET /v1/order`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from tradebot.core.krw_rules import MONEY
from tradebot.exchange.simulator.formatting import amount_text, kst_text

ZERO = Decimal(0)
OPEN_STATES = frozenset({"wait", "watch"})


@dataclass(frozen=True, slots=True)
class SimTrade:
    """One fill."""

    uuid: str
    market: str
    side: str
    price: Decimal
    volume: Decimal
    funds: Decimal
    fee: Decimal
    created_at: datetime

    def document(self) -> dict[str, object]:
        """Upbit's `trades[]` element."""
        return {
            "market": self.market,
            "uuid": self.uuid,
            "price": amount_text(self.price),
            "volume": amount_text(self.volume),
            "funds": amount_text(self.funds),
            "trend": "up" if self.side == "bid" else "down",
            "created_at": kst_text(self.created_at),
            "side": self.side,
        }


@dataclass(slots=True)
class SimOrder:
    """An order and its bookkeeping; `locked` is what the order still holds in the wallet."""

    uuid: str
    access_key: str
    market: str
    side: str
    ord_type: str
    price: Decimal | None
    volume: Decimal | None
    created_at: datetime
    sequence: int
    reserved_fee: Decimal
    locked: Decimal
    lock_currency: str
    identifier: str | None = None
    time_in_force: str | None = None
    smp_type: str | None = None
    state: str = "wait"
    executed_volume: Decimal = ZERO
    executed_funds: Decimal = ZERO
    paid_fee: Decimal = ZERO
    checked_index: int = -1  # last path candle already compared with a resting limit price
    trades: list[SimTrade] = field(default_factory=list)

    @property
    def is_open(self) -> bool:
        """True while the order can still fill or be cancelled."""
        return self.state in OPEN_STATES

    @property
    def remaining_volume(self) -> Decimal | None:
        """Volume still to fill; None for a market buy, which is sized in KRW."""
        if self.volume is None:
            return None
        return MONEY.subtract(self.volume, self.executed_volume)

    @property
    def remaining_fee(self) -> Decimal:
        """Reserved fee not (yet) charged."""
        return MONEY.subtract(self.reserved_fee, self.paid_fee) if self.side == "bid" else ZERO

    def record(self, trade: SimTrade, spent_from_lock: Decimal) -> None:
        """Book a fill: volume, funds and fee, and what it took out of the order's lock."""
        self.trades.append(trade)
        self.executed_volume = MONEY.add(self.executed_volume, trade.volume)
        self.executed_funds = MONEY.add(self.executed_funds, trade.funds)
        self.paid_fee = MONEY.add(self.paid_fee, trade.fee)
        self.locked = MONEY.subtract(self.locked, spent_from_lock)


def order_document(
    order: SimOrder, *, with_trades: bool = False, with_funds: bool = False
) -> dict[str, object]:
    """The order as Upbit answers it, keys in Upbit's order."""
    document: dict[str, object] = {"uuid": order.uuid, "side": order.side, "ord_type": order.ord_type}
    if order.price is not None:
        document["price"] = amount_text(order.price)
    document.update(state=order.state, market=order.market, created_at=kst_text(order.created_at))
    remaining = order.remaining_volume
    if order.volume is not None and remaining is not None:
        document.update(
            volume=amount_text(order.volume),
            remaining_volume=amount_text(remaining),
            prevented_volume="0",
        )
    document.update(
        reserved_fee=amount_text(order.reserved_fee),
        remaining_fee=amount_text(order.remaining_fee),
        paid_fee=amount_text(order.paid_fee),
        locked=amount_text(order.locked),
        prevented_locked="0",
        executed_volume=amount_text(order.executed_volume),
    )
    if with_funds:
        document["executed_funds"] = amount_text(order.executed_funds)
    document["trades_count"] = len(order.trades)
    for key in ("time_in_force", "smp_type", "identifier"):
        value = getattr(order, key)
        if value is not None:
            document[key] = value
    if with_trades:
        document["trades"] = [trade.document() for trade in order.trades]
    return document
