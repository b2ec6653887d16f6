"""Upbit exchange (private) REST client: balances, order rules, orders.

Order creation is never retried blindly. Every order carries an `identifier`, which Upbit keeps
unique forever (§3.6). After a timeout, a broken connection, a 5xx, a 429 or an unreadable answer
on `POST /v1/orders` the client waits, then asks `GET /v1/order?identifier=`:

- found: the first request did create the order; it is returned and nothing is resent;
- not found: Upbit has no order under that identifier, so the request is resent with the SAME
  identifier. Reusing it is what makes the resend safe: should the first request still land late,
  Upbit can accept only one of the two, so a duplicate order is impossible. (A fresh identifier
  would allow two orders.) If the resend is then refused, the first request may have landed in
  between (identifier taken, or its funds now locked), so the identifier is looked up once more
  and a found order wins over the refusal;
- lookup failed, or every attempt failed: `OrderStateUnknownError` carries the identifier so the
  engine can resolve it later.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from types import TracebackType

from tradebot.exchange.upbit.auth import Credentials, QueryPairs, Signer, SigningAlgorithm
from tradebot.exchange.upbit.errors import (
    OrderStateUnknownError,
    UpbitClientError,
    UpbitError,
    UpbitNotFoundError,
    UpbitOrderRejectedError,
    UpbitResponseError,
    UpbitTemporaryError,
)
from tradebot.exchange.upbit.models import (
    Account,
    ApiKey,
    OrderChance,
    parse_account,
    parse_api_key,
    parse_order_chance,
)
from tradebot.exchange.upbit.orders import (
    Order,
    OrderRequest,
    OrderState,
    check_identifier,
    check_market_code,
    parse_order,
)
from tradebot.exchange.upbit.parsing import Fields, as_list
from tradebot.exchange.upbit.session import ApiCall, UpbitSession

logger = logging.getLogger(__name__)

DEFAULT_ORDER_ATTEMPTS = 2
MAX_OPEN_ORDERS_LIMIT = 100
MAX_CLOSED_ORDERS_LIMIT = 1000
MAX_CLOSED_ORDERS_WINDOW = timedelta(days=7)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class UpbitExchangeClient:
    """Private endpoints of one API key. Reads are retried on temporary errors; writes are not."""

    def __init__(
        self,
        credentials: Credentials,
        session: UpbitSession | None = None,
        *,
        algorithm: SigningAlgorithm = "HS512",
        order_attempts: int = DEFAULT_ORDER_ATTEMPTS,
    ) -> None:
        if order_attempts < 1:
            raise ValueError("order_attempts must be at least 1")
        self.session = session if session is not None else UpbitSession()
        self._signer = Signer(credentials, algorithm)
        self._access_key = credentials.access_key
        self._order_attempts = order_attempts

    def __repr__(self) -> str:
        return f"UpbitExchangeClient(base_url={self.session.base_url!r})"

    def close(self) -> None:
        """Close the underlying session."""
        self.session.close()

    def __enter__(self) -> UpbitExchangeClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def get_accounts(self) -> list[Account]:
        """Every balance of the account (`GET /v1/accounts`)."""
        document = self._read(ApiCall("GET", "/v1/accounts", "default"))
        return [parse_account(item) for item in _objects(document, "GET /v1/accounts")]

    def list_api_keys(self) -> list[ApiKey]:
        """The account's API keys with their expiry (`GET /v1/api_keys`)."""
        document = self._read(ApiCall("GET", "/v1/api_keys", "default"))
        return [parse_api_key(item) for item in _objects(document, "GET /v1/api_keys")]

    def get_order_chance(self, market: str) -> OrderChance:
        """Fees, minimum totals and balances for `market` (`GET /v1/orders/chance`)."""
        query = (("market", check_market_code(market)),)
        document = self._read(ApiCall("GET", "/v1/orders/chance", "default", query))
        return parse_order_chance(Fields(document, "GET /v1/orders/chance"))

    def get_order(self, *, uuid: str | None = None, identifier: str | None = None) -> Order:
        """One order with its trades (`GET /v1/order`); `UpbitNotFoundError` if there is none."""
        query = _order_key(uuid, identifier)
        document = self._read(ApiCall("GET", "/v1/order", "default", query))
        return parse_order(Fields(document, "GET /v1/order"))

    def find_order(self, identifier: str) -> Order | None:
        """The order created with `identifier`, or None if Upbit has none."""
        try:
            return self.get_order(identifier=identifier)
        except UpbitNotFoundError:
            return None

    def cancel_order(self, *, uuid: str | None = None, identifier: str | None = None) -> Order:
        """Ask Upbit to cancel an order (`DELETE /v1/order`); not retried.

        The answer is the order as it was when the cancel was accepted, normally still `wait`
        (§3.4); call `get_order` for the final state and fills. After a temporary error the cancel
        may or may not have happened: `get_order` tells.
        """
        query = _order_key(uuid, identifier)
        call = ApiCall("DELETE", "/v1/order", "default", query)
        return parse_order(Fields(self._send(call), call.label))

    def list_open_orders(
        self,
        market: str | None = None,
        *,
        states: Sequence[OrderState] = (OrderState.WAIT,),
        page: int = 1,
        limit: int = MAX_OPEN_ORDERS_LIMIT,
        ascending: bool = False,
    ) -> list[Order]:
        """Open orders (`GET /v1/orders/open`), `wait` by default; `watch` are stop orders."""
        if not 1 <= limit <= MAX_OPEN_ORDERS_LIMIT or page < 1:
            raise ValueError(f"open orders: page >= 1 and limit 1..{MAX_OPEN_ORDERS_LIMIT}")
        query = [*_market_query(market), *_states_query(states)]
        query += [("page", str(page)), ("limit", str(limit)), ("order_by", _order_by(ascending))]
        return self._orders(ApiCall("GET", "/v1/orders/open", "default", tuple(query)))

    def list_closed_orders(
        self,
        market: str | None = None,
        *,
        states: Sequence[OrderState] = (),
        start_time: datetime | None = None,
        end_time: datetime | None = None,
        limit: int = MAX_OPEN_ORDERS_LIMIT,
        ascending: bool = False,
    ) -> list[Order]:
        """Finished orders (`GET /v1/orders/closed`), both `done` and `cancel` by default.

        The window is at most 7 days (Upbit's default: the last 7 days).
        """
        if not 1 <= limit <= MAX_CLOSED_ORDERS_LIMIT:
            raise ValueError(f"closed orders: limit must be 1..{MAX_CLOSED_ORDERS_LIMIT}")
        query = [*_market_query(market), *_states_query(states)]
        query += _window_query(start_time, end_time)
        query += [("limit", str(limit)), ("order_by", _order_by(ascending))]
        return self._orders(ApiCall("GET", "/v1/orders/closed", "default", tuple(query)))

    def validate_order(self, request: OrderRequest) -> Order:
        """Validate an order without placing it (`POST /v1/orders/test`); the uuid is unusable."""
        call = ApiCall("POST", "/v1/orders/test", "order-test", body=request.body_pairs())
        return parse_order(Fields(self._send(call), call.label))

    def create_order(self, request: OrderRequest) -> Order:
        """Place an order; see the module docstring for what happens when a request fails.

        Raises `UpbitOrderRejectedError` when Upbit refuses the order and
        `OrderStateUnknownError` when its outcome cannot be established.
        """
        call = ApiCall("POST", "/v1/orders", "order", body=request.body_pairs(), creates_order=True)
        failure: UpbitError | None = None
        for attempt in range(1, self._order_attempts + 1):
            try:
                return parse_order(Fields(self._send(call), call.label))
            except (UpbitTemporaryError, UpbitResponseError) as error:
                # A garbled 201 is as inconclusive as no answer: the order may well exist.
                failure = error
            except (UpbitOrderRejectedError, UpbitClientError) as refusal:
                if attempt == 1:
                    raise
                return self._found_or_raise(request.identifier, refusal)
            logger.warning("order %s: attempt %d failed: %s", request.identifier, attempt, failure)
            existing = self._lookup_after_failure(request.identifier, failure, attempt)
            if existing is not None:
                return existing
        raise OrderStateUnknownError(
            request.identifier, f"{self._order_attempts} attempts failed, last: {failure}"
        )

    def _lookup_after_failure(self, identifier: str, failure: UpbitError, attempt: int) -> Order | None:
        # Give a request that is still being processed time to show up before asking.
        self.session.clock.sleep(self.session.backoff(attempt))
        try:
            return self.find_order(identifier)
        except UpbitError as lookup_error:
            reason = f"request failed ({failure}) and the lookup failed ({lookup_error})"
            raise OrderStateUnknownError(identifier, reason) from None

    def _found_or_raise(self, identifier: str, refusal: UpbitError) -> Order:
        existing = self._lookup_after_failure(identifier, refusal, 1)
        if existing is not None:
            logger.warning("order %s: resend refused, but the first request landed", identifier)
            return existing
        raise refusal

    def _orders(self, call: ApiCall) -> list[Order]:
        return [parse_order(item) for item in _objects(self._read(call), call.label)]

    def _read(self, call: ApiCall) -> object:
        limiter = self.session.rate_limits.exchange(self._access_key, call.group)
        return self.session.send_with_retry(call, limiter, self._signer)

    def _send(self, call: ApiCall) -> object:
        limiter = self.session.rate_limits.exchange(self._access_key, call.group)
        return self.session.send(call, limiter, self._signer)


def _objects(document: object, what: str) -> list[Fields]:
    items = as_list(document, what)
    return [Fields(item, f"{what}[{index}]") for index, item in enumerate(items)]


def _order_key(uuid: str | None, identifier: str | None) -> QueryPairs:
    if (uuid is None) == (identifier is None):
        raise ValueError("give exactly one of uuid and identifier")
    if uuid is not None:
        return (("uuid", check_identifier(uuid)),)
    return (("identifier", check_identifier(str(identifier))),)


def _market_query(market: str | None) -> list[tuple[str, str]]:
    return [] if market is None else [("market", check_market_code(market))]


def _states_query(states: Sequence[OrderState]) -> list[tuple[str, str]]:
    return [("states[]", OrderState(state).value) for state in states]


def _order_by(ascending: bool) -> str:
    return "asc" if ascending else "desc"


def _window_query(start: datetime | None, end: datetime | None) -> list[tuple[str, str]]:
    for moment in (start, end):
        if moment is not None and moment.tzinfo is None:
            raise ValueError(f"order times must be aware datetimes, got {moment!r}")
    if start is not None and end is not None and not start <= end <= start + MAX_CLOSED_ORDERS_WINDOW:
        raise ValueError("closed orders: end_time must be within 7 days after start_time")
    query = []
    # Epoch milliseconds need no escaping, unlike an ISO time's `+09:00`.
    if start is not None:
        query.append(("start_time", str((start - EPOCH) // timedelta(milliseconds=1))))
    if end is not None:
        query.append(("end_time", str((end - EPOCH) // timedelta(milliseconds=1))))
    return query
