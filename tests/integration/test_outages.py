"""The exchange unreachable for minutes, then back: reported, price exits armed, catch-up in order.

The engine's `UserRunner` drives real `LiveLoop`s against the in-process simulator, whose clock is
stopped and stepped by the test. The network is a transport the test controls (`Cable`): unplugged,
every request fails to connect, as when the exchange or the route to it is down, while simulated
time goes on and candles close. A second user on a cable that stays plugged is the control: the
same candles, so the same indicator values, candle by candle. Nothing waits in real time.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from tradebot.core.krw_rules import round_to_tick
from tradebot.engine.bootstrap import RunRequest, build_loop
from tradebot.engine.engine_manager import EngineManager
from tradebot.engine.engine_runner import UserRunner
from tradebot.engine.live_loop import LiveLoop
from tradebot.engine.runner_types import Loop, RunnerSettings
from tradebot.exchange.simulator.server import SimulatedTimeClock
from tradebot.exchange.upbit import RateLimitRegistry, UpbitError, UpbitServerError, UpbitSession
from tradebot.services.health_monitor import read_health
from tradebot.services.records import CommandRequest, Mode, Position
from tradebot.services.storage import Store, open_user_store
from tradebot.services.storage.codecs import decode_time, encode_time
from tradebot.services.user_admin import UpbitKeys, create_user, save_keys
from tradebot.services.users import conditions_path, params_path

from .conftest import NoWaitClock, Simulator, SimulatorFactory

MARKET = "KRW-BTC"
LIVE_ACCESS = "outage-live-access-key"
LIVE_SECRET = "outage0live0secret0key0for0tests0only000"  # noqa: S105 - fake key of the fake exchange
CYCLE_SECONDS = 5.0
OUTAGE_SECONDS = 360  # six minutes: six candles close while the exchange cannot be reached
CANDLE_PATH = "/v1/candles/minutes/1"


class Cable(httpx.BaseTransport):
    """The route to the exchange: plugged, requests go through; unplugged, they cannot connect.

    `accounts_down_after_candles` fails the exchange API's `/v1/accounts` only after the candles
    were read in the same cycle (`new_cycle()` marks its start): an outage that begins while a
    closed candle is being decided.
    """

    def __init__(self) -> None:
        self._inner = httpx.HTTPTransport()
        self.plugged = True
        self.refused = 0
        self.accounts_down_after_candles = False
        self._candles_read = False

    def new_cycle(self) -> None:
        self._candles_read = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        cut = self.accounts_down_after_candles and self._candles_read and path == "/v1/accounts"
        if not self.plugged or cut:
            self.refused += 1
            raise httpx.ConnectError("[Errno 111] Connection refused (test: unplugged)", request=request)
        self._candles_read = self._candles_read or path.startswith("/v1/candles/")
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


class SteppedClock:
    """The simulator's time as wall time, and a monotonic counter that moves with its steps."""

    def __init__(self, exchange: Simulator) -> None:
        self._exchange = exchange
        self._simulated = SimulatedTimeClock(exchange.server)
        self.seconds = 0.0

    def now(self) -> datetime:
        return self._simulated.now()

    def monotonic(self) -> float:
        return self.seconds

    def sleep(self, seconds: float) -> None:
        return None  # the broker's fill polling must not block a stopped clock

    def step(self, seconds: float) -> None:
        self._exchange.step(seconds)
        self.seconds += seconds


@dataclass
class Desk:
    """Users, their runners and the engine's health file around one simulator."""

    exchange: Simulator
    home: Path
    clock: SteppedClock
    lines: list[str] = field(default_factory=list)
    stores: list[Store] = field(default_factory=list)
    runners: dict[str, UserRunner] = field(default_factory=dict)

    def session(self, cable: Cable) -> UpbitSession:
        session = UpbitSession(
            base_url=self.exchange.base_url, transport=cable, rate_limits=RateLimitRegistry(NoWaitClock()),
            attempts=3, backoff_seconds=0.01,
        )  # fmt: skip
        self.exchange.sessions.append(session)  # closed with the simulator
        return session

    def settings(self) -> RunnerSettings:
        return RunnerSettings(self.home, self.exchange.base_url, "outage-engine", CYCLE_SECONDS)

    def runner(self, username: str, cable: Cable, mode: Mode = "TEST") -> UserRunner:
        session = self.session(cable)
        clock = self.clock

        def factory(request: RunRequest, resources: ExitStack) -> Loop:
            return build_loop(request, clock, resources, session=session)

        store = open_user_store(self.home, username)
        self.stores.append(store)
        runner = UserRunner(username, store, factory, clock, self.settings(), self.lines.append)
        request = CommandRequest(
            kind="start", requested_by="test", requested_at=clock.now(), args={"mode": mode},
            live_confirmed=mode == "LIVE",
        )  # fmt: skip
        with store.transaction() as transaction:
            transaction.submit_command(request)
        self.runners[username] = runner
        return runner

    def tick(self, seconds: float) -> None:
        self.clock.step(seconds)
        for runner in self.runners.values():
            runner.tick()

    def health(self, username: str) -> dict[str, Any]:
        manager = EngineManager(self.settings(), self.clock, lambda *_: _no_loop(), self.lines.append,
                                rate_counters=dict)  # fmt: skip
        manager.runners.update(self.runners)
        assert manager.check_health() is not None
        document = read_health(self.home)
        assert document is not None
        users: list[dict[str, Any]] = document["users"]
        return next(user for user in users if user["username"] == username)


def _no_loop() -> Loop:
    raise AssertionError("the health report never builds a loop")


@pytest.fixture
def exchange(simulator_factory: SimulatorFactory) -> Simulator:
    accounts = [{"access_key": LIVE_ACCESS, "secret_key": LIVE_SECRET, "balances": {"KRW": "1000000"}}]
    return simulator_factory(markets=[MARKET], accounts=accounts, seed=11, rate_limits={"enforce": False})


@pytest.fixture
def desk(exchange: Simulator, tmp_path: Path) -> Iterator[Desk]:
    desk = Desk(exchange, tmp_path, SteppedClock(exchange))
    yield desk
    for runner in desk.runners.values():
        runner.close_loop()
    for store in desk.stores:
        store.close()


def prepare_user(home: Path, username: str, mode: Mode = "TEST", **changes: object) -> None:
    """minute1 candles, a 2% stop loss as the only exit, golden-cross entries."""
    create_user(home, username, None, datetime.now(UTC))
    path = params_path(home, username)
    params = json.loads(path.read_text())
    params.update(interval="minute1", warmup_bars=40, stop_loss=0.02, **changes)
    path.write_text(json.dumps(params))
    path = conditions_path(home, username)
    conditions = json.loads(path.read_text())
    conditions["sell"] = dict.fromkeys(conditions["sell"], False) | {"stop_loss": True}
    path.write_text(json.dumps(conditions))
    if mode == "LIVE":
        save_keys(home, username, UpbitKeys(LIVE_ACCESS, LIVE_SECRET), datetime.now(UTC))


def close_evaluations(store: Store) -> list[tuple[datetime, float | None]]:
    """(candle start, MACD) of every closed-candle evaluation, by candle start."""
    rows = store.query(
        "SELECT candle_start, macd FROM buy_eval UNION ALL "
        "SELECT candle_start, macd FROM sell_eval WHERE trigger_kind = 'close' ORDER BY candle_start"
    )
    return [(decode_time(row["candle_start"]), row["macd"]) for row in rows]


def written_after(store: Store, table: str, after: datetime) -> list[datetime]:
    """Starts of the closed candles after `after` evaluated in `table`, in the order written."""
    close = " AND trigger_kind = 'close'" if table == "sell_eval" else ""
    sql = f"SELECT candle_start FROM {table} WHERE candle_start > ?{close} ORDER BY rowid"  # noqa: S608
    return [decode_time(row["candle_start"]) for row in store.query(sql, (encode_time(after),))]


def minutes(first: datetime, count: int) -> list[datetime]:
    return [first + timedelta(minutes=index) for index in range(count)]


def hold_a_position(desk: Desk, username: str) -> tuple[Position, datetime]:
    """Tick a minute at a time until `username` holds a position; it and the last closed candle."""
    with open_user_store(desk.home, username) as store:
        for _ in range(300):
            desk.tick(60)
            if store.positions("TEST"):
                break
        [position] = store.positions("TEST")
        status = store.engine_status()
    assert status is not None
    assert status.last_closed_candle is not None
    return position, status.last_closed_candle


def assert_outage_reported(desk: Desk, cable: Cable, cycles: int) -> None:
    """In health, status and log: the error, the cycles failed in a row, a stale heartbeat."""
    health = desk.health("alice")
    assert health["state"] == "running"
    assert health["consecutive_errors"] == cycles
    assert f"exchange error in {cycles} cycle(s) in a row" in health["last_error"]
    assert "connection failed" in health["last_error"]
    assert health["heartbeat_age_seconds"] >= OUTAGE_SECONDS - CYCLE_SECONDS  # no cycle finished
    assert health["alert"] is not None  # a position and no loop seeing prices
    assert sum("alice: exchange error, retrying next cycle" in line for line in desk.lines) == cycles
    assert not [line for line in desk.lines if "Traceback" in line]
    assert cable.refused == 3 * cycles  # the ticker, tried 3 times a cycle: no retry storm


def test_runner_exchange_down_for_minutes_reports_sells_at_stop_and_catches_up_in_order(desk: Desk) -> None:
    for username in ("alice", "bob"):
        prepare_user(desk.home, username)
    cable = Cable()
    alice, bob = desk.runner("alice", cable), desk.runner("bob", Cable())
    position, last_before = hold_a_position(desk, "alice")
    assert position.entry_price is not None
    loop_before, cycles = alice.loop, int(OUTAGE_SECONDS / CYCLE_SECONDS)
    cable.plugged = False
    for _ in range(cycles):
        desk.tick(CYCLE_SECONDS)

    assert (alice.loop, alice.crashes, alice.failed_reason) == (loop_before, 0, None)  # never restarted
    assert_outage_reported(desk, cable, cycles)
    desk.exchange.set_price(MARKET, str(round_to_tick(position.entry_price * Decimal("0.95"), up=False)))
    cable.plugged = True
    desk.tick(CYCLE_SECONDS)  # the first cycle with the exchange back

    with open_user_store(desk.home, "alice") as store:
        assert store.positions("TEST") == []
        sale = store.trade_audits()[-1]
        assert (sale.side, sale.rule, sale.fill_price < position.entry_price) == ("ask", "stop_loss", True)
        missed = minutes(last_before + timedelta(minutes=1), 6)
        assert written_after(store, "sell_eval", last_before) == missed  # each once, oldest first
    assert any(f"alice: exchange answering again after {cycles} failed cycles" in line for line in desk.lines)
    health = desk.health("alice")
    assert (health["consecutive_errors"], health["last_error"], health["alert"]) == (0, None, None)
    for _ in range(3):  # and on as usual: one evaluation per new candle
        desk.tick(60)
    with open_user_store(desk.home, "alice") as alice_store, open_user_store(desk.home, "bob") as bob_store:
        alice_rows, bob_rows = close_evaluations(alice_store), close_evaluations(bob_store)
    starts = [start for start, _ in alice_rows]
    assert starts == minutes(starts[0], len(starts))  # every candle once, none skipped
    assert dict(alice_rows) == {start: macd for start, macd in bob_rows if start in dict(alice_rows)}
    assert bob.consecutive_errors == 0


def start_loop(desk: Desk, username: str, mode: Mode, cable: Cable, resources: ExitStack) -> LiveLoop:
    request = RunRequest(desk.home, username, mode, desk.exchange.base_url, live_confirmed=True)
    loop = build_loop(request, desk.clock, resources, session=desk.session(cable))
    loop.start()
    return loop


def test_loop_exchange_down_for_hours_catches_up_every_candle_in_order_across_pages(
    desk: Desk, resources: ExitStack
) -> None:
    prepare_user(desk.home, "alice")
    cable = Cable()
    loop = start_loop(desk, "alice", "TEST", cable, resources)
    with open_user_store(desk.home, "alice") as store:
        while store.positions("TEST") or not store.trade_audits():  # flat after a round trip
            desk.clock.step(60)
            loop.cycle()
        status = store.engine_status()
        assert status is not None
        assert status.last_closed_candle is not None
        cable.plugged = False
        for _ in range(10):
            desk.clock.step(60)
            with pytest.raises(UpbitError, match="connection failed"):
                loop.cycle()
        desk.clock.step(240 * 60)  # 250 candles missed: more than one page of 200
        cable.plugged = True

        report = loop.cycle()

        assert report.closed_candles == 250
        missed = minutes(status.last_closed_candle + timedelta(minutes=1), 250)
        assert written_after(store, "buy_eval", status.last_closed_candle) == missed
        late = [row for row in store.buy_evaluations(MARKET, loop.settings.params.interval)[-250:-2]
                if row.decision == "buy"]  # fmt: skip
        assert all("closed too long ago" in row.reason for row in late)  # old signals are not traded
        stale = set(missed[:-2])
        assert not [
            audit for audit in store.trade_audits() if audit.side == "bid" and audit.candle_start in stale
        ]


def test_loop_candles_failing_while_prices_answer_still_sells_at_stop_and_catches_up(
    desk: Desk, resources: ExitStack
) -> None:
    prepare_user(desk.home, "alice")
    loop = start_loop(desk, "alice", "TEST", Cable(), resources)
    with open_user_store(desk.home, "alice") as store:
        for _ in range(300):
            desk.clock.step(60)
            loop.cycle()
            if store.positions("TEST"):
                break
        [position] = store.positions("TEST")
        assert position.entry_price is not None
        evaluated = len(close_evaluations(store))
        desk.exchange.schedule_fault("error", "GET", CANDLE_PATH, count=1000)  # 5xx on candles only
        desk.clock.step(60)
        desk.exchange.set_price(MARKET, str(round_to_tick(position.entry_price * Decimal("0.95"), up=False)))
        desk.clock.step(5)

        with pytest.raises(UpbitServerError):
            loop.cycle()

        assert store.positions("TEST") == []  # sold on the price although the candles did not come
        assert store.trade_audits()[-1].rule == "stop_loss"
        for _ in range(3):
            desk.clock.step(60)
            with pytest.raises(UpbitError):
                loop.cycle()
        desk.exchange._admin("DELETE", "/_admin/faults")
        report = loop.cycle()
        assert report.closed_candles == 4
        rows = close_evaluations(store)
        assert len(rows) == evaluated + 4
        starts = [start for start, _ in rows]
        assert starts == minutes(starts[0], len(starts))


def test_live_loop_exchange_failing_while_a_candle_is_decided_never_skips_it(
    desk: Desk, resources: ExitStack
) -> None:
    prepare_user(desk.home, "alice", "LIVE", take_profit=0.004, trailing_stop=0.003)
    cable = Cable()
    cable.accounts_down_after_candles = True  # every buy signal finds the account unreachable
    loop = start_loop(desk, "alice", "LIVE", cable, resources)
    failed = 0
    for cycle in range(160):
        cable.accounts_down_after_candles = cycle < 150
        cable.new_cycle()
        desk.clock.step(60)
        try:
            loop.cycle()
        except UpbitError:
            failed += 1
    assert failed > 0
    with open_user_store(desk.home, "alice") as store:
        rows = close_evaluations(store)
        starts = [start for start, _ in rows]
        assert starts == minutes(starts[0], 160)  # every closed candle evaluated, once, in order
        late = [row for row in store.buy_evaluations(MARKET, loop.settings.params.interval)
                if row.decision == "buy" and "closed too long ago" in row.reason]  # fmt: skip
        assert late  # the signals the account outage held back are recorded, not lost
