"""The Starlette application: Upbit's routes, the admin routes and Upbit-shaped errors."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import ASGIApp

from tradebot.exchange.simulator import (
    routes_admin,
    routes_admin_streams,
    routes_exchange,
    routes_quotation,
    routes_safeguards,
    routes_stream,
)
from tradebot.exchange.simulator.errors import ApiError
from tradebot.exchange.simulator.exchange import SimulatedExchange
from tradebot.exchange.simulator.faults import FaultInjector
from tradebot.exchange.simulator.gateway import Gateway
from tradebot.exchange.simulator.ratelimit import Throttle
from tradebot.exchange.simulator.request_log import RequestTally
from tradebot.exchange.simulator.stream_hub import StreamHub
from tradebot.exchange.simulator.stream_limits import StreamLimits
from tradebot.exchange.simulator.web import UpbitJSONResponse, error_response

logger = logging.getLogger(__name__)


async def _api_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, ApiError)
    return error_response(error)


async def _http_error(request: Request, error: Exception) -> Response:
    # Unknown paths and methods: Upbit's shape with the status as an integer name.
    assert isinstance(error, HTTPException)
    return UpbitJSONResponse(
        {"error": {"name": error.status_code, "message": error.detail}}, error.status_code
    )


async def _disconnected(request: Request, error: Exception) -> Response:
    # The client left before its request was read; nobody will see this answer.
    return Response(status_code=400)


async def _crash(request: Request, error: Exception) -> Response:
    return UpbitJSONResponse({"error": {"name": "server_error", "message": "internal simulator error"}}, 500)


def build_app(
    exchange: SimulatedExchange,
    throttle: Throttle,
    faults: FaultInjector,
    *,
    admin_token: str,
    rate_timer: Callable[[], float] = time.monotonic,
) -> ASGIApp:
    """The ASGI app serving `exchange`, wrapped in the rate-limit and fault gateway.

    `/_admin` answers only requests carrying `admin_token` (see `routes_admin`). The WebSocket
    streams (`routes_stream`) hear the exchange's events through a `StreamHub`; their limits
    count on `rate_timer`, as the REST limits do.
    """
    app = Starlette(
        routes=[
            *routes_quotation.ROUTES,
            *routes_exchange.ROUTES,
            *routes_stream.ROUTES,
            *routes_admin.ROUTES,
            *routes_admin_streams.ROUTES,
            *routes_safeguards.ROUTES,
        ],
        exception_handlers={
            ApiError: _api_error,
            HTTPException: _http_error,
            ClientDisconnect: _disconnected,
            Exception: _crash,
        },
    )
    app.state.exchange = exchange
    app.state.throttle = throttle
    app.state.faults = faults
    app.state.admin_token = admin_token
    app.state.requests = RequestTally()
    app.state.streams = StreamHub(exchange)
    app.state.stream_limits = StreamLimits(rate_timer, lambda: throttle.settings.enforce)
    return Gateway(app, throttle, faults, app.state.requests, now=exchange.clock.now)
