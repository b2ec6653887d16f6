"""Our client for Upbit's WebSocket streams: subscribe, stay connected, say what may be missing.

One background thread owns one connection (`/websocket/v1`, or `/websocket/v1/private` with the
REST JWT). It sends the subscription after every (re)connect, the text `PING` every
`ping_seconds` (Upbit closes a connection idle for ~120 s, and the `{"status":"UP"}` answers prove
the server is still sending), and replaces a connection that has been silent for `stall_seconds`.
Broken connections are retried with exponential backoff (the sleeps go through the injected clock).

What the listener gets: typed messages (`websocket_messages`), with repeated trades (same
`sequential_id`) and repeated order events dropped, and stale candle / ticker states (older than
one already delivered for the same candle or market) dropped; and a `StreamGap` whenever messages
may have been lost (a reconnect, a stalled connection, an unreadable frame). The stream is never
the record of truth: a gap is the consumer's cue to fill in from REST.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.sync.client import ClientConnection, connect

from tradebot.core.clock import Clock, SystemClock
from tradebot.exchange.upbit.auth import Signer
from tradebot.exchange.upbit.websocket_messages import (
    CandleMessage,
    MalformedFrameError,
    MyOrderMessage,
    StatusMessage,
    StreamMessage,
    SubscriptionsMessage,
    TickerMessage,
    TradeMessage,
    parse_frame,
)

logger = logging.getLogger(__name__)

GapKind = Literal["reconnect", "stall", "malformed"]
REMEMBERED_IDS = 10_000  # recent trade / order-event ids kept for deduplication
_SLEEP_SLICE_SECONDS = 0.2  # backoff sleeps in slices, so `stop()` is never kept waiting long


@dataclass(frozen=True, slots=True)
class StreamGap:
    """Messages may be missing: since `last_message_ms` (exchange time; None: nothing yet)."""

    kind: GapKind
    last_message_ms: int | None
    detail: str


@dataclass(frozen=True, slots=True)
class StreamType:
    """One subscribed type: `ticker`, `trade`, `orderbook`, `candle.1m`, `myOrder`, `myAsset`..."""

    type: str
    codes: tuple[str, ...] = ()
    is_only_realtime: bool = False

    def request(self) -> dict[str, object]:
        """The type's object in a subscription request."""
        body: dict[str, object] = {"type": self.type}
        if self.codes:
            body["codes"] = list(self.codes)
        if self.is_only_realtime:
            body["is_only_realtime"] = True
        return body


@dataclass(frozen=True, slots=True)
class StreamClientSettings:
    """Timing of pings, stall detection and reconnect backoff."""

    ping_seconds: float = 10.0
    stall_seconds: float = 30.0
    backoff_initial_seconds: float = 0.5
    backoff_max_seconds: float = 30.0
    open_timeout_seconds: float = 10.0


class StreamListener(Protocol):
    """Receives what the client's thread reads; must not block for long."""

    def on_message(self, message: StreamMessage) -> None:
        """A new message (repeats and stale states already dropped)."""

    def on_gap(self, gap: StreamGap) -> None:
        """Messages may have been lost; fill in from REST."""

    def on_connected(self, connection_number: int) -> None:
        """Connected and the subscription confirmed in effect (1 first, 2 after the first reconnect...)."""


def websocket_url(rest_base_url: str, *, private: bool) -> str:
    """`http://host:port` -> `ws://host:port/websocket/v1[/private]` (https -> wss)."""
    base = rest_base_url.rstrip("/")
    scheme, _, rest = base.partition("://")
    socket_scheme = "wss" if scheme == "https" else "ws"
    return f"{socket_scheme}://{rest}/websocket/v1" + ("/private" if private else "")


class RepeatFilter:
    """Drops messages already delivered: the same trade or order event, or an older state."""

    def __init__(self) -> None:
        self._seen: OrderedDict[object, None] = OrderedDict()
        self._latest: dict[object, int] = {}

    def is_repeat(self, message: StreamMessage) -> bool:
        """True if `message` adds nothing to what was delivered before."""
        if isinstance(message, TradeMessage):
            return self._seen_before(("trade", message.code, message.sequential_id))
        if isinstance(message, MyOrderMessage):
            key = (message.uuid, message.state, message.trade_uuid, message.executed_volume)
            return self._seen_before(("myOrder", *key))
        if isinstance(message, CandleMessage):
            return self._older(("candle", message.code, message.unit, message.start), message.timestamp_ms)
        if isinstance(message, TickerMessage):
            return self._older(("ticker", message.code), message.trade_timestamp_ms)
        return False

    def _seen_before(self, key: object) -> bool:
        if key in self._seen:
            return True
        self._seen[key] = None
        if len(self._seen) > REMEMBERED_IDS:
            self._seen.popitem(last=False)
        return False

    def _older(self, key: object, timestamp_ms: int) -> bool:
        latest = self._latest.get(key)
        if latest is not None and timestamp_ms < latest:
            return True
        self._latest[key] = timestamp_ms
        return False


class _StalledError(Exception):
    """The connection sent nothing (not even a PING answer) for `stall_seconds`."""


class UpbitStreamClient:
    """One WebSocket connection kept alive in a background thread."""

    def __init__(
        self,
        rest_base_url: str,
        listener: StreamListener,
        *,
        signer: Signer | None = None,
        settings: StreamClientSettings | None = None,
        clock: Clock | None = None,
        wire_format: str = "DEFAULT",
    ) -> None:
        self.url = websocket_url(rest_base_url, private=signer is not None)
        self._listener = listener
        self._signer = signer
        self._settings = settings or StreamClientSettings()
        self._clock = clock or SystemClock()
        self._format = wire_format
        self._types: tuple[StreamType, ...] = ()
        self._filter = RepeatFilter()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._connection: ClientConnection | None = None
        self._thread: threading.Thread | None = None
        self._connections_made = 0
        self._confirmed = False
        self._last_message_ms: int | None = None

    def subscribe(self, types: Sequence[StreamType]) -> None:
        """Replace the subscription (sent now if connected, and after every reconnect)."""
        with self._lock:
            self._types = tuple(types)
            connection = self._connection
        if connection is not None:
            self._send_subscription(connection)

    def start(self) -> UpbitStreamClient:
        """Connect in a background thread (returns at once)."""
        self._thread = threading.Thread(target=self._run, name="upbit-stream", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Close the connection and end the thread."""
        self._stopping.set()
        with self._lock:
            connection = self._connection
        if connection is not None:
            connection.close()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            gap: GapKind = "reconnect"
            try:
                self._connect_and_read()
                failures = 0
            except _StalledError:
                gap = "stall"
            except (OSError, ConnectionClosed, InvalidHandshake, TimeoutError) as error:
                logger.info("stream %s lost: %s", self.url, error)
                failures += 1
            if self._stopping.is_set():
                return
            self._report_gap(gap, "connection stalled" if gap == "stall" else "connection lost")
            self._back_off(failures)

    def _connect_and_read(self) -> None:
        headers = {"Authorization": self._signer.authorization("")} if self._signer is not None else {}
        connection = connect(
            self.url,
            additional_headers=headers,
            open_timeout=self._settings.open_timeout_seconds,
            ping_interval=None,  # the text PING below keeps Upbit's idle timer and our stall check
            compression=None,
        )
        with self._lock:
            self._connection = connection
        try:
            self._confirmed = False
            self._send_subscription(connection)
            self._read(connection)
        finally:
            with self._lock:
                self._connection = None
            connection.close()

    def _send_subscription(self, connection: ClientConnection) -> None:
        with self._lock:
            types = self._types
        if not types:
            return
        ticket = f"tradebot-{id(self)}"
        request = [{"ticket": ticket}, *(item.request() for item in types), {"format": self._format}]
        connection.send(json.dumps(request))
        # Requests are handled in order: the listing's answer proves the subscription is in effect.
        connection.send(json.dumps([{"ticket": ticket}, {"method": "LIST_SUBSCRIPTIONS"}]))

    def _read(self, connection: ClientConnection) -> None:
        settings = self._settings
        last_frame = next_ping = self._clock.monotonic()
        next_ping += settings.ping_seconds
        while not self._stopping.is_set():
            now = self._clock.monotonic()
            if now - last_frame >= settings.stall_seconds:
                raise _StalledError
            if now >= next_ping:
                connection.send("PING")
                next_ping = now + settings.ping_seconds
            wait = max(min(next_ping, last_frame + settings.stall_seconds) - now, 0.01)
            try:
                frame = connection.recv(timeout=wait)
            except TimeoutError:
                continue
            last_frame = self._clock.monotonic()
            self._dispatch(frame)

    def _dispatch(self, frame: bytes | str) -> None:
        try:
            messages = parse_frame(frame)
        except MalformedFrameError as error:
            self._report_gap("malformed", str(error))
            return
        for message in messages:
            if isinstance(message, SubscriptionsMessage):
                self._subscription_confirmed()
                continue
            if isinstance(message, StatusMessage) or self._filter.is_repeat(message):
                continue
            stamp = getattr(message, "timestamp_ms", None) or getattr(message, "trade_timestamp_ms", None)
            if isinstance(stamp, int):
                self._last_message_ms = max(stamp, self._last_message_ms or stamp)
            self._listener.on_message(message)

    def _subscription_confirmed(self) -> None:
        if not self._confirmed:  # a later resubscription on the same connection is not a new one
            self._confirmed = True
            self._connections_made += 1
            self._listener.on_connected(self._connections_made)

    def _report_gap(self, kind: GapKind, detail: str) -> None:
        self._listener.on_gap(StreamGap(kind, self._last_message_ms, detail))

    def _back_off(self, failures: int) -> None:
        settings = self._settings
        delay = min(
            settings.backoff_initial_seconds * 2 ** max(failures - 1, 0), settings.backoff_max_seconds
        )
        waited = 0.0
        while waited < delay and not self._stopping.is_set():
            step = min(_SLEEP_SLICE_SECONDS, delay - waited)
            self._clock.sleep(step)
            waited += step
