"""What the exchange tells its listeners: prices set, orders changed, time moved.

The WebSocket streams (`stream_hub`) listen; the REST routes do not need to. Every call is made
with the exchange lock held, so a listener sees the state exactly as it was at that moment and
must not block (it copies what it needs and hands it to its own loop).
"""

from __future__ import annotations

from typing import Protocol

from tradebot.exchange.simulator.accounts import SimAccount
from tradebot.exchange.simulator.records import SimOrder, SimTrade


class ExchangeObserver(Protocol):
    """Receives the exchange's events; every method is called under the exchange lock."""

    def price_set(self, market: str) -> None:
        """`POST /_admin/price` made a trade at a new price in `market`."""

    def order_changed(self, account: SimAccount, order: SimOrder, trade: SimTrade | None) -> None:
        """An order was created, filled (`trade` is the fill) or ended."""

    def clock_moved(self) -> None:
        """Simulated time was stepped forward by hand."""


class NoObserver:
    """The listener of an exchange nobody streams from."""

    def price_set(self, market: str) -> None:
        """Nothing to do."""

    def order_changed(self, account: SimAccount, order: SimOrder, trade: SimTrade | None) -> None:
        """Nothing to do."""

    def clock_moved(self) -> None:
        """Nothing to do."""
