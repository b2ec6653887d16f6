"""Small HTTP helpers shared by the routes: JSON as Upbit writes it, parameters, authentication."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from tradebot.exchange.simulator.accounts import SimAccount
from tradebot.exchange.simulator.auth import authenticate
from tradebot.exchange.simulator.errors import ApiError
from tradebot.exchange.simulator.exchange import SimulatedExchange
from tradebot.exchange.simulator.params import RequestParams, from_body, from_json, from_query

JSON_CONTENT_TYPE = "application/json;charset=UTF-8"


class UpbitJSONResponse(Response):
    """Compact UTF-8 JSON with Upbit's exact content type."""

    media_type = JSON_CONTENT_TYPE

    def render(self, content: Any) -> bytes:
        """The body bytes."""
        return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def error_response(error: ApiError) -> UpbitJSONResponse:
    """Upbit's error body with the error's status."""
    return UpbitJSONResponse(error.body(), status_code=error.status)


def exchange_of(request: Request) -> SimulatedExchange:
    """The simulator state the app serves."""
    exchange: SimulatedExchange = request.app.state.exchange
    return exchange


async def read_params(request: Request) -> RequestParams:
    """Parameters from wherever this client put them (see `params`)."""
    if request.method == "POST":
        return from_json(await request.body())
    raw_query = request.scope.get("query_string", b"").decode("latin-1")
    if raw_query:
        return from_query(raw_query)
    return from_body(await request.body(), request.headers.get("content-type", ""))


def authenticated(request: Request, params: RequestParams) -> SimAccount:
    """The account whose JWT signed this request (call with the exchange lock held)."""
    exchange = exchange_of(request)
    client_ip = request.client.host if request.client is not None else None
    return authenticate(
        request.headers.get("authorization"), params, exchange.accounts,
        client_ip=client_ip, now=exchange.clock.now(),
    )  # fmt: skip
