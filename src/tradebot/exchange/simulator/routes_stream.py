"""`/websocket/v1` and `/websocket/v1/private` on the REST port (upbit-websocket.md).

A private connection is authenticated at the handshake with the REST JWT check (no query hash;
the nonce is used up); a failed check is refused with HTTP 401 and the error object
`INVALID_AUTH`. Too many new connections are refused with HTTP 429. Once open, a connection
takes subscription requests (each replaces the last), the text `PING` (answered `{"status":"UP"}`)
and `LIST_SUBSCRIPTIONS`; a client silent for `idle_seconds` (no request, no ping) is closed.
"""

from __future__ import annotations

import asyncio
import contextlib

from starlette.responses import PlainTextResponse
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from tradebot.exchange.simulator.auth import authenticate
from tradebot.exchange.simulator.errors import ApiError
from tradebot.exchange.simulator.exchange import SimulatedExchange
from tradebot.exchange.simulator.params import RequestParams
from tradebot.exchange.simulator.ratelimit import THROTTLED_TEXT
from tradebot.exchange.simulator.stream_connection import ConnectionInfo, StreamConnection
from tradebot.exchange.simulator.stream_hub import StreamHub
from tradebot.exchange.simulator.stream_limits import StreamLimits
from tradebot.exchange.simulator.stream_protocol import LINK_EXTENSION, ConnectionLink
from tradebot.exchange.simulator.stream_subscription import ListRequest, SubscriptionError, parse_request
from tradebot.exchange.simulator.web import UpbitJSONResponse

PUBLIC_PATH = "/websocket/v1"
PRIVATE_PATH = "/websocket/v1/private"
IDLE_CLOSE_CODE = 1000
TOO_MANY_SUBSCRIPTIONS = "TOO_MANY_REQUESTS"  # our name: the doc lists none for this case


def _error(name: str, message: str) -> dict[str, object]:
    return {"error": {"name": name, "message": message}}


async def public_stream(websocket: WebSocket) -> None:
    """`/websocket/v1`: ticker, trade, orderbook and candles."""
    await _serve(websocket, PUBLIC_PATH, access_key=None)


async def private_stream(websocket: WebSocket) -> None:
    """`/websocket/v1/private`: `myOrder` and `myAsset` of the JWT's account."""
    exchange: SimulatedExchange = websocket.app.state.exchange
    try:
        with exchange.lock:
            account = authenticate(
                websocket.headers.get("authorization"), RequestParams(()), exchange.accounts
            )
    except ApiError as error:
        await websocket.send_denial_response(UpbitJSONResponse(_error("INVALID_AUTH", error.message), 401))
        return
    await _serve(websocket, PRIVATE_PATH, access_key=account.access_key)


async def _serve(websocket: WebSocket, path: str, *, access_key: str | None) -> None:
    hub: StreamHub = websocket.app.state.streams
    limits: StreamLimits = websocket.app.state.stream_limits
    address = websocket.client.host if websocket.client else "unknown"
    scope_key = f"account:{access_key}" if access_key is not None else f"ip:{address}"
    if not limits.connection_allowed(scope_key, has_origin="origin" in websocket.headers, address=address):
        await websocket.send_denial_response(PlainTextResponse(THROTTLED_TEXT, 429))
        return
    await websocket.accept()
    link = websocket.scope.get("extensions", {}).get(LINK_EXTENSION)
    connection = StreamConnection(
        websocket,
        ConnectionInfo(path, access_key),
        hub.faults,
        link if isinstance(link, ConnectionLink) else None,
    )
    hub.register(connection)
    sender = asyncio.get_running_loop().create_task(connection.run_sender())
    try:
        await _receive(websocket, connection, hub, limits)
    finally:
        hub.unregister(connection)
        limits.closed(connection.id)
        connection.finish()
        with contextlib.suppress(Exception):
            await sender


async def _receive(
    websocket: WebSocket, connection: StreamConnection, hub: StreamHub, limits: StreamLimits
) -> None:
    while True:
        left = hub.settings.idle_seconds - connection.seconds_since_activity()
        if left <= 0:
            with contextlib.suppress(Exception):
                await websocket.close(IDLE_CLOSE_CODE, "idle timeout")
            return
        try:
            message = await asyncio.wait_for(websocket.receive(), left)
        except TimeoutError:
            continue
        if message["type"] == "websocket.disconnect":
            return
        text, data = message.get("text"), message.get("bytes")
        raw = text if text is not None else data
        if raw is not None:
            _handle(raw, connection, hub, limits)


def _handle(raw: str | bytes, connection: StreamConnection, hub: StreamHub, limits: StreamLimits) -> None:
    if (raw.strip() if isinstance(raw, str) else raw.strip().decode("utf-8", "replace")) == "PING":
        connection.send_control({"status": "UP"})
        return
    if not limits.subscription_allowed(connection.id):
        connection.send_control(_error(TOO_MANY_SUBSCRIPTIONS, "too many subscription requests"))
        return
    try:
        request = parse_request(raw, private=connection.info.private)
    except SubscriptionError as error:
        connection.send_control(_error(error.name, error.message))
        return
    if isinstance(request, ListRequest):
        current = connection.subscription
        listing = current.listing() if current is not None else {"method": "LIST_SUBSCRIPTIONS", "result": []}
        connection.send_control({**listing, "ticket": request.ticket})
        return
    hub.subscribed(connection, request)


ROUTES = [
    WebSocketRoute(PUBLIC_PATH, public_stream),
    WebSocketRoute(PRIVATE_PATH, private_stream),
]
