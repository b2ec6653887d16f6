"""The port through which the engine trades: a paper ledger in TEST mode, Upbit in LIVE mode.

The engine never branches on the mode: it sends a market buy or sell with an identifier and gets
an `OrderOutcome` back. A broker never raises for a refused or lost order; it says so in the
outcome, so every order ends as a row in the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Protocol

from tradebot.core.krw_rules import Fill


class OrderStatus(StrEnum):
    """Where an order stands once the broker returns."""

    FILLED = "filled"  # final with an executed volume: `fill` holds the real numbers
    REFUSED = "refused"  # the exchange said no (`error_name`), or it ended with nothing filled
    PENDING = "pending"  # accepted, not final yet: follow it up by identifier
    UNKNOWN = "unknown"  # no answer: whether it exists must be looked up by identifier


@dataclass(frozen=True, slots=True)
class OrderOutcome:
    """What became of one order."""

    identifier: str
    status: OrderStatus
    fill: Fill | None = None
    uuid: str | None = None
    error_name: str | None = None
    message: str = ""


@dataclass(frozen=True, slots=True)
class Holdings:
    """KRW and one coin, as the account holds them."""

    krw: Decimal
    volume: Decimal
    average_price: Decimal | None


class Broker(Protocol):
    """Market orders for one user and one market."""

    fee_rate: Decimal

    def holdings(self) -> Holdings:
        """Free KRW, coin volume and average buy price."""
        ...

    def buy(self, total_krw: Decimal, identifier: str, price: Decimal) -> OrderOutcome:
        """Market buy for `total_krw` (fee on top).

        `price` is the expected fill price, `core.execution.paper_fill_price` of the latest price:
        a paper broker fills exactly there; the exchange fills at its own prices.
        """
        ...

    def sell(self, volume: Decimal, identifier: str, price: Decimal) -> OrderOutcome:
        """Market sell of `volume`; `price` is the expected fill price, as for `buy`."""
        ...

    def follow_up(self, identifier: str) -> OrderOutcome:
        """The current outcome of an order sent earlier (after a restart or a lost answer)."""
        ...
