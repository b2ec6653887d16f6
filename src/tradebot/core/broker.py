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

# The error name of an order the exchange shows under no identifier, list or state right now; the
# order desk decides when that is final (TRADING_RULES "Restart and recovery" in docs/).
NOT_FOUND = "not_found"


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
    """KRW and one coin, as the account holds them (the user's own coins included).

    `volume` is the free coin and `locked` the coin held by open orders (the user's own limit
    orders too): the wallet holds `volume + locked`. `average_price` is the exchange's figure,
    which mixes in the user's coins: it is shown, never used as the bot's entry price.
    """

    krw: Decimal
    volume: Decimal
    average_price: Decimal | None
    locked: Decimal = Decimal(0)

    @property
    def wallet_volume(self) -> Decimal:
        """Free plus locked coin: everything the wallet holds of this coin."""
        return self.volume + self.locked


class Broker(Protocol):
    """Market orders for one user and one market."""

    fee_rate: Decimal

    def holdings(self) -> Holdings:
        """Free KRW, free and locked coin volume, and the exchange's average buy price."""
        ...

    def cycle_holdings(self) -> Holdings:
        """`holdings` for the once-a-cycle reconciliation: in LIVE one account read per user and
        cycle, shared by its loop and guards; never for sizing an order or booking a fill."""
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
