"""The engine service on fake loops and a fake clock: lock, commands, desired state, crash backoff."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from tradebot.cli import main
from tradebot.engine.bootstrap import RunRequest
from tradebot.engine.engine_manager import EngineManager, discover_users
from tradebot.engine.engine_runner import UserRunner
from tradebot.engine.lock_manager import EngineLock, EngineLockedError
from tradebot.engine.runner_types import Loop, RunnerSettings
from tradebot.engine.settings_watch import SettingsWatcher
from tradebot.exchange.upbit import UpbitConnectionError
from tradebot.exchange.upbit.rate_limit import GroupCounts
from tradebot.services.desired_state import desired_state
from tradebot.services.health_monitor import GUARD, LOOP, NOTHING, POSITION_ALERT, Guarding, read_health
from tradebot.services.records import Command, CommandKind, CommandRequest, Mode, Position
from tradebot.services.secrets import SecretBox
from tradebot.services.storage import Store, open_user_store
from tradebot.services.user_admin import UpbitKeys, create_user, save_keys, store_keys
from tradebot.services.users import conditions_path, params_path

START = datetime(2026, 3, 1, tzinfo=UTC)
BACKOFF = (5.0, 30.0, 300.0)


class FakeClock:
    """Time moves only when told."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def now(self) -> datetime:
        return START + timedelta(seconds=self.seconds)

    def monotonic(self) -> float:
        return self.seconds

    def sleep(self, seconds: float) -> None:
        self.seconds += seconds

    def advance(self, seconds: float) -> None:
        self.seconds += seconds


@dataclass
class FakeLoop:
    request: RunRequest
    crash_on_cycle: bool = False
    paused: bool = False
    started: bool = False
    cycles: int = 0
    closed: bool = False
    guards: int = 0
    crash_on_guard: bool = False
    market: str = "KRW-BTC"
    cycle_error: Exception | None = None  # raised by every cycle while set

    def start(self) -> None:
        self.started = True

    def guard(self) -> object:
        if self.crash_on_guard:
            raise RuntimeError("boom in guard")
        self.guards += 1
        return None

    def cycle(self) -> object:
        if self.crash_on_cycle:
            raise RuntimeError("boom in cycle")
        if self.cycle_error is not None:
            raise self.cycle_error
        self.cycles += 1
        return None


@dataclass
class FakeFactory:
    """Builds FakeLoops after reading the user's settings files, as `build_loop` does."""

    crash_on_cycle: bool = False
    unreachable: int = 0  # how many builds fail as if the exchange were down
    loops: list[FakeLoop] = field(default_factory=list)

    def __call__(self, request: RunRequest, resources: ExitStack) -> Loop:
        if self.unreachable:
            self.unreachable -= 1
            raise UpbitConnectionError("connection refused")
        settings = SettingsWatcher(
            params_path(request.home, request.username), conditions_path(request.home, request.username)
        ).load()  # a bad params file raises here
        market = request.guard_market or settings.params.market
        loop = FakeLoop(request, self.crash_on_cycle and not request.guard_market, market=market)
        resources.callback(lambda: setattr(loop, "closed", True))
        self.loops.append(loop)
        return loop


@pytest.fixture
def home(tmp_path: Path) -> Path:
    for name in ("alice", "bob"):
        create_user(tmp_path, name, None, START)
    return tmp_path


@dataclass
class Harness:
    home: Path
    clock: FakeClock
    factory: FakeFactory
    lines: list[str]
    stores: list[Store]

    def runner(self, username: str = "alice") -> UserRunner:
        store = open_user_store(self.home, username)
        self.stores.append(store)
        settings = RunnerSettings(self.home, "http://unused", "test-engine", 1.0, BACKOFF, healthy_cycles=3)
        return UserRunner(username, store, self.factory, self.clock, settings, self.lines.append)

    def send(self, kind: CommandKind, username: str = "alice", **options: object) -> int:
        confirmed = bool(options.pop("confirm", False))
        request = CommandRequest(
            kind=kind, requested_by="test", requested_at=self.clock.now(), args=dict(options),
            live_confirmed=confirmed,
        )  # fmt: skip
        with open_user_store(self.home, username) as store, store.transaction() as transaction:
            return transaction.submit_command(request)

    def command(self, command_id: int, username: str = "alice") -> Command:
        with open_user_store(self.home, username) as store:
            return next(item for item in store.recent_commands() if item.id == command_id)

    def status(self, username: str = "alice") -> tuple[str, str | None]:
        with open_user_store(self.home, username) as store:
            status = store.engine_status()
        assert status is not None
        return status.state, status.last_error


@pytest.fixture
def harness(home: Path) -> Iterator[Harness]:
    harness = Harness(home, FakeClock(), FakeFactory(), [], [])
    yield harness
    for store in harness.stores:
        store.close()


def test_second_lock_on_the_same_home_is_refused(tmp_path: Path) -> None:
    with EngineLock(tmp_path):
        with pytest.raises(EngineLockedError) as refused:
            EngineLock(tmp_path).acquire()
        assert str(refused.value) == f"another engine is running for {tmp_path} (pid {os.getpid()})"
    with EngineLock(tmp_path) as again:  # released with the first
        assert again.held


def test_users_are_discovered_from_valid_database_names(home: Path) -> None:
    (home / "tradebot_Bad-Name.db").write_text("")
    assert discover_users(home) == ["alice", "bob"]


def test_start_stop_and_restart_are_acknowledged_and_take_effect(harness: Harness) -> None:
    runner = harness.runner()
    started = harness.send("start")
    runner.tick()
    assert harness.command(started).status == "done"
    assert harness.command(started).result_message == "running in TEST"
    assert harness.command(started).acknowledged_at == START
    [loop] = harness.factory.loops
    assert loop.started
    assert loop.cycles == 1
    assert loop.request.mode == "TEST"
    stopped = harness.send("stop")
    runner.tick()
    assert (harness.command(stopped).status, harness.command(stopped).result_message) == ("done", "stopped")
    assert loop.closed
    assert runner.loop is None
    assert harness.status() == ("stopped", None)
    runner.tick()
    assert len(harness.factory.loops) == 1  # stays stopped
    restarted = harness.send("restart")
    runner.tick()
    assert harness.command(restarted).status == "done"
    assert len(harness.factory.loops) == 2
    assert harness.factory.loops[1].cycles == 1


def test_live_needs_the_confirmation_and_stored_keys(harness: Harness) -> None:
    runner = harness.runner()
    unconfirmed = harness.send("start", mode="LIVE")
    no_keys = harness.send("start", mode="LIVE", confirm=True)
    runner.tick()
    assert harness.command(unconfirmed).status == "rejected"
    assert "confirmation" in (harness.command(unconfirmed).result_message or "")
    assert harness.command(no_keys).status == "rejected"
    assert harness.command(no_keys).result_message == "no Upbit keys stored for alice: LIVE refused"
    assert harness.factory.loops == []
    assert not desired_state(runner.store).running


def test_mode_switch_restarts_the_loop_in_the_new_mode(harness: Harness) -> None:
    runner = harness.runner()
    store_keys(runner.store, SecretBox.for_home(harness.home), "alice", UpbitKeys("a", "s"), START)
    harness.send("start")
    runner.tick()
    switched = harness.send("set_mode", mode="live", confirm=True)
    runner.tick()
    assert harness.command(switched).result_message == "running in LIVE"
    first, second = harness.factory.loops
    assert first.closed
    assert second.request.mode == "LIVE"
    assert second.request.live_confirmed
    assert desired_state(runner.store).mode == "LIVE"
    unknown = harness.send("set_mode", mode="paper")
    runner.tick()
    assert harness.command(unknown).status == "rejected"


def test_desired_state_survives_an_engine_restart(harness: Harness) -> None:
    first = harness.runner()
    harness.send("start")
    harness.send("pause")
    first.tick()
    assert first.loop is not None
    assert first.loop.paused
    first.shutdown()
    assert harness.status() == ("stopped", "engine stopped")
    again = harness.runner()  # a new engine: no command pending, the history says running
    again.tick()
    assert again.loop is not None
    assert again.loop.paused
    assert harness.factory.loops[-1].cycles == 1
    resumed = harness.send("resume")
    again.tick()
    assert harness.command(resumed).result_message == "resumed"
    assert not again.loop.paused
    harness.send("stop")
    again.tick()
    third = harness.runner()
    third.tick()
    assert third.loop is None


def test_a_bad_params_file_parks_one_user_and_the_other_keeps_running(harness: Harness) -> None:
    params_path(harness.home, "bob").write_text("{not json")
    alice, bob = harness.runner("alice"), harness.runner("bob")
    harness.send("start", "alice")
    bob_start = harness.send("start", "bob")
    for _ in range(4):
        alice.tick()
        bob.tick()
        harness.clock.advance(400)
    assert "did not start" in (harness.command(bob_start, "bob").result_message or "")
    assert bob.loop is None
    assert bob.failed_reason is not None
    state, error = harness.status("bob")
    assert state == "failed"
    assert "crashes in a row" in (error or "")
    assert alice.loop is not None
    assert harness.factory.loops[0].cycles == 4


def test_a_crashing_loop_restarts_after_each_delay_then_is_parked_failed(harness: Harness) -> None:
    harness.factory.crash_on_cycle = True
    runner = harness.runner()
    harness.send("start")
    runner.tick()  # start, first cycle crashes: retry in 5 s
    assert len(harness.factory.loops) == 1
    assert harness.factory.loops[0].closed
    state, error = harness.status()
    assert state == "stopped"
    assert "restarting in 5 s" in (error or "")
    assert any("Traceback" in line and "boom in cycle" in line for line in harness.lines)
    for delay, loops in ((5.0, 2), (30.0, 3), (300.0, 4)):
        harness.clock.advance(delay - 0.5)
        runner.tick()
        assert len(harness.factory.loops) == loops - 1  # not before the delay
        harness.clock.advance(0.5)
        runner.tick()
        assert len(harness.factory.loops) == loops
    assert runner.failed_reason == "failed after 4 crashes in a row: boom in cycle"
    assert harness.status() == ("failed", f"{runner.failed_reason} (no open position)")
    harness.clock.advance(10_000)
    runner.tick()
    assert len(harness.factory.loops) == 4  # parked
    harness.factory.crash_on_cycle = False
    restarted = harness.send("restart")
    runner.tick()
    assert harness.command(restarted).result_message == "running in TEST"
    assert runner.failed_reason is None
    assert harness.factory.loops[-1].cycles == 1


def _hold(harness: Harness, mode: Mode = "TEST", market: str = "KRW-BTC") -> None:
    held = Position(
        mode=mode, market=market, volume=Decimal("0.01"), entry_price=Decimal(90_000_000),
        peak_price=Decimal(90_000_000), entry_candle_start=START, bars_held=3, updated_at=START,
    )  # fmt: skip
    with open_user_store(harness.home, "alice") as store, store.transaction() as transaction:
        transaction.set_position(held)


def _guards(harness: Harness) -> list[FakeLoop]:
    """The loops built as price-exit guards, oldest first."""
    return [loop for loop in harness.factory.loops if loop.request.guard_market is not None]


def _set_market(harness: Harness, market: str) -> None:
    path = params_path(harness.home, "alice")
    path.write_text(json.dumps(json.loads(path.read_text()) | {"market": market}))


def _park_with_position(harness: Harness) -> UserRunner:
    """alice holds coins in TEST and her loop crashes on every cycle until she is parked."""
    _hold(harness)
    harness.factory.crash_on_cycle = True
    runner = harness.runner()
    harness.send("start")
    runner.tick()
    for delay in (5.0, 30.0, 300.0):
        harness.clock.advance(delay)
        runner.tick()
    assert runner.failed_reason is not None
    return runner


def test_parked_user_with_position_keeps_price_exits_checked_every_cycle(harness: Harness) -> None:
    runner = _park_with_position(harness)
    guard = _guards(harness)[-1]
    assert (guard.request.mode, guard.request.guard_market, guard.closed) == ("TEST", "KRW-BTC", False)
    state, error = harness.status()
    assert state == "failed"
    assert "still checked on every price" in (error or "")
    checks = guard.guards
    for _ in range(3):
        runner.tick()
    assert guard.guards == checks + 3
    assert guard.cycles == 0  # no candles, no entries
    assert runner.guards.guarding() == {("TEST", "KRW-BTC"): Guarding(GUARD)}


def test_stopped_user_with_position_keeps_its_guard_until_the_position_closes(harness: Harness) -> None:
    runner = _park_with_position(harness)
    guard = _guards(harness)[-1]
    harness.send("stop")
    runner.tick()
    runner.tick()
    assert runner.loop is None
    live = [item for item in _guards(harness) if not item.closed]
    assert len(live) == 1
    assert live[0].guards >= 2
    with open_user_store(harness.home, "alice") as store, store.transaction() as transaction:
        transaction.clear_position("TEST", "KRW-BTC")
    runner.tick()
    assert guard.closed
    assert all(item.closed for item in _guards(harness))
    assert runner.guards.guarding() == {}


def test_parked_user_guard_failing_reports_unguarded_position(harness: Harness) -> None:
    runner = _park_with_position(harness)
    _guards(harness)[-1].crash_on_guard = True
    runner.tick()
    assert _guards(harness)[-1].closed
    state, error = harness.status()
    assert state == "failed"
    assert "ALERT: position open and its price exits are NOT running" in (error or "")
    assert "guard failed: boom in guard" in (error or "")
    assert runner.reading is not None
    [position] = runner.reading.positions
    assert position.unguarded
    assert "boom in guard" in (position.problem or "")


def test_position_in_the_old_market_is_guarded_after_a_market_change(harness: Harness) -> None:
    _hold(harness, "LIVE", "KRW-BTC")
    _hold(harness, "TEST", "KRW-ETH")
    _set_market(harness, "KRW-ETH")
    runner = harness.runner()
    harness.send("start", mode="TEST")
    runner.tick()
    runner.tick()
    assert runner.loop is not None
    assert runner.loop.market == "KRW-ETH"
    [guard] = _guards(harness)
    assert (guard.request.mode, guard.request.guard_market) == ("LIVE", "KRW-BTC")
    assert guard.request.live_confirmed  # a LIVE position keeps LIVE orders after a switch to TEST
    assert guard.guards == 2
    assert runner.guards.guarding() == {
        ("LIVE", "KRW-BTC"): Guarding(GUARD),
        ("TEST", "KRW-ETH"): Guarding(LOOP),
    }
    assert runner.reading is not None
    assert {(item.mode, item.market, item.guarded_by) for item in runner.reading.positions} == {
        ("LIVE", "KRW-BTC", GUARD),
        ("TEST", "KRW-ETH", LOOP),
    }


def test_guard_that_cannot_be_built_is_retried_and_reported(harness: Harness) -> None:
    _hold(harness, "TEST", "KRW-BTC")
    harness.factory.unreachable = 1
    runner = harness.runner()
    runner.tick()  # not running: the position is guarded all the same
    [(key, guarding)] = runner.guards.guarding().items()
    assert (key, guarding.by) == (("TEST", "KRW-BTC"), NOTHING)
    assert "guard not started: Upbit: connection refused" in (guarding.problem or "")
    assert any("price exits NOT checked" in line for line in harness.lines)
    runner.tick()
    assert runner.guards.guarding() == {("TEST", "KRW-BTC"): Guarding(GUARD)}
    assert _guards(harness)[-1].guards == 1


def test_unsupported_commands_are_rejected(harness: Harness) -> None:
    runner = harness.runner()
    forced = harness.send("force_buy")
    runner.tick()
    assert harness.command(forced).status == "rejected"


def test_an_unreachable_exchange_at_start_is_retried_without_parking(harness: Harness) -> None:
    harness.factory.unreachable = 10
    runner = harness.runner()
    harness.send("start")
    for _ in range(10):
        runner.tick()
        harness.clock.advance(BACKOFF[0])
    assert runner.failed_reason is None
    state, error = harness.status()
    assert state == "stopped"
    assert "exchange error" in (error or "")
    runner.tick()
    assert runner.loop is not None
    assert harness.factory.loops[0].cycles == 1


def test_ctl_refuses_live_without_confirmation_and_queues_with_no_wait(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TRADEBOT_HOME", str(home))
    assert main(["ctl", "start", "--user", "alice", "--mode", "live"]) == 2
    assert "confirm with --confirm-live" in capsys.readouterr().err
    assert main(["ctl", "start", "--user", "alice", "--mode", "live", "--confirm-live", "--no-wait"]) == 2
    assert "no Upbit keys stored for alice" in capsys.readouterr().err
    save_keys(home, "alice", UpbitKeys("access", "secret"), START)
    assert main(["ctl", "start", "--user", "alice", "--mode", "live", "--confirm-live", "--no-wait"]) == 0
    assert main(["ctl", "stop", "--user", "alice", "--timeout", "0.2"]) == 2
    assert "no acknowledgement within 0.2 s" in capsys.readouterr().err
    with open_user_store(home, "alice") as store:
        stop, start = store.recent_commands()
    assert (start.kind, start.args, start.live_confirmed, start.status) == (
        "start",
        {"mode": "LIVE"},
        True,
        "pending",
    )
    assert stop.kind == "stop"
    assert start.requested_by


def test_command_claimed_by_a_dead_engine_is_failed_with_a_message_at_start(harness: Harness) -> None:
    command_id = harness.send("start")
    with open_user_store(harness.home, "alice") as store, store.transaction() as transaction:
        claimed = transaction.claim_next_command(engine_id="dead-engine", claimed_at=harness.clock.now())
    assert claimed is not None
    harness.runner()
    command = harness.command(command_id)
    assert command.status == "failed"
    assert command.result_message is not None
    assert "send it again" in command.result_message


def test_force_command_without_a_running_loop_is_refused_not_queued(harness: Harness) -> None:
    runner = harness.runner()
    forced = harness.send("force_buy", reason="why not")
    runner.tick()
    command = harness.command(forced)
    assert command.status == "rejected"
    assert command.result_message is not None
    assert "not trading" in command.result_message


def test_force_command_older_than_a_minute_expires(harness: Harness) -> None:
    runner = harness.runner()
    forced = harness.send("force_sell", reason="late")
    harness.clock.advance(120)
    runner.tick()
    command = harness.command(forced)
    assert command.status == "rejected"
    assert command.result_message is not None
    assert "expired" in command.result_message


def test_ctl_force_needs_a_reason_and_a_trading_engine(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TRADEBOT_HOME", str(home))
    assert main(["ctl", "force-buy", "--user", "alice"]) == 2
    assert "needs --reason" in capsys.readouterr().err
    assert main(["ctl", "force-sell", "--user", "alice", "--reason", "panic"]) == 2
    assert "not trading for alice" in capsys.readouterr().err
    with open_user_store(home, "alice") as store:
        assert store.recent_commands() == []  # refused, not queued


def test_watchdog_stalled_loop_is_asked_to_stop_then_closed_and_restarted_by_its_next_tick(
    harness: Harness,
) -> None:
    runner = harness.runner()
    harness.send("start")
    runner.tick()
    assert runner.settings.stall_limit == 30.0  # 6 cycles of 1 s, but at least 30 s
    harness.clock.advance(30.0)
    assert not runner.check_stall()  # exactly the limit is not yet a stall

    harness.clock.advance(1.0)  # the loop's thread is stuck: no cycle finished for 31 s
    assert runner.check_stall()
    assert not runner.check_stall()  # flagged once
    assert runner.watch.halt.is_set()  # asked, not closed: its resources belong to its own thread
    assert not harness.factory.loops[0].closed
    assert runner.consecutive_errors == 1
    assert any("no heartbeat for 31 s" in line for line in harness.lines)

    runner.tick()
    assert harness.factory.loops[0].closed
    assert len(harness.factory.loops) == 2
    assert harness.factory.loops[1].cycles == 1
    assert harness.status() == ("running", None)
    assert (runner.stalled, runner.consecutive_errors) == (False, 0)


def test_watchdog_stopped_user_is_never_flagged(harness: Harness) -> None:
    runner = harness.runner()
    runner.tick()
    harness.clock.advance(10_000.0)

    assert not runner.check_stall()
    assert harness.factory.loops == []


def test_runner_consecutive_errors_count_crashes_until_a_clean_cycle(harness: Harness) -> None:
    harness.factory.crash_on_cycle = True
    runner = harness.runner()
    harness.send("start")
    runner.tick()
    harness.clock.advance(BACKOFF[0])
    runner.tick()
    assert runner.consecutive_errors == 2
    harness.factory.crash_on_cycle = False
    harness.clock.advance(BACKOFF[1])
    runner.tick()
    assert runner.consecutive_errors == 0


@dataclass
class FakeProcess:
    pid: int = 7

    def memory_info(self) -> object:
        return type("Memory", (), {"rss": 1_048_576})()

    def cpu_percent(self, interval: float | None = None) -> float:
        return 3.0

    def create_time(self) -> float:
        return 0.0

    def num_threads(self) -> int:
        return 4


def test_manager_check_health_restarts_stalled_runner_and_writes_position_alert(harness: Harness) -> None:
    runner = harness.runner()
    settings = runner.settings
    manager = EngineManager(
        settings, harness.clock, harness.factory, harness.lines.append, process=FakeProcess(),
        rate_counters=lambda: {"quotation:candles": GroupCounts(requests=5, throttled=1)},
    )  # fmt: skip
    manager.runners["alice"] = runner
    position = Position(
        mode="TEST", market="KRW-BTC", volume=Decimal("0.1"), entry_price=Decimal(1000), peak_price=None,
        entry_candle_start=None, bars_held=0, updated_at=START,
    )  # fmt: skip
    with open_user_store(harness.home, "alice") as store, store.transaction() as transaction:
        transaction.set_position(position)
    harness.send("start")
    runner.tick()  # also takes the health reading the manager uses (no database opened per user)
    assert runner.reading is not None
    assert runner.reading.open_positions == 1
    harness.clock.advance(31.0)

    report = manager.check_health()

    assert report is not None
    assert runner.stalled
    assert not harness.factory.loops[0].closed  # the runner's thread closes it at its next tick
    document = read_health(harness.home)
    assert document is not None
    alice, bob = document["users"]
    expected = f"{POSITION_ALERT}: TEST KRW-BTC"  # its loop was silent: nothing checked the position
    assert (alice["username"], alice["alert"], alice["consecutive_errors"]) == ("alice", expected, 1)
    assert alice["positions"][0] | {"problem": None} == {
        "mode": "TEST", "market": "KRW-BTC", "volume": "0.1", "entry_price": "1000", "guarded_by": "nothing",
        "problem": None,
    }  # fmt: skip
    assert (bob["state"], bob["consecutive_errors"], bob["alert"]) == ("unknown", None, None)
    assert document["process"]["threads"] == 4
    assert document["rate_groups"]["quotation:candles"]["throttled"] == 1
    runner.tick()
    assert len(harness.factory.loops) == 2
