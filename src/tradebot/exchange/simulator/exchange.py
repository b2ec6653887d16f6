"""The simulated exchange: clock, markets, accounts and orders behind one lock.

Routes call these methods with parsed parameters and get JSON-ready documents back; every call
first brings resting orders up to the clock, so a limit order fills as soon as simulated time
passes a candle that reaches its price, whoever asks next.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from decimal import Decimal

from tradebot.core.krw_rules import DEFAULT_FEE_RATE
from tradebot.exchange.simulator import order_queries as queries
from tradebot.exchange.simulator.accounts import SimAccount
from tradebot.exchange.simulator.clock import SimulatedClock
from tradebot.exchange.simulator.errors import ApiError, code_not_found, order_not_found, validation_error
from tradebot.exchange.simulator.events import ExchangeObserver
from tradebot.exchange.simulator.market import MarketData
from tradebot.exchange.simulator.matching import MatchingEngine
from tradebot.exchange.simulator.params import RequestParams
from tradebot.exchange.simulator.records import SimOrder, order_document
from tradebot.exchange.simulator.safeguards import suspended_error
from tradebot.exchange.simulator.validation import identifier_of, parse_order

Document = dict[str, object]
OPEN = frozenset({"wait", "watch"})
CLOSED = frozenset({"done", "cancel"})
ANY_STATE = OPEN | CLOSED


class SimulatedExchange:
    """Every piece of simulator state; thread-safe through `lock`."""

    def __init__(
        self,
        clock: SimulatedClock,
        markets: dict[str, MarketData],
        accounts: Iterable[SimAccount],
        *,
        fee_rate: Decimal = DEFAULT_FEE_RATE,
    ) -> None:
        self.clock = clock
        self.markets = markets
        self.accounts = {account.access_key: account for account in accounts}
        self.engine = MatchingEngine(fee_rate)
        self.lock = threading.RLock()

    @property
    def observer(self) -> ExchangeObserver:
        """Who hears of prices set, orders changed and clock steps (the WebSocket streams)."""
        return self.engine.observer

    @observer.setter
    def observer(self, observer: ExchangeObserver) -> None:
        self.engine.observer = observer

    def step_clock(self, seconds: float) -> None:
        """Move simulated time forward by hand; resting orders the path reached fill."""
        self.clock.advance(seconds)
        self.refresh()
        self.engine.observer.clock_moved()

    def refresh(self) -> int:
        """Fill resting orders the price path has reached; the simulated now in ns."""
        now_ns = self.clock.now_ns()
        for account in self.accounts.values():
            for order in list(account.orders.values()):
                market = self.markets.get(order.market)  # None: delisted (its orders were cancelled)
                if market is not None and order.is_open and order.ord_type == "limit":
                    self.engine.follow_path(account, order, market, now_ns)
        return now_ns

    def market(self, code: str) -> MarketData:
        """A market by code, or Upbit's 404 `Code not found`."""
        market = self.markets.get(code)
        if market is None:
            raise code_not_found()
        return market

    def delist(self, code: str) -> int:
        """Take a market off the exchange: gone from `/v1/market/all`, its quotations 404.

        Its open orders are cancelled first, as Upbit does at a delisting (and a resting order
        must not follow a price path that no longer exists). Returns how many were cancelled.
        """
        if code not in self.markets:
            raise ValueError(f"unknown market {code}")
        self.refresh()
        cancelled = 0
        for account in self.accounts.values():
            for order in list(account.orders.values()):
                if order.market == code and order.state == "wait":
                    self.engine.cancel(account, order)
                    cancelled += 1
        del self.markets[code]
        return cancelled

    def set_price(self, code: str, price: Decimal, bid: Decimal | None, ask: Decimal | None) -> None:
        """Set a market's last price (and optionally best bid/ask); resting orders it crosses fill."""
        market = self.markets.get(code)
        if market is None:
            raise ValueError(f"unknown market {code}")
        now_ns = self.refresh()
        market.set_price(now_ns, price, bid, ask)
        self.engine.observer.price_set(code)  # the trade prints before the orders it crosses fill
        for account in self.accounts.values():
            for order in list(account.orders.values()):
                if order.is_open and order.market == code and order.ord_type == "limit":
                    self.engine.follow_price(account, order, price, now_ns)

    def place(self, account: SimAccount, params: RequestParams, *, test: bool = False) -> Document:
        """`POST /v1/orders` (or `/test`): the order as accepted, still `wait` (§3.5)."""
        now_ns = self.refresh()
        identifier = identifier_of(params)
        if identifier is not None and identifier in account.used_identifiers:
            raise ApiError(400, "duplicate_identifier", f"identifier {identifier} has already been used")
        if identifier is not None and not test:
            account.used_identifiers.add(identifier)  # burnt even if the order is refused (§3.6)
        spec = parse_order(params, self.markets)
        market = self.markets[spec.market]
        if market.flags.suspended:
            raise suspended_error()
        if test:
            return order_document(self.engine.preview(account, spec, market, now_ns))
        order = self.engine.open_order(account, spec, market, now_ns)
        snapshot = order_document(order)
        self.engine.execute(account, order, market, now_ns)
        return snapshot

    def order(self, account: SimAccount, params: RequestParams) -> Document:
        """`GET /v1/order`: the order with its trades."""
        self.refresh()
        return order_document(self._find(account, params), with_trades=True)

    def cancel(self, account: SimAccount, params: RequestParams) -> Document:
        """`DELETE /v1/order`: the order as it was when the cancel was accepted (§3.4 quirk)."""
        self.refresh()
        order = self._find(account, params)
        if order.state != "wait":
            raise order_not_found()
        snapshot = order_document(order)
        self.engine.cancel(account, order)
        return snapshot

    def _find(self, account: SimAccount, params: RequestParams) -> SimOrder:
        uuid, identifier = params.first("uuid"), params.first("identifier")
        if not uuid and not identifier:
            raise validation_error("uuid or identifier is missing")
        order = account.find_order(uuid or None, identifier or None)
        if order is None:
            raise order_not_found()
        return order

    def open_orders(self, account: SimAccount, params: RequestParams) -> list[Document]:
        """`GET /v1/orders/open`."""
        self.refresh()
        query = queries.listing(params, OPEN, frozenset({"wait"}), 100)
        return [
            order_document(order, with_funds=True) for order in queries.select(account.orders.values(), query)
        ]

    def closed_orders(self, account: SimAccount, params: RequestParams) -> list[Document]:
        """`GET /v1/orders/closed`: finished orders created within the time window."""
        now_ns = self.refresh()
        start, end = queries.closed_window(params, now_ns)
        query = queries.listing(params, CLOSED, CLOSED, 1000)
        window = [order for order in account.orders.values() if start <= order.created_at <= end]
        return [order_document(order, with_funds=True) for order in queries.select(window, query)]

    def legacy_orders(self, account: SimAccount, params: RequestParams) -> list[Document]:
        """The deprecated `GET /v1/orders` list pyupbit still uses."""
        self.refresh()
        query = queries.listing(params, ANY_STATE, frozenset({"wait"}), 100)
        orders: Iterable[SimOrder] = account.orders.values()
        if params.values("uuids") or params.values("identifiers"):
            kind, values = queries.ids_of(params, queries.MAX_ID_LOOKUPS)
            orders = [order for value in values if (order := queries.find(account, kind, value))]
        return [order_document(order, with_funds=True) for order in queries.select(orders, query)]

    def orders_by_ids(self, account: SimAccount, params: RequestParams) -> list[Document]:
        """`GET /v1/orders/uuids`."""
        self.refresh()
        kind, values = queries.ids_of(params, queries.MAX_ID_LOOKUPS)
        found = [order for value in values if (order := queries.find(account, kind, value))]
        query = queries.Listing(params.first("market"), ANY_STATE, queries.ascending(params), len(values))
        return [order_document(order, with_funds=True) for order in queries.select(found, query)]

    def cancel_by_ids(self, account: SimAccount, params: RequestParams) -> Document:
        """`DELETE /v1/orders/uuids`: cancel up to 20 orders, reporting each success and failure."""
        self.refresh()
        kind, values = queries.ids_of(params, queries.MAX_ID_CANCELS)
        cancelled: list[SimOrder] = []
        failed: list[Document] = []
        for value in values:
            order = queries.find(account, kind, value)
            if order is None or order.state != "wait":
                failed.append({kind: value, **({"market": order.market} if order else {})})
                continue
            self.engine.cancel(account, order)
            cancelled.append(order)
        return queries.batch_result(cancelled, failed)

    def cancel_open(self, account: SimAccount, params: RequestParams) -> Document:
        """`DELETE /v1/orders/open`: cancel `wait` orders by side and pairs."""
        self.refresh()
        side = params.first("cancel_side") or "all"
        pairs, quotes = params.list_values("pairs"), params.list_values("quote_currencies")
        if side not in ("all", "ask", "bid") or (pairs and quotes):
            raise validation_error("cancel_side, pairs or quote_currencies does not have a valid value")
        excluded = set(params.list_values("excluded_pairs"))
        count = queries.integer(params, "count", 20, 1, 300)
        targets = [
            order
            for order in account.orders.values()
            if order.state == "wait"
            and side in ("all", order.side)
            and (not pairs or order.market in pairs)
            and (not quotes or order.market.split("-", 1)[0] in quotes)
            and order.market not in excluded
        ]
        targets.sort(key=lambda order: order.sequence, reverse=not queries.ascending(params))
        for order in targets[:count]:
            self.engine.cancel(account, order)
        return queries.batch_result(targets[:count], [])

    def cancel_and_new(self, account: SimAccount, params: RequestParams) -> Document:
        """`POST /v1/orders/cancel_and_new`: cancel a `wait` order and place its replacement."""
        self.refresh()
        previous = account.find_order(params.first("prev_order_uuid"), params.first("prev_order_identifier"))
        if previous is None or previous.state != "wait":
            raise order_not_found()
        replacement = _replacement_params(previous, params)
        parse_order(replacement, self.markets)  # refuse a bad replacement before cancelling
        snapshot = order_document(previous)
        self.engine.cancel(account, previous)
        created = self.place(account, replacement)
        snapshot["new_order_uuid"] = created["uuid"]
        snapshot["new_order_identifier"] = created.get("identifier")
        return snapshot


def _replacement_params(previous: SimOrder, params: RequestParams) -> RequestParams:
    ord_type = params.first("new_ord_type")
    if ord_type is None:
        raise validation_error("new_ord_type is missing")
    pairs = [("market", previous.market), ("side", previous.side), ("ord_type", ord_type)]
    volume = params.first("new_volume")
    if volume == "remain_only":
        volume = str(previous.remaining_volume) if previous.remaining_volume is not None else None
    for key, value in (
        ("price", params.first("new_price")),
        ("volume", volume),
        ("identifier", params.first("new_identifier")),
        ("time_in_force", params.first("new_time_in_force")),
        ("smp_type", params.first("new_smp_type")),
    ):
        if value is not None:
            pairs.append((key, value))
    return RequestParams(tuple(pairs))
