"""LIVE mode: real market orders through the Upbit client, each followed until it is final.

Orders carry the engine's deterministic identifier, so an order whose answer was lost is found
again by `follow_up`, never sent twice. Refusals keep Upbit's error name.
"""

from __future__ import annotations

from decimal import Decimal

from tradebot.core.broker import NOT_FOUND, Holdings, OrderOutcome, OrderStatus
from tradebot.core.clock import Clock
from tradebot.core.krw_rules import MONEY, Fill
from tradebot.exchange.account_reads import CycleAccounts
from tradebot.exchange.upbit import (
    Account,
    Order,
    OrderRequest,
    OrderSide,
    OrderState,
    UpbitError,
    UpbitExchangeClient,
    UpbitOrderRejectedError,
)
from tradebot.exchange.upbit.exchange_api import MAX_CLOSED_ORDERS_LIMIT

POLL_SECONDS = 0.25
FOLLOW_SECONDS = 5.0


class LiveBroker:
    """A `Broker` for one market of one Upbit account."""

    def __init__(
        self,
        client: UpbitExchangeClient,
        market: str,
        clock: Clock,
        fee_rate: Decimal,
        accounts: CycleAccounts | None = None,
    ) -> None:
        self._client = client
        self._market = market
        self._clock = clock
        self.fee_rate = fee_rate
        self._accounts = accounts  # the user's account read of this cycle (None: read every time)

    def holdings(self) -> Holdings:
        """Free KRW, free and locked coin, and Upbit's average buy price (`GET /v1/accounts`).

        A deposited coin has an average buy price of 0: reported as None (unknown), which is fine
        because the bot's entry price comes from its own fills, never from this figure.
        """
        return self._holdings(self._client.get_accounts())

    def cycle_holdings(self) -> Holdings:
        """`holdings` from the account read this cycle by the user's loop or another guard."""
        if self._accounts is None:
            return self.holdings()
        return self._holdings(self._accounts.read(self._client.get_accounts))

    def _holdings(self, accounts: list[Account]) -> Holdings:
        coin = self._market.split("-", 1)[1]
        balances = {account.currency: account for account in accounts}
        krw = balances["KRW"].balance if "KRW" in balances else Decimal(0)
        held = balances.get(coin)
        if held is None or held.balance + held.locked == 0:
            return Holdings(krw, Decimal(0), None)
        average = held.avg_buy_price if held.avg_buy_price > 0 else None
        return Holdings(krw, held.balance, average, held.locked)

    def buy(self, total_krw: Decimal, identifier: str, price: Decimal) -> OrderOutcome:
        """Send a market buy (`ord_type=price`) and follow it."""
        return self._place(OrderRequest.market_buy(self._market, total_krw, identifier), identifier)

    def sell(self, volume: Decimal, identifier: str, price: Decimal) -> OrderOutcome:
        """Send a market sell (`ord_type=market`) and follow it."""
        return self._place(OrderRequest.market_sell(self._market, volume, identifier), identifier)

    def follow_up(self, identifier: str) -> OrderOutcome:
        """Look the order up by identifier, then in the open and closed lists of the market.

        `not_found` (REFUSED) means Upbit answered both ways that it holds no such order *now*;
        the order desk decides when that is final (it may still show up). A failed lookup is
        UNKNOWN, never a refusal.
        """
        self._balances_change()  # it may have filled since the cycle's account read
        try:
            order = self._client.find_order(identifier) or self._listed(identifier)
        except UpbitError as error:
            return OrderOutcome(identifier, OrderStatus.UNKNOWN, error_name=_name(error), message=str(error))
        if order is None:
            return OrderOutcome(
                identifier, OrderStatus.REFUSED, error_name=NOT_FOUND, message="Upbit shows no such order"
            )
        return self._follow(order, identifier)

    def _listed(self, identifier: str) -> Order | None:
        """The order with `identifier` among the market's open orders or last 7 days' closed ones."""
        listed = [
            *self._client.list_open_orders(self._market, states=(OrderState.WAIT, OrderState.WATCH)),
            *self._client.list_closed_orders(self._market, limit=MAX_CLOSED_ORDERS_LIMIT),
        ]
        found = next((order for order in listed if order.identifier == identifier), None)
        # The lists carry no trades: the single-order lookup by uuid gives the fills.
        return None if found is None else self._client.get_order(uuid=found.uuid)

    def _place(self, request: OrderRequest, identifier: str) -> OrderOutcome:
        self._balances_change()  # whatever the answer, the order may have reached the exchange
        try:
            order = self._client.create_order(request)
        except UpbitOrderRejectedError as refusal:
            return OrderOutcome(
                identifier, OrderStatus.REFUSED, error_name=refusal.name, message=refusal.message
            )
        except UpbitError as error:
            # 418, auth errors, timeouts, 5xx: a resend inside the client may have landed, so the
            # order is doubtful until a lookup by identifier settles it (the desk follows it up).
            return OrderOutcome(identifier, OrderStatus.UNKNOWN, error_name=_name(error), message=str(error))
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

    def _balances_change(self) -> None:
        if self._accounts is not None:
            self._accounts.forget()


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
