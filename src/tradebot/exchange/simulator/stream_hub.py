"""The streams' centre: open connections, what they watch, and the exchange's events for them.

The hub is the exchange's observer. Prices set, orders changed and clock steps arrive under the
exchange lock on whatever thread made them; the hub builds the messages right there (so they show
the state of that moment) and hands them to the server's event loop, where each connection
queues what its subscription wants. A sampling task on the loop turns the moving price path
into trades (`stream_market`) while anyone is connected.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from tradebot.exchange.simulator.accounts import SimAccount
from tradebot.exchange.simulator.exchange import SimulatedExchange
from tradebot.exchange.simulator.records import SimOrder, SimTrade
from tradebot.exchange.simulator.stream_connection import StreamConnection
from tradebot.exchange.simulator.stream_documents import my_asset_message, my_order_message
from tradebot.exchange.simulator.stream_faults import StreamFaults
from tradebot.exchange.simulator.stream_market import MarketStreams, Message
from tradebot.exchange.simulator.stream_subscription import Subscription
from tradebot.exchange.simulator.wallet import QUOTE_CURRENCY


class StreamSettings(BaseModel):
    """How often the price path is sampled into trades, and when a silent client is cut off."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sample_seconds: float = Field(default=0.5, gt=0, le=60, description="real seconds between samples")
    idle_seconds: float = Field(default=120.0, gt=0, le=3600, description="silence before the server closes")


@dataclass(frozen=True, slots=True)
class _Outgoing:
    """Messages for the loop: market messages for everyone, or private ones for one account."""

    messages: list[Message]
    access_key: str | None = None


class StreamHub:
    """Open connections and the messages the exchange's events make for them."""

    def __init__(self, exchange: SimulatedExchange, settings: StreamSettings | None = None) -> None:
        self.exchange = exchange
        self.settings = settings or StreamSettings()
        self.faults = StreamFaults()
        self.markets = MarketStreams()
        self._lock = threading.Lock()
        self._connections: dict[int, StreamConnection] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._sampler: asyncio.Task[None] | None = None
        exchange.observer = self

    # --- connections (event loop) ---

    def register(self, connection: StreamConnection) -> None:
        """A connection opened; sampling runs while any is open."""
        with self._lock:
            self._connections[connection.id] = connection
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
            self._wake = asyncio.Event()
        if self._sampler is None or self._sampler.done():
            self._sampler = asyncio.get_running_loop().create_task(self._sample_forever())

    def unregister(self, connection: StreamConnection) -> None:
        """A connection closed."""
        with self._lock:
            self._connections.pop(connection.id, None)

    def connections(self, path: str | None = None) -> list[StreamConnection]:
        """The open connections (to `path` only, if given)."""
        with self._lock:
            return [c for c in self._connections.values() if path is None or c.info.path == path]

    def subscribed(self, connection: StreamConnection, subscription: Subscription) -> None:
        """Replace a connection's subscription and queue its snapshot messages."""
        connection.subscription = subscription
        with self.exchange.lock:
            now_ns = self.exchange.refresh()
            for request in subscription.types:
                if connection.info.private:
                    continue  # private types have no snapshot
                for code in dict.fromkeys(request.market_codes):
                    market = self.exchange.markets.get(code)
                    if market is None:
                        continue  # Upbit sends nothing for a code it does not know
                    self.markets.watch(market, now_ns)
                    if request.is_only_realtime:
                        continue
                    document = self.markets.snapshot(market, request.type, now_ns, request.depth_of(code))
                    if document is not None:
                        connection.send_document({**document, "stream_type": "SNAPSHOT"})

    # --- the exchange's observer (any thread, exchange lock held) ---

    def price_set(self, market: str) -> None:
        """A price set by hand is a trade on every stream of that market."""
        wanted = self._wanted_types(market)
        if not wanted:
            return
        data = self.exchange.markets[market]
        tick = self.markets.price_set(data, self.exchange.clock.now_ns())
        self._post(_Outgoing(self.markets.messages(data, tick, wanted)))

    def order_changed(self, account: SimAccount, order: SimOrder, trade: SimTrade | None) -> None:
        """`myOrder` for the change and `myAsset` for the balances it moved, to that account only."""
        if not self._has_private(account.access_key):
            return
        now_ns = self.exchange.clock.now_ns()
        coin = order.market.split("-", 1)[1]
        messages: list[Message] = [("myOrder", order.market, my_order_message(order, trade, now_ns))]
        asset = my_asset_message(account, [QUOTE_CURRENCY, coin], now_ns, str(uuid.uuid4()))
        messages.append(("myAsset", "", asset))
        self._post(_Outgoing(messages, account.access_key))

    def clock_moved(self) -> None:
        """Sample at once: the candles the step passed over print their trades now."""
        if self._loop is not None and self._wake is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    # --- delivery ---

    def _post(self, outgoing: _Outgoing) -> None:
        if self._loop is None or not outgoing.messages:
            return
        with contextlib.suppress(RuntimeError):  # the loop has shut down: nobody is listening
            self._loop.call_soon_threadsafe(self._deliver, outgoing)

    def _deliver(self, outgoing: _Outgoing) -> None:
        for connection in self.connections():
            if connection.info.access_key != outgoing.access_key:
                continue
            for message_type, code, document in outgoing.messages:
                connection.offer(message_type, code, document)

    def _wanted_types(self, code: str) -> set[str]:
        wanted: set[str] = set()
        for connection in self.connections():
            subscription = connection.subscription
            if subscription is None or connection.info.private:
                continue
            wanted.update(request.type for request in subscription.types if request.covers(code))
        return wanted

    def _has_private(self, access_key: str) -> bool:
        return any(connection.info.access_key == access_key for connection in self.connections())

    # --- sampling the price path (event loop) ---

    async def _sample_forever(self) -> None:
        assert self._wake is not None
        while self.connections():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.sample_seconds)
            self._wake.clear()
            self.sample()

    def sample(self) -> None:
        """Print the trades the price path made since the last sample, for watched markets."""
        watched = {code: self._wanted_types(code) for code in self.exchange.markets}
        watched = {code: types for code, types in watched.items() if types}
        messages: list[Message] = []
        with self.exchange.lock:
            now_ns = self.exchange.refresh()
            self.markets.forget_except(set(watched))
            for code, types in watched.items():
                market = self.exchange.markets[code]
                for tick in self.markets.advance(market, now_ns):
                    messages.extend(self.markets.messages(market, tick, types))
        if messages:
            self._deliver(_Outgoing(messages))

    def statistics(self) -> dict[str, object]:
        """Open connections per endpoint and the injected stream faults (`GET /_admin/streams`)."""
        per_path: dict[str, int] = {}
        for connection in self.connections():
            per_path[connection.info.path] = per_path.get(connection.info.path, 0) + 1
        return {
            "connections": per_path,
            "fault_settings": self.faults.settings.model_dump(),
            "scheduled_faults": [fault.model_dump() for fault in self.faults.scheduled()],
            "fault_counts": self.faults.counts(),
        }
