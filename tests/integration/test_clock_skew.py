"""Closed candles by the exchange's clock (issue 12 #5, TRADING_RULES.md v2 Candles).

The loop's host clock 60 s ahead of or behind the exchange's changes no decision and no stored
candle; only the exchange's answers (their `Date`, trade times, newer candles) close a candle.
The loop cycles three times per simulated minute, so forming candles are always in the answers.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tradebot.core.models import Candle, Interval
from tradebot.engine.bootstrap import RunRequest, build_loop
from tradebot.engine.live_loop import LiveLoop
from tradebot.exchange.simulator.server import SimulatedTimeClock
from tradebot.exchange.upbit import RateLimitRegistry, UpbitQuotationClient, UpbitSession
from tradebot.services.records import BuyEvaluation, SellEvaluation
from tradebot.services.storage import open_user_store
from tradebot.services.user_admin import create_user
from tradebot.services.users import params_path

from .conftest import NoWaitClock, Simulator, SimulatorFactory
from .crash_harness import wait_until

USER = "skew"
MARKET = "KRW-BTC"
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
MINUTES = 45
STEP_SECONDS = 20  # three cycles per simulated minute: each answer has a forming candle


class OffsetClock:
    """A host clock `offset` away from the simulator's (ahead when positive)."""

    def __init__(self, inner: SimulatedTimeClock, offset: timedelta) -> None:
        self._inner, self._offset = inner, offset

    def now(self) -> datetime:
        return self._inner.now() + self._offset

    def monotonic(self) -> float:
        return self._inner.monotonic()

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def prepare_user(home: Path) -> None:
    create_user(home, USER, None, datetime.now(UTC))
    path = params_path(home, USER)
    params = json.loads(path.read_text())
    params.update(
        market=MARKET,
        interval="minute1",
        warmup_bars=40,
        take_profit=0.003,
        stop_loss=0.003,
        trailing_stop=0.002,
    )
    path.write_text(json.dumps(params))


Rows = tuple[list[BuyEvaluation], list[SellEvaluation], list[Candle]]


def run_with_offset(simulator: Simulator, home: Path, offset: timedelta, resources: ExitStack) -> Rows:
    prepare_user(home)
    clock = OffsetClock(SimulatedTimeClock(simulator.server), offset)
    request = RunRequest(home, USER, "TEST", simulator.base_url)
    loop = build_loop(request, clock, resources, session=simulator.session(clock=NoWaitClock()))
    loop.start()
    for _ in range(MINUTES * 60 // STEP_SECONDS):
        simulator.step(STEP_SECONDS)
        loop.cycle()
    return recorded_rows(home, loop)


def recorded_rows(home: Path, loop: LiveLoop) -> Rows:
    interval = loop.settings.params.interval
    with open_user_store(home, USER) as store:
        buys = [replace(row, evaluated_at=EPOCH) for row in store.buy_evaluations(MARKET, interval)]
        sells = [replace(row, evaluated_at=EPOCH) for row in store.sell_evaluations(MARKET, interval)]
        return buys, sells, store.candles(MARKET, interval)


def final_candles(base_url: str, count: int) -> dict[datetime, Candle]:
    with UpbitQuotationClient(
        UpbitSession(base_url=base_url, rate_limits=RateLimitRegistry(NoWaitClock()))
    ) as client:
        return {candle.start: candle for candle in client.get_candles(MARKET, Interval.MINUTE1, count)}


def assert_no_forming_candle_stored(stored: list[Candle], exchange_now: datetime, base_url: str) -> None:
    final = final_candles(base_url, len(stored) + 5)
    assert stored, "nothing was stored"
    assert all(candle.start + Interval.MINUTE1.duration <= exchange_now for candle in stored)
    for candle in stored[-MINUTES:]:  # the ones closed during the run; older ones came from history
        assert candle == final[candle.start], f"{candle.start} stored while forming"


def test_host_clock_60s_ahead_or_behind_changes_no_decision_and_no_stored_candle(
    simulator_factory: SimulatorFactory, tmp_path: Path
) -> None:
    runs: dict[int, Rows] = {}
    for seconds in (0, 60, -60):
        simulator = simulator_factory(markets=[MARKET], seed=23, rate_limits={"enforce": False})
        with ExitStack() as resources:
            runs[seconds] = run_with_offset(
                simulator, tmp_path / f"offset{seconds}", timedelta(seconds=seconds), resources
            )
        exchange_now = datetime.fromisoformat(simulator.step(0))
        assert_no_forming_candle_stored(runs[seconds][2], exchange_now, simulator.base_url)
    buys, sells, _candles = runs[0]
    assert len(buys) + len([row for row in sells if row.trigger_kind == "close"]) == MINUTES
    assert sells, "the run should have held a position at some point"
    assert runs[60] == runs[0]
    assert runs[-60] == runs[0]


# --- black box: a `tradebot simulator --start ...` process --------------------------------------


ADMIN_TOKENS: dict[str, str] = {}  # base URL -> the admin token that simulator printed


@pytest.fixture
def simulator_process(tmp_path: Path) -> Iterator[str]:
    """`tradebot simulator` in its own process, stepped, its clock three days before the host's."""
    start = (datetime.now(UTC) - timedelta(days=3)).replace(microsecond=0)
    command = [sys.executable, "-m", "tradebot", "simulator", "--port", "0", "--speed", "0",
               "--start", start.isoformat(), "--history-days", "1", "--markets", MARKET, "--seed", "5",
               "--no-rate-limits"]  # fmt: skip
    log = tmp_path / "simulator.out"
    with log.open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=dict(os.environ))  # noqa: S603
    try:
        url = _wait_for_url(log, process)
        ADMIN_TOKENS[url] = _admin_token(log)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def _wait_for_url(log: Path, process: subprocess.Popen[bytes]) -> str:
    def announced() -> bool:
        return process.poll() is not None or "listening on" in log.read_text()

    assert wait_until(announced, 60), log.read_text()
    match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", log.read_text())
    assert match is not None, log.read_text()
    return match.group(1)


def _admin_token(log: Path) -> str:
    """The per-run admin token the simulator printed at start."""
    match = re.search(r"X-Admin-Token: (\S+)", log.read_text())
    assert match is not None, log.read_text()
    return match.group(1)


class SteppedHostClock:
    """The loop's host clock: the simulator's last known time plus `offset` (it is told each step)."""

    def __init__(self, offset: timedelta) -> None:
        self.offset = offset
        self.exchange_time = EPOCH
        self._monotonic = 0.0

    def now(self) -> datetime:
        return self.exchange_time + self.offset

    def monotonic(self) -> float:
        return self._monotonic

    def sleep(self, seconds: float) -> None:
        self._monotonic += seconds


@pytest.mark.parametrize("offset_seconds", [59, -59])
def test_simulator_process_with_host_clock_off_evaluates_no_forming_candle(
    simulator_process: str, tmp_path: Path, offset_seconds: int
) -> None:
    headers = {"X-Admin-Token": ADMIN_TOKENS[simulator_process]}
    admin = httpx.Client(base_url=simulator_process, timeout=10, headers=headers)
    clock = SteppedHostClock(timedelta(seconds=offset_seconds))
    clock.exchange_time = datetime.fromisoformat(
        admin.post("/_admin/clock/step", json={"seconds": 0}).json()["now"]
    )
    prepare_user(tmp_path)
    with ExitStack() as resources:
        session = resources.enter_context(
            UpbitSession(base_url=simulator_process, rate_limits=RateLimitRegistry(NoWaitClock()))
        )
        loop = build_loop(
            RunRequest(tmp_path, USER, "TEST", simulator_process), clock, resources, session=session
        )
        loop.start()
        for _ in range(30):
            now = admin.post("/_admin/clock/step", json={"seconds": STEP_SECONDS}).json()["now"]
            clock.exchange_time = datetime.fromisoformat(now)
            loop.cycle()
        buys, sells, stored = recorded_rows(tmp_path, loop)
    admin.close()
    evaluated = [row.candle_start for row in buys] + [
        row.candle_start for row in sells if row.trigger_kind == "close"
    ]
    assert len(evaluated) == 10  # 30 cycles of 20 s: ten minutes closed, each evaluated once
    final = final_candles(simulator_process, 60)
    for candle in stored[-10:]:
        assert candle == final[candle.start], f"{candle.start} evaluated while forming"
