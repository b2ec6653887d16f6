"""The watchdog on real threads (issue 15, part 4): it asks, the runner's own thread closes.

Each loop here holds a real SQLite connection opened on the thread that built it, as the user's
store does: closed from any other thread it raises "SQLite objects created in a thread can only be
used in that same thread". A loop's cycle blocks the way a quotation call does (until released);
time is a manual clock whose sleeps wait a little for real, so a runner thread ticks only when
the test moves time.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tradebot.core.models import Candle, Interval
from tradebot.engine.bootstrap import RunRequest
from tradebot.engine.engine_manager import EngineManager
from tradebot.engine.engine_runner import UserRunner
from tradebot.engine.halt import raise_if_halted
from tradebot.engine.runner_lease import SupersededError
from tradebot.engine.runner_types import Loop, RunnerSettings
from tradebot.exchange.upbit.rate_limit import GroupCounts
from tradebot.services.records import CommandRequest, Side
from tradebot.services.storage import open_user_store
from tradebot.services.user_admin import create_user

START = datetime(2026, 3, 1, tzinfo=UTC)
USER = "alice"


class ManualClock:
    """Monotonic time moved only by the test; `sleep` waits a moment for real, never moves it."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._lock = threading.Lock()

    def now(self) -> datetime:
        return START + timedelta(seconds=self.seconds)

    def monotonic(self) -> float:
        return self.seconds

    def sleep(self, seconds: float) -> None:
        time.sleep(0.002)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.seconds += seconds


@dataclass
class StuckLoop:
    """A loop whose first cycle blocks in a "quotation call" until `release` is set."""

    request: RunRequest
    release: threading.Event
    entered: threading.Event
    looks_at_halt: bool  # False: stuck inside a request that never returns early
    stuck: bool
    paused: bool = False
    market: str = "KRW-BTC"
    cycles: int = 0
    closed_on: threading.Thread | None = None  # the thread that closed its resources
    write_refused: bool = False
    write: Callable[[], None] = lambda: None

    def start(self) -> None:
        return None

    def cycle(self) -> object:
        if self.stuck:
            self.entered.set()
            while not self.release.wait(0.01):
                if self.looks_at_halt:
                    raise_if_halted()
        try:
            self.write()  # what a loop records after its request: its heartbeat
        except SupersededError:
            self.write_refused = True
            raise
        self.cycles += 1
        return None

    def force(self, side: Side, command_id: int, requested_by: str, reason: str) -> str:
        return "not used"

    def guard(self) -> object:
        return None


@dataclass
class StuckFactory:
    """Builds StuckLoops (the first one stuck) on the user's database, as `build_loop` opens it."""

    looks_at_halt: bool
    release: threading.Event = field(default_factory=threading.Event)
    entered: threading.Event = field(default_factory=threading.Event)
    loops: list[StuckLoop] = field(default_factory=list)

    def __call__(self, request: RunRequest, resources: ExitStack) -> Loop:
        store = open_user_store(request.home, request.username, create=False)
        if request.write_gate is not None:
            store.gate_writes(request.write_gate)
        connection = sqlite3.connect(":memory:")  # created on this thread: closable only here
        loop = StuckLoop(request, self.release, self.entered, self.looks_at_halt, stuck=not self.loops)

        candle = Candle(START + timedelta(minutes=len(self.loops)), 1.0, 1.0, 1.0, 1.0, 1.0)

        def write() -> None:  # one candle per loop: which loop wrote is read back from the file
            with store.transaction() as transaction:
                transaction.save_candles("KRW-BTC", Interval.MINUTE1, [candle])

        def close() -> None:
            loop.closed_on = threading.current_thread()
            connection.close()
            store.close()

        loop.write = write
        resources.callback(close)
        self.loops.append(loop)
        return loop


def _written_minutes(home: Path) -> list[int]:
    """Which loops wrote their candle (by index)."""
    with open_user_store(home, USER) as store:
        starts = [candle.start for candle in store.candles("KRW-BTC", Interval.MINUTE1)]
    return [int((start - START).total_seconds() // 60) for start in starts]


def _eventually(condition: Callable[[], bool], what: str) -> None:
    """Wait (for real, bounded) until another thread made `condition` true."""
    for _ in range(2000):
        if condition():
            return
        time.sleep(0.005)
    raise AssertionError(f"never happened: {what}")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    create_user(tmp_path, USER, None, START)
    request = CommandRequest(kind="start", requested_by="test", requested_at=START, args={})
    with open_user_store(tmp_path, USER) as store, store.transaction() as transaction:
        transaction.submit_command(request)
    return tmp_path


def _settings(home: Path) -> RunnerSettings:
    return RunnerSettings(home, "http://unused", "test-engine", 1.0, (5.0,), stall_seconds=30.0)


@pytest.fixture
def runner_thread() -> Iterator[ThreadPoolExecutor]:
    """One thread that plays the runner's (the test's own thread plays the manager's)."""
    with ThreadPoolExecutor(1, thread_name_prefix="runner") as executor:
        yield executor


def test_watchdog_stalled_loop_leaves_its_wait_and_is_closed_on_its_own_thread(
    home: Path, runner_thread: ThreadPoolExecutor
) -> None:
    clock, factory, lines = ManualClock(), StuckFactory(looks_at_halt=True), list[str]()

    def build() -> UserRunner:
        store = open_user_store(home, USER, create=False)
        return UserRunner(USER, store, factory, clock, _settings(home), lines.append)

    runner = runner_thread.submit(build).result(10)
    ticking = runner_thread.submit(runner.tick)
    assert factory.entered.wait(10)
    clock.advance(31.0)

    assert runner.check_stall()  # on this (the manager's) thread: nothing is closed here
    ticking.result(10)  # the loop left its blocked call at its next look at the halt

    closer = factory.loops[0].closed_on
    assert closer is not None
    assert closer.name.startswith("runner")
    assert not any("closing the loop" in line for line in lines), lines  # no cross-thread close
    assert any("stopped between two steps" in line for line in lines)
    runner_thread.submit(runner.tick).result(10)
    assert [loop.cycles for loop in factory.loops] == [0, 1]  # started again, on the runner's thread
    assert _written_minutes(home) == [1]
    runner_thread.submit(runner.shutdown).result(10)


def test_watchdog_runner_stuck_in_a_request_is_replaced_and_never_writes_again(home: Path) -> None:
    clock, factory, lines = ManualClock(), StuckFactory(looks_at_halt=False), list[str]()
    manager = EngineManager(
        _settings(home), clock, factory, lines.append, rate_counters=dict[str, GroupCounts]
    )
    manager.supervise()
    try:
        assert factory.entered.wait(10)
        stuck_thread, stuck_runner = manager.threads[USER], manager.runners[USER]
        clock.advance(31.0)
        manager.check_health()
        assert stuck_runner.stalled  # asked to stop, but still stuck in its request
        assert not stuck_runner.superseded
        assert manager.threads[USER] is stuck_thread  # no second loop while it may come back

        clock.advance(31.0)  # the hard limit (abandon_limit) after the stop request
        manager.check_health()

        assert stuck_runner.superseded
        assert manager.threads[USER] is not stuck_thread
        _eventually(lambda: len(factory.loops) == 2 and factory.loops[1].cycles >= 1, "a new loop cycled")
        factory.release.set()  # the old request returns at last; its loop goes on to write
        stuck_thread.join(10)
        assert not stuck_thread.is_alive()
        assert factory.loops[0].write_refused  # its write was refused before it began
        assert factory.loops[0].closed_on is stuck_thread  # closed on its own thread, on its way out
        assert _written_minutes(home) == [1]  # only the new loop's candle is in the file
        assert manager.runners[USER] is not stuck_runner
        assert any("abandoned" in line for line in lines), lines
    finally:
        factory.release.set()
        manager.stop.set()
        manager.join(10)
