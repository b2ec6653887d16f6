"""TEST mode: market orders filled on the paper ledger at the latest price, worsened by slippage.

The ledger is `core.ledger.PaperAccount`, the same one the backtest fills through, so a TEST run and
a backtest book identical money for identical decisions.
"""

from __future__ import annotations

from decimal import Decimal

from tradebot.core.broker import Holdings, OrderOutcome, OrderStatus
from tradebot.core.errors import OrderRejected
from tradebot.core.krw_rules import MONEY, to_decimal
from tradebot.core.ledger import PaperAccount

BASIS_POINTS = Decimal(10_000)


class PaperBroker:
    """A `Broker` over a `PaperAccount`; orders fill at once, in process, or are refused."""

    def __init__(self, account: PaperAccount, slippage_bps: float) -> None:
        self.account = account
        self.fee_rate = account.fee_rate
        slippage = to_decimal(slippage_bps) / BASIS_POINTS
        self._buy_factor, self._sell_factor = 1 + slippage, 1 - slippage

    def holdings(self) -> Holdings:
        """The ledger's KRW, volume and entry price."""
        return Holdings(self.account.krw, self.account.volume, self.account.entry_price)

    def buy(self, total_krw: Decimal, identifier: str, price: Decimal) -> OrderOutcome:
        """Fill at `price` plus slippage, or refuse with Upbit's error name."""
        try:
            fill = self.account.market_buy(total_krw, MONEY.multiply(price, self._buy_factor))
        except OrderRejected as refusal:
            return OrderOutcome(
                identifier, OrderStatus.REFUSED, error_name=refusal.name, message=refusal.message
            )
        return OrderOutcome(identifier, OrderStatus.FILLED, fill, uuid=f"paper-{identifier}")

    def sell(self, volume: Decimal, identifier: str, price: Decimal) -> OrderOutcome:
        """Fill at `price` minus slippage, or refuse with Upbit's error name."""
        try:
            fill = self.account.market_sell(volume, MONEY.multiply(price, self._sell_factor))
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
