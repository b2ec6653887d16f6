"""Exchange endpoints: balances, order rules and the order lifecycle (§3), all behind the JWT."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tradebot.exchange.simulator.accounts import SimAccount
from tradebot.exchange.simulator.errors import validation_error
from tradebot.exchange.simulator.exchange import SimulatedExchange
from tradebot.exchange.simulator.formatting import amount_text
from tradebot.exchange.simulator.params import RequestParams
from tradebot.exchange.simulator.wallet import QUOTE_CURRENCY, Holding
from tradebot.exchange.simulator.web import UpbitJSONResponse, authenticated, exchange_of, read_params

Handler = Callable[[SimulatedExchange, SimAccount, RequestParams], object]
Endpoint = Callable[[Request], Awaitable[Response]]


def _endpoint(handler: Handler, status: int = 200) -> Endpoint:
    """A route that reads the parameters, authenticates, and runs `handler` under the lock."""

    async def endpoint(request: Request) -> Response:
        params = await read_params(request)
        exchange = exchange_of(request)
        with exchange.lock:
            account = authenticated(request, params)
            document = handler(exchange, account, params)
        return UpbitJSONResponse(document, status_code=status)

    return endpoint


def account_document(currency: str, holding: Holding) -> dict[str, object]:
    """One `/v1/accounts` element (§3.2)."""
    return {
        "currency": currency,
        "balance": amount_text(holding.balance),
        "locked": amount_text(holding.locked),
        "avg_buy_price": amount_text(holding.avg_buy_price),
        "avg_buy_price_modified": currency == QUOTE_CURRENCY,
        "unit_currency": QUOTE_CURRENCY,
    }


def accounts(exchange: SimulatedExchange, account: SimAccount, params: RequestParams) -> object:
    """`GET /v1/accounts`."""
    exchange.refresh()
    return [account_document(currency, holding) for currency, holding in account.wallet.holdings()]


def chance(exchange: SimulatedExchange, account: SimAccount, params: RequestParams) -> object:
    """`GET /v1/orders/chance?market=KRW-BTC` (§3.3)."""
    code = params.first("market")
    if not code:
        raise validation_error("market is missing")
    exchange.refresh()
    market = exchange.market(code)
    fee = amount_text(exchange.engine.fee_rate)
    coin, quote = market.base_currency, market.quote_currency
    rules = {
        "id": code,
        "name": f"{coin}/{quote}",
        "order_types": ["limit"],
        "order_sides": ["ask", "bid"],
        "bid_types": ["best_fok", "best_ioc", "limit", "limit_fok", "limit_ioc", "price"],
        "ask_types": ["best_fok", "best_ioc", "limit", "limit_fok", "limit_ioc", "market"],
        "bid": {"currency": quote, "min_total": "5000"},
        "ask": {"currency": coin, "min_total": "5000"},
        "max_total": "1000000000",
        "state": "active",
    }
    wallet = account.wallet
    return {
        "bid_fee": fee,
        "ask_fee": fee,
        "maker_bid_fee": fee,
        "maker_ask_fee": fee,
        "market": rules,
        "bid_account": account_document(quote, wallet.holding(quote)),
        "ask_account": account_document(coin, wallet.holding(coin)),
    }


ROUTES = [
    Route("/v1/accounts", _endpoint(accounts), methods=["GET"]),
    Route("/v1/orders/chance", _endpoint(chance), methods=["GET"]),
    Route("/v1/orders", _endpoint(lambda e, a, p: e.place(a, p), 201), methods=["POST"]),
    Route("/v1/orders", _endpoint(lambda e, a, p: e.legacy_orders(a, p)), methods=["GET"]),
    Route("/v1/orders/test", _endpoint(lambda e, a, p: e.place(a, p, test=True), 201), methods=["POST"]),
    Route("/v1/order", _endpoint(lambda e, a, p: e.order(a, p)), methods=["GET"]),
    Route("/v1/order", _endpoint(lambda e, a, p: e.cancel(a, p)), methods=["DELETE"]),
    Route("/v1/orders/open", _endpoint(lambda e, a, p: e.open_orders(a, p)), methods=["GET"]),
    Route("/v1/orders/open", _endpoint(lambda e, a, p: e.cancel_open(a, p)), methods=["DELETE"]),
    Route("/v1/orders/closed", _endpoint(lambda e, a, p: e.closed_orders(a, p)), methods=["GET"]),
    Route("/v1/orders/uuids", _endpoint(lambda e, a, p: e.orders_by_ids(a, p)), methods=["GET"]),
    Route("/v1/orders/uuids", _endpoint(lambda e, a, p: e.cancel_by_ids(a, p)), methods=["DELETE"]),
    Route(
        "/v1/orders/cancel_and_new", _endpoint(lambda e, a, p: e.cancel_and_new(a, p), 201), methods=["POST"]
    ),
]
