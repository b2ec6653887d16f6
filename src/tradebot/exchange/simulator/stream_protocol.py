"""uvicorn's WebSocket protocol with two additions the streams need and ASGI cannot give.

ASGI hides WebSocket pings and offers no way to cut a connection without a close handshake.
Upbit counts a client's ping as activity (an idle connection is closed after ~120 s) and the
fault injection must be able to drop a connection the way a network does. This protocol puts a
`ConnectionLink` into each connection's scope (`scope["extensions"][LINK_EXTENSION]`): the loop
time of the client's last frame of any kind, and `abort()`, which closes the TCP connection at
once. Server-side keep-alive pings are off (`server.py`): the client keeps itself alive.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request

LINK_EXTENSION = "tradebot.stream_link"


@dataclass(slots=True)
class ConnectionLink:
    """What the app may know and do about one connection beyond ASGI."""

    last_activity: float
    abort: Callable[[], None]


class TrackingWebSocketProtocol(WebSocketsSansIOProtocol):
    """Records the client's last frame (pings included) and offers an abrupt abort."""

    link: ConnectionLink | None = None

    def handle_connect(self, event: Request) -> None:
        """Accept as uvicorn does, then hand the app this connection's link."""
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None:
            self.link = ConnectionLink(self.loop.time(), self.transport.abort)
            scope["extensions"][LINK_EXTENSION] = self.link

    def handle_events(self) -> None:
        """Note the activity (any frame, pings included), then handle the frames as uvicorn does."""
        if self.link is not None:
            self.link.last_activity = self.loop.time()
        super().handle_events()
