"""Our `UpbitStreamClient` against the simulator's streams, with the simulator's stream faults.

Waits are bounded (a few seconds); reconnect backoff sleeps go through a clock that does not wait.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any, TypeVar

import pytest

from tradebot.exchange.upbit import Credentials, OrderRequest, OrderSide, Signer
from tradebot.exchange.upbit.websocket_client import (
    StreamClientSettings,
    StreamGap,
    StreamType,
    UpbitStreamClient,
)
from tradebot.exchange.upbit.websocket_messages import (
    CandleMessage,
    MyOrderMessage,
    StreamMessage,
    TradeMessage,
)

from .conftest import ACCESS_KEY, SECRET_KEY, NoWaitClock, Simulator

WAIT_SECONDS = 5.0
Event = StreamMessage | StreamGap | int  # an int: on_connected's connection number
EventT = TypeVar("EventT")


class Recorder:
    """A listener that queues everything the client reports."""

    def __init__(self) -> None:
        self.events: queue.Queue[Event] = queue.Queue()

    def on_message(self, message: StreamMessage) -> None:
        self.events.put(message)

    def on_gap(self, gap: StreamGap) -> None:
        self.events.put(gap)

    def on_connected(self, connection_number: int) -> None:
        self.events.put(connection_number)

    def next(self, wanted: Callable[[Any], bool], skipped: list[Event] | None = None) -> Any:
        deadline = time.monotonic() + WAIT_SECONDS
        while (left := deadline - time.monotonic()) > 0:
            try:
                event = self.events.get(timeout=left)
            except queue.Empty:
                break
            if wanted(event):
                return event
            if skipped is not None:
                skipped.append(event)
        raise AssertionError("the awaited event did not come")


def _is(kind: type[EventT], **fields: object) -> Callable[[Any], bool]:
    return lambda event: isinstance(event, kind) and all(getattr(event, k) == v for k, v in fields.items())


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def start_client(simulator: Simulator, recorder: Recorder) -> Iterator[Callable[..., UpbitStreamClient]]:
    clients: list[UpbitStreamClient] = []

    def start(*types: StreamType, **options: Any) -> UpbitStreamClient:
        settings = options.pop("settings", StreamClientSettings(ping_seconds=0.2, stall_seconds=2.0))
        client = UpbitStreamClient(
            simulator.base_url, recorder, settings=settings, clock=NoWaitClock(), **options
        )
        client.subscribe(types)
        clients.append(client.start())
        recorder.next(lambda event: isinstance(event, int))  # connected, subscription in effect
        return client

    yield start
    for client in clients:
        client.stop()


def _admin(simulator: Simulator, method: str, path: str, body: object) -> Any:
    return simulator._admin(method, path, body)


@pytest.mark.parametrize("wire_format", ["DEFAULT", "SIMPLE", "SIMPLE_LIST"])
def test_client_delivers_typed_exact_trades_in_every_format(
    simulator: Simulator, recorder: Recorder, start_client: Callable[..., UpbitStreamClient], wire_format: str
) -> None:
    start_client(StreamType("trade", ("KRW-BTC",)), wire_format=wire_format)
    simulator.set_price("KRW-BTC", "91234000")

    trade = recorder.next(_is(TradeMessage, snapshot=False))

    assert (trade.code, trade.price) == ("KRW-BTC", Decimal(91234000))


def test_client_reconnects_after_a_drop_reports_the_gap_and_resubscribes(
    simulator: Simulator, recorder: Recorder, start_client: Callable[..., UpbitStreamClient]
) -> None:
    start_client(StreamType("trade", ("KRW-BTC",)))
    simulator.set_price("KRW-BTC", "91000000")
    before = recorder.next(_is(TradeMessage, snapshot=False))
    _admin(simulator, "POST", "/_admin/streams/drop", {})

    gap = recorder.next(lambda event: isinstance(event, StreamGap))
    skipped: list[Event] = []
    reconnected = recorder.next(lambda event: isinstance(event, int), skipped)
    simulator.set_price("KRW-BTC", "92000000")
    after = recorder.next(_is(TradeMessage, snapshot=False))

    assert skipped == []  # the trade snapshot repeats the 91,000,000 trade: dropped as a repeat
    assert (gap.kind, gap.last_message_ms) == ("reconnect", before.trade_timestamp_ms)
    assert reconnected == 2
    assert after.price == Decimal(92000000)


def test_client_drops_duplicated_trades(
    simulator: Simulator, recorder: Recorder, start_client: Callable[..., UpbitStreamClient]
) -> None:
    start_client(StreamType("trade", ("KRW-BTC",)))
    _admin(simulator, "POST", "/_admin/streams/faults/next", {"kind": "duplicate"})
    simulator.set_price("KRW-BTC", "91000000")
    simulator.set_price("KRW-BTC", "92000000")
    skipped: list[Event] = []

    recorder.next(_is(TradeMessage, price=Decimal(92000000)), skipped)

    assert [event.price for event in skipped if isinstance(event, TradeMessage)] == [Decimal(91000000)]


def test_client_reports_a_malformed_frame_as_a_gap_and_goes_on(
    simulator: Simulator, recorder: Recorder, start_client: Callable[..., UpbitStreamClient]
) -> None:
    start_client(StreamType("trade", ("KRW-BTC",)))
    _admin(simulator, "POST", "/_admin/streams/faults/next", {"kind": "malformed"})
    simulator.set_price("KRW-BTC", "91000000")
    simulator.set_price("KRW-BTC", "92000000")

    gap = recorder.next(lambda event: isinstance(event, StreamGap))
    trade = recorder.next(_is(TradeMessage, snapshot=False))

    assert gap.kind == "malformed"
    assert trade.price == Decimal(92000000)


def test_client_drops_a_candle_state_older_than_one_delivered(
    simulator: Simulator, recorder: Recorder, start_client: Callable[..., UpbitStreamClient]
) -> None:
    start_client(StreamType("candle.1m", ("KRW-BTC",)))
    _admin(simulator, "POST", "/_admin/streams/faults/next", {"kind": "reorder"})
    simulator.set_price("KRW-BTC", "91000000")
    simulator.step(1)
    simulator.set_price("KRW-BTC", "92000000")
    simulator.step(1)
    simulator.set_price("KRW-BTC", "93000000")
    skipped: list[Event] = []

    recorder.next(_is(CandleMessage, close=Decimal(93000000)), skipped)

    assert [event.close for event in skipped if isinstance(event, CandleMessage)] == [Decimal(92000000)]


def test_client_replaces_a_stalled_connection(
    simulator: Simulator, recorder: Recorder, start_client: Callable[..., UpbitStreamClient]
) -> None:
    start_client(
        StreamType("trade", ("KRW-BTC",)),
        settings=StreamClientSettings(ping_seconds=0.1, stall_seconds=0.5),
    )
    _admin(simulator, "POST", "/_admin/streams/stall", {"seconds": 30})

    gap = recorder.next(lambda event: isinstance(event, StreamGap))
    reconnected = recorder.next(lambda event: isinstance(event, int))
    simulator.set_price("KRW-BTC", "92000000")
    after = recorder.next(_is(TradeMessage, snapshot=False))

    assert (gap.kind, reconnected, after.price) == ("stall", 2, Decimal(92000000))


def test_client_private_stream_delivers_my_order_events(simulator: Simulator, recorder: Recorder) -> None:
    client = UpbitStreamClient(
        simulator.base_url, recorder, signer=Signer(Credentials(ACCESS_KEY, SECRET_KEY)), clock=NoWaitClock()
    )
    client.subscribe([StreamType("myOrder")])
    client.start()
    try:
        recorder.next(lambda event: isinstance(event, int))  # subscribed (no snapshot on private)
        with simulator.exchange_client() as rest:
            created = rest.create_order(
                OrderRequest.limit(
                    "KRW-BTC", OrderSide.BID, Decimal(10_000_000), Decimal("0.001"), "ws-client"
                )
            )
        waiting = recorder.next(_is(MyOrderMessage, state="wait"))
    finally:
        client.stop()

    assert (waiting.uuid, waiting.identifier, waiting.price) == (
        created.uuid,
        "ws-client",
        Decimal(10_000_000),
    )
