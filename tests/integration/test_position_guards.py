"""No orphaned position (issue 12): the engine's runner against the simulator keeps every open
position's stop loss armed through a market change, a LIVE → TEST switch, a pause, a stop and a
failed loop; a LIVE position always sells with a LIVE order.

The runner is driven in-process, tick by tick, on the simulator's stopped clock: a stop-loss sale
happens in the tick after the price is set below the stop, never by waiting.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from tradebot.core.krw_rules import round_to_tick
from tradebot.engine.bootstrap import RunRequest
from tradebot.engine.engine_manager import live_loop_factory
from tradebot.engine.engine_runner import UserRunner
from tradebot.engine.runner_types import Loop, LoopFactory, RunnerSettings
from tradebot.engine.shared_feed import SharedQuotations
from tradebot.exchange.simulator.server import SimulatedTimeClock
from tradebot.exchange.upbit import UpbitQuotationClient
from tradebot.services.health_monitor import GUARD, LOOP
from tradebot.services.records import CommandKind, CommandRequest, Mode, Position, Side
from tradebot.services.storage import Store, open_user_store
from tradebot.services.user_admin import UpbitKeys, create_user, save_keys
from tradebot.services.users import conditions_path, params_path

from .conftest import NoWaitClock, Simulator, SimulatorFactory

USER = "alice"
ACCESS = "guard-live-access-key"
SECRET = "guard0live0secret0key0for0tests0only0000"  # noqa: S105 - fake key of the fake exchange


@pytest.fixture
def exchange(simulator_factory: SimulatorFactory) -> Simulator:
    accounts = [{"access_key": ACCESS, "secret_key": SECRET, "balances": {"KRW": "2000000"}}]
    return simulator_factory(
        markets=["KRW-BTC", "KRW-ETH"], accounts=accounts, seed=5, rate_limits={"enforce": False}
    )


@dataclass
class CrashSwitch:
    """Makes the user's trading loop (never a guard) crash on every cycle once turned on."""

    on: bool = False


@dataclass
class CrashingLoop:
    """A real loop whose `cycle()` raises while the switch is on (its candle processing is broken)."""

    loop: Loop
    switch: CrashSwitch

    @property
    def paused(self) -> bool:
        return self.loop.paused

    @paused.setter
    def paused(self, value: bool) -> None:
        self.loop.paused = value

    @property
    def market(self) -> str:
        return self.loop.market

    def start(self) -> None:
        self.loop.start()

    def cycle(self) -> object:
        if self.switch.on:
            raise RuntimeError("candle processing is broken")
        return self.loop.cycle()

    def force(self, side: Side, command_id: int, requested_by: str, reason: str) -> str:
        return self.loop.force(side, command_id, requested_by, reason)

    def guard(self) -> object:
        return self.loop.guard()


def crashing(factory: LoopFactory, switch: CrashSwitch) -> LoopFactory:
    def build(request: RunRequest, resources: ExitStack) -> Loop:
        loop = factory(request, resources)
        return loop if request.guard_market is not None else CrashingLoop(loop, switch)

    return build


class FeedClock:
    """The shared feed's clock: the simulator's time, and cycles of 5 s that pass only when told."""

    def __init__(self, clock: SimulatedTimeClock) -> None:
        self._clock, self.seconds = clock, 0.0

    def now(self) -> datetime:
        return self._clock.now()

    def monotonic(self) -> float:
        return self.seconds

    def sleep(self, seconds: float) -> None:
        return None


@dataclass
class Engine:
    """One user's runner on the simulator, the way `tradebot engine` builds it."""

    exchange: Simulator
    home: Path
    store: Store
    runner: UserRunner
    quotations: SharedQuotations
    feed_clock: FeedClock
    lines: list[str] = field(default_factory=list)

    def send(self, kind: CommandKind, *, mode: Mode | None = None, reason: str | None = None) -> None:
        args: dict[str, object] = {} if mode is None else {"mode": mode}
        if reason is not None:
            args["reason"] = reason
        request = CommandRequest(
            kind=kind, requested_by="test", requested_at=self.runner.clock.now(), args=args,
            live_confirmed=mode == "LIVE",
        )  # fmt: skip
        with self.store.transaction() as transaction:
            transaction.submit_command(request)
        self.tick()

    def tick(self, seconds: float = 1.0) -> None:
        self.exchange.step(seconds)
        self.feed_clock.seconds += 5.0  # one engine cycle: every cached price is stale
        self.runner.tick()

    def position(self, mode: Mode, market: str) -> Position | None:
        return next((item for item in self.store.positions(mode) if item.market == market), None)

    def set_market(self, market: str) -> None:
        path = params_path(self.home, USER)
        path.write_text(json.dumps(json.loads(path.read_text()) | {"market": market}))

    def crash_price(self, market: str, position: Position) -> None:
        """The price 10 % under the entry: under the 5 % stop loss."""
        assert position.entry_price is not None
        self.exchange.set_price(market, str(round_to_tick(position.entry_price * Decimal("0.9"), up=False)))

    def live_asks(self, market: str) -> list[dict[str, object]]:
        return [
            order
            for order in self.exchange.orders(ACCESS)
            if order["side"] == "ask" and order["market"] == market and order["state"] == "done"
        ]


def prepare(home: Path) -> None:
    create_user(home, USER, None, datetime.now(UTC))
    path = params_path(home, USER)
    params = json.loads(path.read_text())
    params.update(market="KRW-BTC", interval="minute1", warmup_bars=40)
    params.update(stop_loss=0.05, take_profit=5, trailing_stop=0.5)  # only the stop loss can fire
    path.write_text(json.dumps(params))
    path = conditions_path(home, USER)
    conditions = json.loads(path.read_text())
    conditions["sell"] = dict.fromkeys(conditions["sell"], False) | {"stop_loss": True}
    path.write_text(json.dumps(conditions))
    save_keys(home, USER, UpbitKeys(ACCESS, SECRET), datetime.now(UTC))


@pytest.fixture
def engine_for(exchange: Simulator, tmp_path: Path) -> Callable[..., Engine]:
    def build(switch: CrashSwitch | None = None) -> Engine:
        prepare(tmp_path)
        clock = SimulatedTimeClock(exchange.server)
        session = exchange.session(clock=NoWaitClock())
        feed_clock = FeedClock(clock)
        quotations = SharedQuotations(UpbitQuotationClient(session), feed_clock, ticker_max_age=1.0)
        factory = live_loop_factory(clock, session, quotations)
        if switch is not None:
            factory = crashing(factory, switch)
        settings = RunnerSettings(tmp_path, exchange.base_url, "test-engine", 1.0, backoff=(0.0,))
        store = open_user_store(tmp_path, USER)
        lines: list[str] = []
        runner = UserRunner(USER, store, factory, clock, settings, lines.append)
        return Engine(exchange, tmp_path, store, runner, quotations, feed_clock, lines)

    return build


def live_btc_position(engine: Engine) -> Position:
    """Start LIVE on KRW-BTC and force a buy: a LIVE position bought with a LIVE order."""
    engine.send("start", mode="LIVE")
    assert engine.runner.loop is not None, engine.lines
    engine.send("force_buy", reason="a position to guard")
    position = engine.position("LIVE", "KRW-BTC")
    assert position is not None, engine.lines
    return position


def assert_sold_at_stop(engine: Engine, position: Position, asks_before: int) -> None:
    assert engine.position("LIVE", "KRW-BTC") is None, engine.lines
    assert len(engine.live_asks("KRW-BTC")) == asks_before + 1  # a LIVE order on the exchange
    audit = engine.store.trade_audits()[-1]
    assert (audit.mode, audit.market, audit.side, audit.rule) == ("LIVE", "KRW-BTC", "ask", "stop_loss")
    assert audit.volume == position.volume


def test_live_position_in_the_old_market_sells_at_its_stop_after_a_market_change(
    engine_for: Callable[..., Engine],
) -> None:
    engine = engine_for()
    position = live_btc_position(engine)
    engine.set_market("KRW-ETH")
    engine.send("restart", mode="LIVE")
    assert engine.runner.loop is not None
    assert engine.runner.loop.market == "KRW-ETH"
    requests = engine.quotations.ticker_requests
    engine.tick(5)
    assert engine.quotations.ticker_requests == requests + 1  # the loop's and the guard's prices at once
    assert engine.position("LIVE", "KRW-BTC") is not None  # price inside the exits: kept
    assert engine.runner.reading is not None
    guarded = {(item.mode, item.market): item.guarded_by for item in engine.runner.reading.positions}
    assert guarded == {("LIVE", "KRW-BTC"): GUARD}

    engine.crash_price("KRW-BTC", position)
    engine.tick(5)

    assert_sold_at_stop(engine, position, 0)
    engine.tick()
    assert ("LIVE", "KRW-BTC") not in engine.runner.guards.guarding()  # closed with its position


def test_live_position_keeps_live_orders_after_a_switch_to_test(engine_for: Callable[..., Engine]) -> None:
    engine = engine_for()
    position = live_btc_position(engine)
    engine.send("set_mode", mode="TEST")
    assert engine.runner.desired.mode == "TEST"
    assert engine.runner.loop is not None
    assert engine.runner.guards.guarding()[("LIVE", "KRW-BTC")].by == GUARD

    engine.crash_price("KRW-BTC", position)
    engine.tick(5)

    assert_sold_at_stop(engine, position, 0)


def test_paused_user_position_sells_at_its_stop(engine_for: Callable[..., Engine]) -> None:
    engine = engine_for()
    position = live_btc_position(engine)
    engine.send("pause")
    assert engine.runner.loop is not None
    assert engine.runner.loop.paused
    assert engine.runner.guards.guarding()[("LIVE", "KRW-BTC")].by == LOOP

    engine.crash_price("KRW-BTC", position)
    engine.tick(5)

    assert_sold_at_stop(engine, position, 0)


def test_stopped_user_position_sells_at_its_stop(engine_for: Callable[..., Engine]) -> None:
    engine = engine_for()
    position = live_btc_position(engine)
    engine.send("stop")
    assert engine.runner.loop is None
    assert engine.runner.guards.guarding()[("LIVE", "KRW-BTC")].by == GUARD

    engine.crash_price("KRW-BTC", position)
    engine.tick(5)

    assert_sold_at_stop(engine, position, 0)


def test_failed_loop_position_sells_at_its_stop(engine_for: Callable[..., Engine]) -> None:
    switch = CrashSwitch()
    engine = engine_for(switch)
    position = live_btc_position(engine)
    switch.on = True
    engine.tick()
    engine.tick()
    assert engine.runner.failed_reason is not None, engine.lines
    status = engine.store.engine_status()
    assert status is not None
    assert status.state == "failed"
    assert "still checked on every price" in (status.last_error or "")

    engine.crash_price("KRW-BTC", position)
    engine.tick(5)

    assert_sold_at_stop(engine, position, 0)


def audited_krw(store: Store) -> Decimal:
    """The TEST starting KRW plus every audited TEST fill's cash flow."""
    account = store.account("TEST")
    assert account is not None
    total = account.starting_krw
    for audit in store.trade_audits():
        if audit.mode == "TEST":
            funds = audit.fill_price * audit.volume
            total += -(funds + audit.fee) if audit.side == "bid" else funds - audit.fee
    return total


def test_test_guard_and_test_loop_share_one_krw_balance(engine_for: Callable[..., Engine]) -> None:
    engine = engine_for()
    engine.send("start", mode="TEST")
    engine.send("force_buy", reason="a TEST position in the old market")
    position = engine.position("TEST", "KRW-BTC")
    assert position is not None, engine.lines
    engine.set_market("KRW-ETH")
    engine.send("restart", mode="TEST")
    engine.send("force_buy", reason="the loop spends KRW while the guard holds BTC")
    assert engine.position("TEST", "KRW-ETH") is not None, engine.lines

    engine.crash_price("KRW-BTC", position)
    engine.tick(5)  # the guard sells BTC with the KRW the ETH buy left
    engine.tick(5)  # the loop's next cycle must not write back its own older balance

    assert engine.position("TEST", "KRW-BTC") is None, engine.lines
    assert engine.store.trade_audits()[-1].rule == "stop_loss"
    account = engine.store.account("TEST")
    assert account is not None
    assert account.krw_balance == audited_krw(engine.store)
    assert [order["market"] for order in engine.exchange.orders(ACCESS)] == []  # TEST never reaches Upbit
