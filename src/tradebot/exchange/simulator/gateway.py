"""What wraps every request before and after the routes (upbit-api.md §5, §11.7).

Counts the request against its rate-limit group, answers 429/418 when over budget (and counts
those answers), injects the configured faults, adds `Remaining-Req` (and `Limit-By-Ip` for
quotation) to every answer, and turns any crash into Upbit's error shape instead of a stack trace.

Every answer carries a `Date` header from the **simulated** clock (uvicorn's own, from the host
clock, is switched off in `server.py`): clients judge closed candles by the exchange's time, and
tests make it differ from the host's. It is read when the request arrives, before the route
reads any market data, so it is never later than what the answer shows (as a real server's
whole-second `Date` is never later than the moment it answered).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, MutableMapping
from datetime import datetime
from email.utils import format_datetime
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tradebot.exchange.simulator.auth import peek_access_key
from tradebot.exchange.simulator.faults import FaultInjector, FaultKind
from tradebot.exchange.simulator.ratelimit import QUOTATION_GROUPS, THROTTLED_TEXT, Throttle, group_of
from tradebot.exchange.simulator.request_log import RequestTally
from tradebot.exchange.simulator.web import JSON_CONTENT_TYPE, UpbitJSONResponse

logger = logging.getLogger(__name__)

CACHE_CONTROL = (b"cache-control", b"no-cache, no-store, max-age=0, must-revalidate")
MAINTENANCE_PAGE = b"<html><head><title>503 Service Temporarily Unavailable</title></head></html>"
Headers = list[tuple[bytes, bytes]]


class Gateway:
    """ASGI middleware: rate limits, faults and common headers around the Starlette app."""

    def __init__(
        self,
        app: ASGIApp,
        throttle: Throttle,
        faults: FaultInjector,
        tally: RequestTally | None = None,
        *,
        now: Callable[[], datetime],
    ) -> None:
        self.app = app
        self.throttle = throttle
        self.faults = faults
        self.tally = tally if tally is not None else RequestTally()
        self.now = now

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one request."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        date = (b"date", format_datetime(self.now(), usegmt=True).encode())
        group = group_of(method, path)
        if group is not None:
            self.tally.count(method, path, scope.get("query_string", b""))
        if group is None:
            await self._guarded(scope, receive, send, [CACHE_CONTROL, date], None)
            return
        verdict = self.throttle.check(_scope_key(scope, group), group)
        headers: Headers = [CACHE_CONTROL, date, (b"remaining-req", verdict.remaining_req.encode())]
        if group in QUOTATION_GROUPS:
            headers.append((b"limit-by-ip", b"Yes"))
        if verdict.status != 200:
            self.faults.note_rate_limited(verdict.status)
            await self._throttled(send, verdict.status, headers, verdict.retry_after)
            return
        fault = self.faults.choose(method, path)
        settings = self.faults.settings
        await asyncio.sleep(settings.latency_seconds + (settings.spike_seconds if fault == "spike" else 0))
        if fault == "error":
            await self._server_error(send, headers)
            return
        if fault == "throttle":
            await self._throttled(send, 429, headers, None)
            return
        if fault == "timeout":
            # Read the request first: it is processed after the stall even if the client is gone.
            receive = await _buffered(receive)
            await asyncio.sleep(settings.timeout_seconds)
        await self._guarded(scope, receive, send, headers, fault)

    async def _guarded(
        self, scope: Scope, receive: Receive, send: Send, headers: Headers, fault: FaultKind | None
    ) -> None:
        state: dict[str, Any] = {"started": False}
        sender = _HeaderSender(send, headers, fault, state)
        try:
            await self.app(scope, receive, sender)
        except Exception:
            # Starlette has already answered with Upbit's 500 shape and re-raises so the bug is
            # logged; log it here, once, and keep it away from the server's own handler.
            logger.exception("simulator error on %s %s", scope["method"], scope["path"])
            if not state["started"]:
                body = {"error": {"name": "server_error", "message": "internal simulator error"}}
                await UpbitJSONResponse(body, status_code=500, headers=_text_headers(headers))(
                    scope, receive, send
                )

    async def _throttled(self, send: Send, status: int, headers: Headers, retry_after: int | None) -> None:
        extra = list(headers)
        if retry_after is not None:
            extra.append((b"retry-after", str(retry_after).encode()))
        if self.throttle.settings.body == "json":
            name = "too_many_requests" if status == 429 else "too_many_requests_blocked"
            body = f'{{"error":{{"name":"{name}","message":"{THROTTLED_TEXT}"}}}}'.encode()
            await _send_raw(send, status, extra, body, JSON_CONTENT_TYPE.encode())
        else:
            text = THROTTLED_TEXT if status == 429 else f"{THROTTLED_TEXT} Blocked for {retry_after} seconds."
            await _send_raw(send, status, extra, text.encode(), b"text/plain;charset=UTF-8")

    async def _server_error(self, send: Send, headers: Headers) -> None:
        if self.faults.pick_error_page():
            await _send_raw(send, 503, headers, MAINTENANCE_PAGE, b"text/html")
        else:
            body = b'{"error":{"name":"server_error","message":"Internal server error"}}'
            await _send_raw(send, 500, headers, body, JSON_CONTENT_TYPE.encode())


def _text_headers(headers: Headers) -> dict[str, str]:
    return {name.decode(): value.decode() for name, value in headers}


def _scope_key(scope: Scope, group: str) -> str:
    client = scope.get("client")
    address = str(client[0]) if client else "unknown"
    if group in QUOTATION_GROUPS:
        return f"ip:{address}"
    authorization = dict(scope.get("headers", [])).get(b"authorization", b"").decode("latin-1")
    key = peek_access_key(authorization)
    return f"pocket:{key}" if key else f"ip:{address}"


async def _buffered(receive: Receive) -> Receive:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    pending = [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]

    async def replay() -> Message:
        return pending.pop() if pending else {"type": "http.disconnect"}

    return replay


async def _send_raw(send: Send, status: int, headers: Headers, body: bytes, content_type: bytes) -> None:
    all_headers = [*headers, (b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": all_headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


class _HeaderSender:
    """Adds the gateway's headers to the app's answer and applies `drop` / `malformed` faults."""

    def __init__(
        self, send: Send, headers: Headers, fault: FaultKind | None, state: MutableMapping[str, Any]
    ) -> None:
        self._send = send
        self._headers = headers
        self._fault = fault
        self._state = state
        self._start: Message | None = None

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self._state["started"] = True
            names = {name for name, _ in self._headers}
            kept = [(name, value) for name, value in message.get("headers", []) if name.lower() not in names]
            message = {**message, "headers": kept + self._headers}
            if self._fault in ("drop", "malformed"):
                self._start = message  # held until the body is known
                return
            await self._send(message)
        elif message["type"] == "http.response.body" and self._start is not None:
            await self._faulty_body(message)
        else:
            await self._send(message)

    async def _faulty_body(self, message: Message) -> None:
        assert self._start is not None
        if self._fault == "drop":
            # Status line and headers promise a body that never comes: returning without it makes
            # uvicorn close the connection, which the client sees as a broken response.
            await self._send(self._start)
            return
        body: bytes = message.get("body", b"")
        cut = body[: max(1, len(body) // 2)]
        headers = [
            (name, value) for name, value in self._start["headers"] if name.lower() != b"content-length"
        ]
        headers.append((b"content-length", str(len(cut)).encode()))
        await self._send({**self._start, "headers": headers})
        await self._send({"type": "http.response.body", "body": cut, "more_body": False})
