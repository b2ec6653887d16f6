"""Admin endpoints under `/_admin/`: drive the clock and prices, inject faults, inspect state.

They exist for tests and demos on loopback and must never be reachable from anywhere else. Every
admin request carries the run's admin token in the `X-Admin-Token` header (random per run unless
the config sets one; printed at start), and a request with a body must be `application/json`.
A web page open in the operator's browser can send neither a custom header nor a JSON body to
another origin without a CORS preflight, which this server never grants, so it cannot move prices.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Awaitable, Callable
from decimal import Decimal, InvalidOperation
from functools import wraps
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tradebot.exchange.simulator.accounts import SimAccount
from tradebot.exchange.simulator.errors import ApiError
from tradebot.exchange.simulator.faults import FaultInjector, FaultSettings, ScheduledFault
from tradebot.exchange.simulator.formatting import amount_text
from tradebot.exchange.simulator.ratelimit import RateLimitSettings, Throttle
from tradebot.exchange.simulator.records import order_document
from tradebot.exchange.simulator.request_log import RequestTally
from tradebot.exchange.simulator.web import UpbitJSONResponse, exchange_of

ModelT = TypeVar("ModelT", bound=BaseModel)
MAX_STEP_SECONDS = 366 * 86_400  # a year per call keeps a path extension to ~0.5 M candles
ADMIN_TOKEN_HEADER = "X-Admin-Token"  # noqa: S105 - the header's name, not a token
JSON_MEDIA_TYPE = "application/json"
Endpoint = Callable[[Request], Awaitable[Response]]


def new_admin_token() -> str:
    """A random admin token for one run of the simulator."""
    return secrets.token_urlsafe(32)


def _check_admin_request(request: Request) -> None:
    """The run's admin token, and JSON for a body; else an Upbit-shaped 401 or 415."""
    expected: str = request.app.state.admin_token
    given = request.headers.get(ADMIN_TOKEN_HEADER, "")
    if not secrets.compare_digest(given.encode("utf-8"), expected.encode("utf-8")):
        raise ApiError(
            401, "invalid_admin_token", f"admin requests need this run's admin token in {ADMIN_TOKEN_HEADER}"
        )
    has_body = request.method in ("POST", "PUT") or request.headers.get("content-length", "0") != "0"
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if has_body and media_type != JSON_MEDIA_TYPE:
        raise ApiError(415, "unsupported_media_type", f"admin request bodies must be {JSON_MEDIA_TYPE}")


def admin_only(endpoint: Endpoint) -> Endpoint:
    """`endpoint` answering only requests with this run's admin token (and JSON bodies)."""

    @wraps(endpoint)
    async def checked(request: Request) -> Response:
        _check_admin_request(request)
        return await endpoint(request)

    return checked


class _Step(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seconds: float = Field(ge=0, le=MAX_STEP_SECONDS)


class _Speed(BaseModel):
    model_config = ConfigDict(extra="forbid")
    speed: float = Field(ge=0, le=1_000_000)


class _Price(BaseModel):
    model_config = ConfigDict(extra="forbid")
    market: str
    price: Decimal
    bid: Decimal | None = None
    ask: Decimal | None = None


class _NewAccount(BaseModel):
    model_config = ConfigDict(extra="forbid")
    access_key: str = Field(min_length=1)
    secret_key: str = Field(min_length=1)
    balances: dict[str, Decimal] = Field(default_factory=dict)


def admin_error(message: str) -> ApiError:
    """The answer to a bad admin request."""
    return ApiError(400, "invalid_admin_request", message)


async def admin_body(request: Request, model: type[ModelT]) -> ModelT:
    """The request's JSON body as `model`, or a 400 `invalid_admin_request`."""
    raw = await request.body()
    try:
        return model.model_validate(json.loads(raw or b"{}", parse_float=Decimal))
    except (ValueError, ValidationError, InvalidOperation) as error:
        first = error.errors()[0] if isinstance(error, ValidationError) else None
        detail = f"{'.'.join(map(str, first['loc']))}: {first['msg']}" if first else str(error)
        raise admin_error(detail.splitlines()[0]) from None


def _throttle(request: Request) -> Throttle:
    throttle: Throttle = request.app.state.throttle
    return throttle


def _faults(request: Request) -> FaultInjector:
    faults: FaultInjector = request.app.state.faults
    return faults


async def request_counts(request: Request) -> Response:
    """`GET /_admin/requests`: API requests answered, per method, path and market."""
    tally: RequestTally = request.app.state.requests
    return UpbitJSONResponse({"counts": tally.snapshot()})


async def reset_request_counts(request: Request) -> Response:
    """`DELETE /_admin/requests`: start counting from zero."""
    tally: RequestTally = request.app.state.requests
    tally.reset()
    return UpbitJSONResponse({"counts": {}})


def _clock_state(request: Request) -> dict[str, object]:
    clock = exchange_of(request).clock
    return {"now": clock.now().isoformat(), "speed": clock.speed}


async def state(request: Request) -> Response:
    """`GET /_admin/state`: clock, markets with prices, faults and rate-limit settings."""
    exchange = exchange_of(request)
    with exchange.lock:
        now_ns = exchange.refresh()
        prices = {code: amount_text(market.price(now_ns)) for code, market in exchange.markets.items()}
    faults = _faults(request)
    return UpbitJSONResponse(
        {
            "clock": _clock_state(request),
            "prices": prices,
            "faults": faults.settings.model_dump(),
            "scheduled_faults": [fault.model_dump() for fault in faults.scheduled()],
            "rate_limits": _throttle(request).settings.model_dump(),
        }
    )


async def step(request: Request) -> Response:
    """`POST /_admin/clock/step {"seconds": 60}`: move simulated time forward."""
    seconds = (await admin_body(request, _Step)).seconds
    exchange = exchange_of(request)
    with exchange.lock:
        exchange.step_clock(seconds)
    return UpbitJSONResponse(_clock_state(request))


async def speed(request: Request) -> Response:
    """`POST /_admin/clock/speed {"speed": 0}`: 0 stops the clock, 1 is real time."""
    exchange_of(request).clock.set_speed((await admin_body(request, _Speed)).speed)
    return UpbitJSONResponse(_clock_state(request))


async def price(request: Request) -> Response:
    """`POST /_admin/price {"market", "price", "bid"?, "ask"?}`: set the last price (and book)."""
    wanted = await admin_body(request, _Price)
    exchange = exchange_of(request)
    with exchange.lock:
        try:
            exchange.set_price(wanted.market, wanted.price, wanted.bid, wanted.ask)
        except ValueError as error:
            raise admin_error(str(error)) from None
        now_ns = exchange.clock.now_ns()
        bid, ask = exchange.markets[wanted.market].best_quotes(now_ns)
    return UpbitJSONResponse(
        {
            "market": wanted.market,
            "price": amount_text(wanted.price),
            "bid": amount_text(bid),
            "ask": amount_text(ask),
        }
    )


async def set_faults(request: Request) -> Response:
    """`PUT /_admin/faults`: random faults for the rest of the run (all fields optional)."""
    settings = await admin_body(request, FaultSettings)
    _faults(request).configure(settings)
    return UpbitJSONResponse(settings.model_dump())


async def schedule_fault(request: Request) -> Response:
    """`POST /_admin/faults/next {"kind", "method"?, "path"?, "count"?}`: fault the next requests."""
    fault = await admin_body(request, ScheduledFault)
    _faults(request).schedule(fault)
    return UpbitJSONResponse(fault.model_dump())


async def clear_faults(request: Request) -> Response:
    """`DELETE /_admin/faults`: no faults any more."""
    _faults(request).reset()
    return UpbitJSONResponse({"faults": FaultSettings().model_dump()})


async def fault_counts(request: Request) -> Response:
    """`GET /_admin/faults/counts`: injected faults by kind, the rate limits' 429s / 418s by status."""
    return UpbitJSONResponse(_faults(request).counts())


async def reset_fault_counts(request: Request) -> Response:
    """`DELETE /_admin/faults/counts`: count from zero."""
    _faults(request).reset_counts()
    return UpbitJSONResponse(_faults(request).counts())


async def set_rate_limits(request: Request) -> Response:
    """`PUT /_admin/rate-limits`: enforcement, 418 threshold and block time, 429 body format."""
    settings = await admin_body(request, RateLimitSettings)
    throttle = _throttle(request)
    throttle.settings = settings
    throttle.reset()
    return UpbitJSONResponse(settings.model_dump())


async def reset_rate_limits(request: Request) -> Response:
    """`DELETE /_admin/rate-limits`: forget request counts and lift every block."""
    _throttle(request).reset()
    request.app.state.stream_limits.reset()
    return UpbitJSONResponse({"reset": True})


def _account_summary(account: SimAccount) -> dict[str, object]:
    balances = [
        {
            "currency": currency,
            "balance": amount_text(holding.balance),
            "locked": amount_text(holding.locked),
            "avg_buy_price": amount_text(holding.avg_buy_price),
        }
        for currency, holding in account.wallet.holdings()
    ]
    return {"access_key": account.access_key, "balances": balances, "orders": len(account.orders)}


async def list_accounts(request: Request) -> Response:
    """`GET /_admin/accounts`: every account's balances (secrets are never shown)."""
    exchange = exchange_of(request)
    with exchange.lock:
        exchange.refresh()
        return UpbitJSONResponse([_account_summary(account) for account in exchange.accounts.values()])


async def add_account(request: Request) -> Response:
    """`POST /_admin/accounts {"access_key", "secret_key", "balances"}`: open another account."""
    wanted = await admin_body(request, _NewAccount)
    exchange = exchange_of(request)
    with exchange.lock:
        if wanted.access_key in exchange.accounts:
            raise admin_error(f"account {wanted.access_key} already exists")
        try:
            account = SimAccount.funded(wanted.access_key, wanted.secret_key, wanted.balances)
        except ValueError as error:
            raise admin_error(str(error)) from None
        exchange.accounts[account.access_key] = account
        return UpbitJSONResponse(_account_summary(account), status_code=201)


async def list_orders(request: Request) -> Response:
    """`GET /_admin/orders?access_key=...&market=...`: every order with its trades, oldest first."""
    access_key, market = request.query_params.get("access_key"), request.query_params.get("market")
    exchange = exchange_of(request)
    with exchange.lock:
        exchange.refresh()
        orders = [
            order
            for account in exchange.accounts.values()
            if access_key is None or account.access_key == access_key
            for order in account.orders.values()
            if market is None or order.market == market
        ]
        orders.sort(key=lambda order: order.sequence)
        documents = [
            {"access_key": order.access_key, **order_document(order, with_trades=True)} for order in orders
        ]
    return UpbitJSONResponse(documents)


ROUTES = [
    Route("/_admin/state", admin_only(state), methods=["GET"]),
    Route("/_admin/clock/step", admin_only(step), methods=["POST"]),
    Route("/_admin/clock/speed", admin_only(speed), methods=["POST"]),
    Route("/_admin/price", admin_only(price), methods=["POST"]),
    Route("/_admin/faults", admin_only(set_faults), methods=["PUT"]),
    Route("/_admin/faults", admin_only(clear_faults), methods=["DELETE"]),
    Route("/_admin/faults/next", admin_only(schedule_fault), methods=["POST"]),
    Route("/_admin/faults/counts", admin_only(fault_counts), methods=["GET"]),
    Route("/_admin/faults/counts", admin_only(reset_fault_counts), methods=["DELETE"]),
    Route("/_admin/rate-limits", admin_only(set_rate_limits), methods=["PUT"]),
    Route("/_admin/rate-limits", admin_only(reset_rate_limits), methods=["DELETE"]),
    Route("/_admin/accounts", admin_only(list_accounts), methods=["GET"]),
    Route("/_admin/accounts", admin_only(add_account), methods=["POST"]),
    Route("/_admin/orders", admin_only(list_orders), methods=["GET"]),
    Route("/_admin/requests", admin_only(request_counts), methods=["GET"]),
    Route("/_admin/requests", admin_only(reset_request_counts), methods=["DELETE"]),
]
