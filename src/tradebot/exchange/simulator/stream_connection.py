"""One open WebSocket connection: its subscription, its outgoing queue and its faults.

Everything here runs on the server's event loop. Messages are queued by the hub (`offer`) and
written by one sender task, which applies stalls and message faults; the receiving side reads
requests and closes the connection when the client has been silent too long.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from dataclasses import dataclass

from starlette.websockets import WebSocket, WebSocketDisconnect

from tradebot.exchange.simulator.stream_faults import StreamFaults
from tradebot.exchange.simulator.stream_format import Document, StreamFormat, encode, simplified
from tradebot.exchange.simulator.stream_protocol import ConnectionLink
from tradebot.exchange.simulator.stream_subscription import Subscription

MAX_QUEUED = 10_000  # a client this far behind is cut off, as a real server would
REORDER_HOLD_SECONDS = 2.0  # a held-back message goes out alone if nothing follows it by then
_ids = itertools.count(1)


@dataclass(frozen=True, slots=True)
class ConnectionInfo:
    """Who is on the other end: the endpoint, and the account of a private connection."""

    path: str
    access_key: str | None = None

    @property
    def private(self) -> bool:
        """True for `/websocket/v1/private`."""
        return self.access_key is not None


class StreamConnection:
    """The server's side of one WebSocket connection."""

    def __init__(
        self, websocket: WebSocket, info: ConnectionInfo, faults: StreamFaults, link: ConnectionLink | None
    ) -> None:
        self.id = next(_ids)
        self.websocket = websocket
        self.info = info
        self.subscription: Subscription | None = None
        self._faults = faults
        self._link = link
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._stalled_until = 0.0
        self._closing = False

    @property
    def wire_format(self) -> StreamFormat:
        """The format of the current subscription (DEFAULT before the first one)."""
        return self.subscription.wire_format if self.subscription is not None else "DEFAULT"

    def offer(self, message_type: str, code: str, document: Document) -> None:
        """Queue a REALTIME message if the subscription wants it."""
        if self.subscription is None:
            return
        request = self.subscription.wanted(message_type, code)
        if request is None:
            return
        depth = request.depth_of(code) if message_type == "orderbook" else None
        if depth is not None:
            units = document.get("orderbook_units")
            document = {**document, "orderbook_units": units[:depth] if isinstance(units, list) else units}
        self.send_document({**document, "stream_type": "REALTIME"})

    def send_document(self, document: Document) -> None:
        """Queue one message in this connection's format."""
        self.send_frame(encode(document, self.wire_format))

    def send_control(self, document: Document) -> None:
        """Queue an answer that is not a market message (`LIST_SUBSCRIPTIONS`, errors, status)."""
        if self.wire_format in ("SIMPLE", "SIMPLE_LIST") and "method" in document:
            document = {
                "mthd": document["method"],
                "rslt": _simple_listing(document),
                "tckt": document["ticket"],
            }
        self.send_frame(encode(document, "DEFAULT"))

    def send_frame(self, frame: bytes) -> None:
        """Queue raw frame bytes; a client too far behind is dropped."""
        if self._closing:
            return
        if self._queue.qsize() >= MAX_QUEUED:
            self.drop()
            return
        self._queue.put_nowait(frame)

    def stall(self, seconds: float) -> None:
        """Send nothing for `seconds` (what is queued meanwhile goes out afterwards)."""
        loop = asyncio.get_running_loop()
        self._stalled_until = max(self._stalled_until, loop.time() + seconds)

    def drop(self) -> None:
        """Cut the TCP connection without a close frame, as a network failure does."""
        self._closing = True
        if self._link is not None:
            self._link.abort()
        self._queue.put_nowait(None)

    def finish(self) -> None:
        """Stop the sender (the connection is closing)."""
        self._closing = True
        self._queue.put_nowait(None)

    def seconds_since_activity(self) -> float:
        """How long the client has sent nothing at all (no request, no ping)."""
        if self._link is None:
            return 0.0
        return asyncio.get_running_loop().time() - self._link.last_activity

    async def run_sender(self) -> None:
        """Write queued frames until the connection ends, applying stalls and faults."""
        held: bytes | None = None
        with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
            while True:
                frame = await self._next_frame(held is not None)
                if frame is None and held is None:
                    return
                await self._wait_out_stall()
                if frame is None:  # nothing followed a held-back message: it goes out alone
                    frame, held = held, None
                    if self._closing:
                        return
                    assert frame is not None
                    await self.websocket.send_bytes(frame)
                    continue
                fault = self._faults.choose(self.info.path)
                if fault == "reorder" and held is None:
                    held = frame
                    continue
                await self.websocket.send_bytes(
                    frame[: max(1, len(frame) // 2)] if fault == "malformed" else frame
                )
                if fault == "duplicate":
                    await self.websocket.send_bytes(frame)
                if held is not None:
                    await self.websocket.send_bytes(held)
                    held = None

    async def _next_frame(self, holding: bool) -> bytes | None:
        if not holding:
            return await self._queue.get()
        try:
            return await asyncio.wait_for(self._queue.get(), REORDER_HOLD_SECONDS)
        except TimeoutError:
            return None

    async def _wait_out_stall(self) -> None:
        loop = asyncio.get_running_loop()
        while (remaining := self._stalled_until - loop.time()) > 0:
            await asyncio.sleep(remaining)


def _simple_listing(document: Document) -> list[object]:
    result = document.get("result")
    if not isinstance(result, list):
        return []
    return [simplified(item) if isinstance(item, dict) else item for item in result]
