"""The simulator's `/websocket/v1` and `/websocket/v1/private` as a plain `websockets` client sees them.

Every wait is a bounded receive (a few seconds at most); simulated time only moves by admin steps.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed, ConnectionClosedError, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from tradebot.exchange.upbit import Credentials, OrderRequest, OrderSide
from tradebot.exchange.upbit.auth import Signer

from .conftest import ACCESS_KEY, SECRET_KEY, ManualTimer, Simulator, SimulatorFactory

WAIT_SECONDS = 3.0


def _url(simulator: Simulator, path: str = "/websocket/v1") -> str:
    return simulator.base_url.replace("http://", "ws://") + path


@contextmanager
def _public(simulator: Simulator, **options: Any) -> Iterator[ClientConnection]:
    with connect(_url(simulator), **options) as connection:
        yield connection


def _receive(connection: ClientConnection) -> Any:
    frame = connection.recv(timeout=WAIT_SECONDS)
    assert isinstance(frame, bytes), "Upbit sends binary frames"
    return json.loads(frame)


def _subscribe(
    connection: ClientConnection, *types: dict[str, object], wire_format: str | None = None
) -> None:
    """Subscribe and wait until the subscription is in effect (a later LIST_SUBSCRIPTIONS answers)."""
    request: list[dict[str, object]] = [{"ticket": "test"}, *types]
    if wire_format is not None:
        request.append({"format": wire_format})
    connection.send(json.dumps(request))
    connection.send('[{"ticket":"barrier"},{"method":"LIST_SUBSCRIPTIONS"}]')


def _until_listing(connection: ClientConnection) -> list[Any]:
    """Messages before the LIST_SUBSCRIPTIONS answer."""
    before = []
    while True:
        message = _receive(connection)
        if isinstance(message, dict) and message.get("method", message.get("mthd")) == "LIST_SUBSCRIPTIONS":
            return before
        before.append(message)


def test_stream_snapshot_then_realtime_trade_at_the_admin_price(simulator: Simulator) -> None:
    with _public(simulator) as connection:
        _subscribe(
            connection, {"type": "trade", "codes": ["KRW-BTC"]}, {"type": "candle.1m", "codes": ["KRW-BTC"]}
        )
        snapshot = _until_listing(connection)
        simulator.set_price("KRW-BTC", "90000000")
        trade, candle = _receive(connection), _receive(connection)

    assert [(m["type"], m["stream_type"]) for m in snapshot] == [
        ("trade", "SNAPSHOT"),
        ("candle.1m", "SNAPSHOT"),
    ]
    assert (trade["type"], trade["trade_price"], trade["stream_type"]) == ("trade", 90000000, "REALTIME")
    assert (candle["type"], candle["trade_price"], candle["candle_date_time_utc"]) == (
        "candle.1m",
        90000000,
        "2026-03-22T12:47:00",
    )


def test_stream_only_snapshot_and_only_realtime_flags_are_honoured(simulator: Simulator) -> None:
    with _public(simulator) as connection:
        _subscribe(
            connection,
            {"type": "ticker", "codes": ["KRW-BTC"], "is_only_snapshot": True},
            {"type": "trade", "codes": ["KRW-BTC"], "is_only_realtime": True},
        )
        snapshot = _until_listing(connection)
        simulator.set_price("KRW-BTC", "90000000")
        realtime = _receive(connection)

    assert [(m["type"], m["stream_type"]) for m in snapshot] == [("ticker", "SNAPSHOT")]
    assert (realtime["type"], realtime["stream_type"]) == ("trade", "REALTIME")


def test_stream_resubscribe_replaces_the_previous_subscription(simulator: Simulator) -> None:
    with _public(simulator) as connection:
        _subscribe(connection, {"type": "trade", "codes": ["KRW-BTC"], "is_only_realtime": True})
        _until_listing(connection)
        _subscribe(connection, {"type": "trade", "codes": ["KRW-ETH"], "is_only_realtime": True})
        _until_listing(connection)
        simulator.set_price("KRW-BTC", "90000000")
        simulator.set_price("KRW-ETH", "4000000")
        first = _receive(connection)

    assert (first["code"], first["trade_price"]) == ("KRW-ETH", 4000000)


@pytest.mark.parametrize(
    ("wire_format", "price_key"), [("SIMPLE", "tp"), ("SIMPLE_LIST", "tp"), ("JSON_LIST", "trade_price")]
)
def test_stream_formats_shape_each_message(simulator: Simulator, wire_format: str, price_key: str) -> None:
    with _public(simulator) as connection:
        _subscribe(
            connection,
            {"type": "trade", "codes": ["KRW-BTC"], "is_only_realtime": True},
            wire_format=wire_format,
        )
        _until_listing(connection)
        simulator.set_price("KRW-BTC", "90000000")
        message = _receive(connection)

    item = message[0] if wire_format.endswith("_LIST") else message
    assert isinstance(message, list) == wire_format.endswith("_LIST")
    assert item[price_key] == 90000000


@pytest.mark.parametrize(
    ("request_text", "error_name"),
    [
        ("not json", "WRONG_FORMAT"),
        ('[{"type":"trade","codes":["KRW-BTC"]}]', "NO_TICKET"),
        ('[{"ticket":"t"}]', "NO_TYPE"),
        ('[{"ticket":"t"},{"type":"trade"}]', "NO_CODES"),
        ('[{"ticket":"t"},{"type":"candle.1d","codes":["KRW-BTC"]}]', "INVALID_PARAM"),
        ('[{"ticket":"t"},{"type":"myOrder"}]', "INVALID_PARAM"),
    ],
)
def test_stream_bad_request_gets_upbits_error_object(
    simulator: Simulator, request_text: str, error_name: str
) -> None:
    with _public(simulator) as connection:
        connection.send(request_text)
        answer = _receive(connection)

    assert answer["error"]["name"] == error_name


def test_stream_text_ping_is_answered_status_up(simulator: Simulator) -> None:
    with _public(simulator) as connection:
        connection.send("PING")
        assert _receive(connection) == {"status": "UP"}


def test_stream_clock_step_streams_the_closed_candle_then_the_new_one(simulator: Simulator) -> None:
    with _public(simulator) as connection:
        _subscribe(connection, {"type": "candle.1m", "codes": ["KRW-BTC"], "is_only_realtime": True})
        _until_listing(connection)
        simulator.step(60)
        closing, opening = _receive(connection), _receive(connection)
    rest = simulator.http().get("/v1/candles/minutes/1", params={"market": "KRW-BTC", "count": 2}).json()

    assert closing["candle_date_time_utc"] == "2026-03-22T12:47:00"
    assert opening["candle_date_time_utc"] == "2026-03-22T12:48:00"
    assert closing["trade_price"] == rest[1]["trade_price"]  # the last message of a minute is its close


def test_private_stream_without_a_valid_token_is_refused_401(simulator: Simulator) -> None:
    with pytest.raises(InvalidStatus) as refused:
        connect(
            _url(simulator, "/websocket/v1/private"), additional_headers={"Authorization": "Bearer x.y.z"}
        )

    assert refused.value.response.status_code == 401
    assert json.loads(refused.value.response.body or b"{}")["error"]["name"] == "INVALID_AUTH"


def test_private_stream_my_asset_follows_a_balance_change(simulator: Simulator) -> None:
    headers = {"Authorization": Signer(Credentials(ACCESS_KEY, SECRET_KEY)).authorization("")}
    with connect(_url(simulator, "/websocket/v1/private"), additional_headers=headers) as connection:
        _subscribe(connection, {"type": "myAsset"})
        _until_listing(connection)
        with simulator.exchange_client() as rest:
            rest.create_order(
                OrderRequest.limit("KRW-BTC", OrderSide.BID, Decimal(10_000_000), Decimal("0.001"), "a")
            )
        asset = _receive(connection)

    krw = next(item for item in asset["assets"] if item["currency"] == "KRW")
    assert asset["type"] == "myAsset"
    assert krw["locked"] == 10005  # price x volume + the 0.05% fee, locked by the resting bid


def test_stream_connections_over_five_per_second_are_refused_429(simulator_factory: SimulatorFactory) -> None:
    simulator = simulator_factory(rate_timer=ManualTimer())
    opened = [connect(_url(simulator)) for _ in range(5)]
    try:
        with pytest.raises(InvalidStatus) as refused:
            connect(_url(simulator))
    finally:
        for connection in opened:
            connection.close()

    assert refused.value.response.status_code == 429


def test_stream_subscriptions_over_five_per_second_get_an_error(simulator_factory: SimulatorFactory) -> None:
    simulator = simulator_factory(rate_timer=ManualTimer())
    with _public(simulator) as connection:
        for _ in range(5):
            connection.send('[{"ticket":"t"},{"type":"trade","codes":["KRW-BTC"],"is_only_realtime":true}]')
        connection.send('[{"ticket":"t"},{"type":"trade","codes":["KRW-BTC"],"is_only_realtime":true}]')
        answer = _receive(connection)

    assert answer["error"]["name"] == "TOO_MANY_REQUESTS"


def _admin(simulator: Simulator, method: str, path: str, body: object | None = None) -> Any:
    return simulator._admin(method, path, body)


def test_stream_idle_client_is_closed_but_pings_keep_it_open(simulator: Simulator) -> None:
    _admin(simulator, "PUT", "/_admin/streams/settings", {"idle_seconds": 0.5})
    with _public(simulator, ping_interval=0.1) as pinging, _public(simulator, ping_interval=None) as silent:
        with pytest.raises(ConnectionClosed) as closed:
            silent.recv(timeout=WAIT_SECONDS)
        pinging.send("PING")
        assert _receive(pinging) == {"status": "UP"}

    assert closed.value.rcvd is not None
    assert closed.value.rcvd.reason == "idle timeout"


def test_stream_admin_drop_cuts_the_connection_without_a_close_frame(simulator: Simulator) -> None:
    with _public(simulator) as connection:
        connection.send("PING")
        _receive(connection)
        assert _admin(simulator, "POST", "/_admin/streams/drop", {}) == {"dropped": 1}
        with pytest.raises(ConnectionClosedError) as dropped:
            connection.recv(timeout=WAIT_SECONDS)

    assert dropped.value.rcvd is None


def _two_trades(simulator: Simulator, connection: ClientConnection) -> None:
    _subscribe(connection, {"type": "trade", "codes": ["KRW-BTC"], "is_only_realtime": True})
    _until_listing(connection)


def test_stream_scheduled_duplicate_and_reorder_faults(simulator: Simulator) -> None:
    with _public(simulator) as connection:
        _two_trades(simulator, connection)
        _admin(simulator, "POST", "/_admin/streams/faults/next", {"kind": "duplicate"})
        simulator.set_price("KRW-BTC", "90000000")
        first, second = _receive(connection), _receive(connection)
        _admin(simulator, "POST", "/_admin/streams/faults/next", {"kind": "reorder"})
        simulator.set_price("KRW-BTC", "91000000")
        simulator.set_price("KRW-BTC", "92000000")
        third, fourth = _receive(connection), _receive(connection)

    assert first == second
    assert [third["trade_price"], fourth["trade_price"]] == [92000000, 91000000]
    assert third["sequential_id"] > fourth["sequential_id"]


def test_stream_scheduled_malformed_frame_does_not_parse(simulator: Simulator) -> None:
    with _public(simulator) as connection:
        _two_trades(simulator, connection)
        _admin(simulator, "POST", "/_admin/streams/faults/next", {"kind": "malformed"})
        simulator.set_price("KRW-BTC", "90000000")
        frame = connection.recv(timeout=WAIT_SECONDS)
        simulator.set_price("KRW-BTC", "91000000")
        after = _receive(connection)

    with pytest.raises(json.JSONDecodeError):
        json.loads(frame)
    assert after["trade_price"] == 91000000
    assert _admin(simulator, "GET", "/_admin/streams")["fault_counts"] == {"malformed": 1}


def test_stream_stall_holds_messages_then_delivers_them(simulator: Simulator) -> None:
    with _public(simulator) as connection:
        _two_trades(simulator, connection)
        assert _admin(simulator, "POST", "/_admin/streams/stall", {"seconds": 1.0})["stalled"] == 1
        simulator.set_price("KRW-BTC", "90000000")
        with pytest.raises(TimeoutError):
            connection.recv(timeout=0.3)
        late = _receive(connection)

    assert late["trade_price"] == 90000000


def test_stream_admin_endpoints_need_the_admin_token(simulator: Simulator) -> None:
    answer = simulator.http().post("/_admin/streams/drop", json={})

    assert answer.status_code == 401
