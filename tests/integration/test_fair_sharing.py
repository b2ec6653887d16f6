"""Fair sharing of the engine (issue 19 #2): one user's warm-up cannot delay another user's price exits.

Two users of one engine share its HTTP session, rate limiters and market-data cache, as
`tradebot engine` runs them. The hostile one starts with `warmup_bars` 100000 (allowed by the old
form); while its warm-up pages through history, the other user's stop loss must fire in the very
next cycle, without waiting on the rate limiter or on the hostile user's requests. The limiter's
clock is a fake one: the hostile thread blocks inside it (as if the window were full for a long
time) and every wait of the other user is recorded, so nothing depends on wall time.
"""

from __future__ import annotations

import json
import threading
from contextlib import ExitStack
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from tradebot.core.krw_rules import round_to_tick
from tradebot.core.params import MAX_WARMUP_BARS
from tradebot.engine.bootstrap import RunRequest, build_loop
from tradebot.engine.live_loop import ALL_CANDLES, LiveLoop
from tradebot.engine.shared_feed import SharedQuotations
from tradebot.exchange.simulator.server import SimulatedTimeClock
from tradebot.exchange.upbit import RateLimitRegistry, UpbitQuotationClient, UpbitSession
from tradebot.services.records import CommandRequest
from tradebot.services.storage import open_user_store
from tradebot.services.user_admin import create_user
from tradebot.services.users import params_path

from .conftest import Simulator, SimulatorFactory

MARKET = "KRW-BTC"
HOSTILE, VICTIM = "hostile", "victim"


class GatedClock:
    """The rate limiters' clock: the hostile thread's waits block until released; others are recorded."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.hostile: threading.Thread | None = None
        self.hostile_waiting, self.release = threading.Event(), threading.Event()
        self.other_waits: list[float] = []

    def now(self) -> datetime:
        raise AssertionError("the limiters never read the wall clock")

    def monotonic(self) -> float:
        return self.seconds

    def sleep(self, seconds: float) -> None:
        if threading.current_thread() is self.hostile:
            self.hostile_waiting.set()
            assert self.release.wait(60), "the test never released the hostile warm-up"
        else:
            self.other_waits.append(seconds)
        self.seconds += seconds


def add_user(home: Path, username: str, **params: object) -> None:
    create_user(home, username, None, datetime.now(UTC))
    path = params_path(home, username)
    document = json.loads(path.read_text())
    document.update(market=MARKET, interval="minute1", **params)
    path.write_text(json.dumps(document))  # written as an old file would be: no validation on the way


def build(
    simulator: Simulator,
    home: Path,
    username: str,
    session: UpbitSession,
    shared: SharedQuotations,
    resources: ExitStack,
) -> LiveLoop:
    request = RunRequest(home, username, "TEST", simulator.base_url)
    clock = SimulatedTimeClock(simulator.server)
    return build_loop(request, clock, resources, session=session, quotations=shared)


def force_buy(home: Path, loop: LiveLoop) -> None:
    with open_user_store(home, VICTIM) as store, store.transaction() as transaction:
        command = transaction.submit_command(
            CommandRequest(kind="force_buy", requested_by=VICTIM, requested_at=datetime.now(UTC))
        )
    assert "filled" in loop.force("bid", command, VICTIM, "a position to protect")


def test_hostile_warm_up_never_delays_another_users_stop_loss(
    simulator_factory: SimulatorFactory, tmp_path: Path
) -> None:
    simulator = simulator_factory(markets=[MARKET], seed=3, rate_limits={"enforce": False})
    add_user(tmp_path, VICTIM, warmup_bars=40, stop_loss=0.02, take_profit=0.5, trailing_stop=0.5)
    add_user(tmp_path, HOSTILE, warmup_bars=100_000)
    gate = GatedClock()
    session = UpbitSession(base_url=simulator.base_url, rate_limits=RateLimitRegistry(gate))
    shared = SharedQuotations(
        UpbitQuotationClient(session), SimulatedTimeClock(simulator.server), ticker_max_age=0.0
    )
    failures: list[BaseException] = []

    def warm_up() -> None:
        try:
            with ExitStack() as hostile_resources:
                build(simulator, tmp_path, HOSTILE, session, shared, hostile_resources).start()
        except BaseException as error:  # reported to the test thread
            failures.append(error)

    with ExitStack() as resources:
        victim = build(simulator, tmp_path, VICTIM, session, shared, resources)
        victim.start()
        simulator.step(60)
        victim.cycle()
        force_buy(tmp_path, victim)
        gate.hostile = threading.Thread(target=warm_up, name="hostile-warm-up")
        gate.hostile.start()
        try:
            assert gate.hostile_waiting.wait(60), failures  # the warm-up is paging, held in the limiter
            with open_user_store(tmp_path, VICTIM) as store:
                [position] = store.positions("TEST")
            assert position.entry_price is not None
            crash = round_to_tick(position.entry_price * Decimal("0.95"), up=False)
            simulator.set_price(MARKET, str(crash))
            simulator.step(60)  # a candle closes too: the victim must read candles as well as a price
            requests_before = shared.candle_requests
            report = victim.cycle()
            assert shared.candle_requests > requests_before
            assert any("stop_loss" in line for line in report.decisions), report.decisions
            assert gate.other_waits == []  # the victim never waited for the rate budget
            assert gate.hostile.is_alive()  # while the hostile warm-up was still going on
        finally:
            gate.release.set()
            gate.hostile.join(60)
    assert failures == []
    with open_user_store(tmp_path, VICTIM) as store:
        assert store.positions("TEST") == []
    with open_user_store(tmp_path, HOSTILE) as store:
        assert len(store.candles(MARKET, victim.settings.params.interval, ALL_CANDLES)) == MAX_WARMUP_BARS


def test_raising_warmup_bars_while_running_does_not_go_back_into_warm_up(
    simulator_factory: SimulatorFactory, tmp_path: Path
) -> None:
    # Issue 19 #10: the raise applies at the next restart, and the status says so.
    simulator = simulator_factory(markets=[MARKET], seed=3, rate_limits={"enforce": False})
    add_user(tmp_path, VICTIM, warmup_bars=40)
    session = simulator.session()
    shared = SharedQuotations(
        UpbitQuotationClient(session), SimulatedTimeClock(simulator.server), ticker_max_age=0.0
    )
    with ExitStack() as resources:
        loop = build(simulator, tmp_path, VICTIM, session, shared, resources)
        loop.start()
        simulator.step(60)
        assert loop.cycle().state == "running"
        path = params_path(tmp_path, VICTIM)
        document = json.loads(path.read_text())
        document["warmup_bars"] = 1_000
        path.write_text(json.dumps(document))
        simulator.step(60)
        report = loop.cycle()
        assert report.state == "running"
        assert not any("warming up" in line for line in report.decisions), report.decisions
        assert loop.settings.params.warmup_bars == 40
        with open_user_store(tmp_path, VICTIM) as store:
            status = store.engine_status()
        assert status is not None
        assert status.last_error == "warmup_bars changes take effect when the loop restarts"
