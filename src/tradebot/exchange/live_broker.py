"""LIVE mode: real market orders through the Upbit client, each followed until it is final.

Orders carry the engine's deterministic identifier, so an order whose answer was lost is found
again by `follow_up`, never sent twice. Refusals keep Upbit's error name.
"""

from __future__ import annotations

from decimal import Decimal

from tradebot.core.broker import Holdings, OrderOutcome, OrderStatus
from tradebot.core.clock import Clock
from tradebot.core.krw_rules import MONEY, Fill
from tradebot.exchange.upbit import (
    Order,
    OrderRequest,
    OrderSide,
    OrderStateUnknownError,
    UpbitError,
    UpbitExchangeClient,
    UpbitOrderRejectedError,
    UpbitTemporaryError,
)

POLL_SECONDS = 0.25
FOLLOW_SECONDS = 5.0


class LiveBroker:
    """A `Broker` for one market of one Upbit account."""

    def __init__(self, client: UpbitExchangeClient, market: str, clock: Clock, fee_rate: Decimal) -> None:
        self._client = client
        self._market = market
        self._clock = clock
        self.fee_rate = fee_rate

    def holdings(self) -> Holdings:
        """Free KRW, free coin volume and Upbit's average buy price (`GET /v1/accounts`)."""
        coin = self._market.split("-", 1)[1]
        balances = {account.currency: account for account in self._client.get_accounts()}
        krw = balances["KRW"].balance if "KRW" in balances else Decimal(0)
        held = balances.get(coin)
        if held is None or held.balance == 0:
            return Holdings(krw, Decimal(0), None)
        average = held.avg_buy_price if held.avg_buy_price > 0 else None
        return Holdings(krw, held.balance, average)

    def buy(self, total_krw: Decimal, identifier: str, price: Decimal) -> OrderOutcome:
        """Send a market buy (`ord_type=price`) and follow it."""
        return self._place(OrderRequest.market_buy(self._market, total_krw, identifier), identifier)

    def sell(self, volume: Decimal, identifier: str, price: Decimal) -> OrderOutcome:
        """Send a market sell (`ord_type=market`) and follow it."""
        return self._place(OrderRequest.market_sell(self._market, volume, identifier), identifier)

    def follow_up(self, identifier: str) -> OrderOutcome:
        """Look the order up by identifier: final, still open, or never placed."""
        try:
            order = self._client.find_order(identifier)
        except UpbitError as error:
            return OrderOutcome(identifier, OrderStatus.UNKNOWN, error_name=_name(error), message=str(error))
        if order is None:
            return OrderOutcome(
                identifier, OrderStatus.REFUSED, error_name="not_found", message="Upbit has no such order"
            )
        return self._follow(order, identifier)

    def _place(self, request: OrderRequest, identifier: str) -> OrderOutcome:
        try:
            order = self._client.create_order(request)
        except UpbitOrderRejectedError as refusal:
            return OrderOutcome(
                identifier, OrderStatus.REFUSED, error_name=refusal.name, message=refusal.message
            )
        except (OrderStateUnknownError, UpbitTemporaryError) as error:
            return OrderOutcome(identifier, OrderStatus.UNKNOWN, error_name=_name(error), message=str(error))
        except UpbitError as error:  # auth, blocked, bad request: nothing was placed
            return OrderOutcome(identifier, OrderStatus.REFUSED, error_name=_name(error), message=str(error))
        return self._follow(order, identifier)

    def _follow(self, order: Order, identifier: str) -> OrderOutcome:
        """Poll the order until it is final or FOLLOW_SECONDS have passed (then: PENDING)."""
        waited = 0.0
        while not order.is_final or order.trades is None:
            if waited >= FOLLOW_SECONDS:
                return OrderOutcome(
                    identifier, OrderStatus.PENDING, uuid=order.uuid, message=f"still {order.state}"
                )
            self._clock.sleep(POLL_SECONDS)
            waited += POLL_SECONDS
            try:
                order = self._client.get_order(uuid=order.uuid)
            except UpbitError as error:
                return OrderOutcome(identifier, OrderStatus.UNKNOWN, uuid=order.uuid, message=str(error))
        return _outcome(order, identifier)


def _outcome(order: Order, identifier: str) -> OrderOutcome:
    funds, price = order.filled_funds, order.average_fill_price
    if not order.is_filled or funds is None or price is None:
        return OrderOutcome(identifier, OrderStatus.REFUSED, uuid=order.uuid, error_name="cancelled_unfilled")
    fee = order.paid_fee
    if order.side is OrderSide.BID:
        delta = MONEY.minus(MONEY.add(funds, fee))
        fill = Fill("bid", price, order.executed_volume, funds, fee, delta)
    else:
        fill = Fill("ask", price, order.executed_volume, funds, fee, MONEY.subtract(funds, fee))
    return OrderOutcome(identifier, OrderStatus.FILLED, fill, uuid=order.uuid)


def _name(error: UpbitError) -> str:
    return str(error.name) if error.name is not None else type(error).__name__
