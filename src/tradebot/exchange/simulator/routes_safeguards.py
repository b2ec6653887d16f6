"""Upbit's safeguards in the simulator: `/v1/api_keys`, and the admin routes that flag, suspend or
delist a market and limit a key (expiry, allowed IP addresses). Admin routes need the admin token.

- `PUT /_admin/markets/event {"market", "warning"?, "caution"?: [FLAG, ...]}`: the `market_event`
  flags (`caution` lists the flags set; every other flag is cleared);
- `PUT /_admin/markets/suspension {"market", "suspended"}`: orders refused with `market_offline`;
- `POST /_admin/markets/delist {"market"}`: the market leaves the list, its quotations 404;
- `PUT /_admin/keys {"access_key", "expire_at"?, "allowed_ips"?}`: null lifts a limit.
"""

from __future__ import annotations

from datetime import UTC

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tradebot.core.safeguards import CautionFlag
from tradebot.exchange.simulator.formatting import kst_text
from tradebot.exchange.simulator.market import MarketData
from tradebot.exchange.simulator.routes_admin import admin_body, admin_error, admin_only
from tradebot.exchange.simulator.web import UpbitJSONResponse, authenticated, exchange_of, read_params


class _MarketEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")
    market: str
    warning: bool = False
    caution: list[CautionFlag] = Field(default_factory=list)


class _Suspension(BaseModel):
    model_config = ConfigDict(extra="forbid")
    market: str
    suspended: bool


class _Delisting(BaseModel):
    model_config = ConfigDict(extra="forbid")
    market: str


class _KeyLimits(BaseModel):
    model_config = ConfigDict(extra="forbid")
    access_key: str = Field(min_length=1)
    expire_at: AwareDatetime | None = None
    allowed_ips: list[str] | None = None


async def api_keys(request: Request) -> Response:
    """`GET /v1/api_keys`: the request's key with its expiry (Upbit lists the account's keys)."""
    params = await read_params(request)
    exchange = exchange_of(request)
    with exchange.lock:
        account = authenticated(request, params)
        expire_at = account.limits.shown_expiry(exchange.clock.now())
    return UpbitJSONResponse([{"access_key": account.access_key, "expire_at": kst_text(expire_at)}])


def _market_state(market: MarketData) -> dict[str, object]:
    return {"market": market.code, "market_event": market.flags.event_document(),
            "suspended": market.flags.suspended}  # fmt: skip


def _known(request: Request, code: str) -> MarketData:
    market = exchange_of(request).markets.get(code)
    if market is None:
        raise admin_error(f"unknown market {code}")
    return market


async def set_market_event(request: Request) -> Response:
    """`PUT /_admin/markets/event`: set a market's `warning` and `caution` flags."""
    wanted = await admin_body(request, _MarketEvent)
    with exchange_of(request).lock:
        market = _known(request, wanted.market)
        market.flags.warning, market.flags.caution = wanted.warning, set(wanted.caution)
        return UpbitJSONResponse(_market_state(market))


async def set_suspension(request: Request) -> Response:
    """`PUT /_admin/markets/suspension`: suspend (or resume) trading in a market."""
    wanted = await admin_body(request, _Suspension)
    with exchange_of(request).lock:
        market = _known(request, wanted.market)
        market.flags.suspended = wanted.suspended
        return UpbitJSONResponse(_market_state(market))


async def delist(request: Request) -> Response:
    """`POST /_admin/markets/delist`: remove a market (its open orders are cancelled)."""
    wanted = await admin_body(request, _Delisting)
    exchange = exchange_of(request)
    with exchange.lock:
        try:
            cancelled = exchange.delist(wanted.market)
        except ValueError as error:
            raise admin_error(str(error)) from None
    return UpbitJSONResponse({"market": wanted.market, "delisted": True, "cancelled_orders": cancelled})


async def set_key_limits(request: Request) -> Response:
    """`PUT /_admin/keys`: a key's expiry and allowed IP addresses (null: no limit)."""
    wanted = await admin_body(request, _KeyLimits)
    exchange = exchange_of(request)
    with exchange.lock:
        account = exchange.accounts.get(wanted.access_key)
        if account is None:
            raise admin_error(f"unknown access key {wanted.access_key}")
        expire_at = None if wanted.expire_at is None else wanted.expire_at.astimezone(UTC)
        allowed = None if wanted.allowed_ips is None else frozenset(wanted.allowed_ips)
        account.limits.expire_at, account.limits.allowed_ips = expire_at, allowed
    return UpbitJSONResponse(
        {"access_key": wanted.access_key, "expire_at": None if expire_at is None else kst_text(expire_at),
         "allowed_ips": None if allowed is None else sorted(allowed)}
    )  # fmt: skip


ROUTES = [
    Route("/v1/api_keys", api_keys, methods=["GET"]),
    Route("/_admin/markets/event", admin_only(set_market_event), methods=["PUT"]),
    Route("/_admin/markets/suspension", admin_only(set_suspension), methods=["PUT"]),
    Route("/_admin/markets/delist", admin_only(delist), methods=["POST"]),
    Route("/_admin/keys", admin_only(set_key_limits), methods=["PUT"]),
]
