"""TEST mode: market orders filled on the paper ledger at the price the engine expects.

The engine computes that price with `core.execution.paper_fill_price` (the latest price worsened by
the slippage of the settings in force), the function the backtest fills at too, and the ledger is
`core.ledger.PaperAccount`, the one the backtest books on: a TEST run and a backtest book identical
money for identical decisions, and a new `slippage_bps` applies from the next order on.
"""

from __future__ import annotations

from decimal import Decimal

from tradebot.core.broker import Holdings, OrderOutcome, OrderStatus
from tradebot.core.errors import OrderRejected
from tradebot.core.ledger import PaperAccount


class PaperBroker:
    """A `Broker` over a `PaperAccount`; orders fill at once, in process, or are refused."""

    def __init__(self, account: PaperAccount) -> None:
        self.account = account
        self.fee_rate = account.fee_rate

    def holdings(self) -> Holdings:
        """The ledger's KRW, volume and entry price."""
        return Holdings(self.account.krw, self.account.volume, self.account.entry_price)

    def cycle_holdings(self) -> Holdings:
        """As `holdings`: the ledger costs no request."""
        return self.holdings()

    def buy(self, total_krw: Decimal, identifier: str, price: Decimal) -> OrderOutcome:
        """Fill at `price` (the expected fill price, slippage included), or refuse with Upbit's error name."""
        try:
            fill = self.account.market_buy(total_krw, price)
        except OrderRejected as refusal:
            return OrderOutcome(
                identifier, OrderStatus.REFUSED, error_name=refusal.name, message=refusal.message
            )
        return OrderOutcome(identifier, OrderStatus.FILLED, fill, uuid=f"paper-{identifier}")

    def sell(self, volume: Decimal, identifier: str, price: Decimal) -> OrderOutcome:
        """Fill at `price` (the expected fill price, slippage included), or refuse with Upbit's error name."""
        try:
            fill = self.account.market_sell(volume, price)
        except OrderRejected as refusal:
            return OrderOutcome(
                identifier, OrderStatus.REFUSED, error_name=refusal.name, message=refusal.message
            )
        return OrderOutcome(identifier, OrderStatus.FILLED, fill, uuid=f"paper-{identifier}")

    def follow_up(self, identifier: str) -> OrderOutcome:
        """A paper order either filled inside the transaction that recorded it or never happened.

        An order still recorded as requested after a restart was lost with the process before
        its fill was stored, and the ledger was not changed: it did not happen.
        """
        return OrderOutcome(
            identifier, OrderStatus.REFUSED, error_name="not_executed", message="lost before it was filled"
        )
