"""The soak run of issue 7: many users in one `tradebot engine` against a faulty, fast simulator.

The simulator runs in this process (real HTTP on loopback) with a fast clock, several markets, one
account per LIVE user, its rate limits enforced and random faults on every `/v1` answer: 5xx,
timeouts longer than the engine's 10 s client timeout, latency spikes, truncated JSON, 429 bursts
and order answers dropped after the order was placed. The users (TEST and LIVE mixed, settings
that trade every few candles) are started with `tradebot ctl start` and run by ONE `tradebot
engine` child process. Once `candles` simulated minute candles have closed the faults are switched
off, the engine is given time to finish what was in flight (stalled requests land, unresolved
orders are looked up, accounts reconciled), it is stopped with SIGTERM, and `soak_checks` compares
every user's database with the simulator. `bench/soak.py` (`make soak`) and
`tests/integration/test_soak_short.py` both run it.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from tradebot.cli import main
from tradebot.engine.order_desk import ABSENT_CONFIRMATION, NOT_FOUND_GRACE
from tradebot.exchange.simulator import FaultSettings, ScheduledFault, build_config
from tradebot.exchange.simulator.server import SimulatorServer
from tradebot.exchange.upbit.session import DEFAULT_TIMEOUT_SECONDS
from tradebot.services.health_monitor import read_health
from tradebot.services.paths import HOME_VARIABLE
from tradebot.services.records import Mode
from tradebot.services.user_admin import UpbitKeys, create_user, save_keys
from tradebot.services.users import conditions_path, params_path

from .crash_harness import HarnessError, wait_until
from .soak_processes import Admin, EngineProcess, read_rows

STARTING_KRW = Decimal(1_000_000)
ENGINE_CLIENT_TIMEOUT = DEFAULT_TIMEOUT_SECONDS  # the engine's Upbit client timeout (10 s)
SOAK_FAULTS = FaultSettings(
    error_rate=0.10,  # 5xx: half JSON 500s, half HTML 503 maintenance pages
    timeout_rate=0.05,  # stalled past the client's timeout, then processed anyway
    timeout_seconds=ENGINE_CLIENT_TIMEOUT + 1.0,
    malformed_rate=0.02,
    drop_order_rate=0.10,  # of POST /v1/orders: placed, then the connection closed
    throttle_burst_rate=0.004,
    throttle_burst_length=5,
    spike_rate=0.02,
    spike_seconds=2.0,
    seed=7,
)
# First, one of each order-in-doubt fault and a 429 burst, so even a short run goes through them.
SOAK_SCHEDULED = (
    ScheduledFault(kind="drop", method="POST", path="/v1/orders"),
    ScheduledFault(kind="timeout", method="POST", path="/v1/orders"),
    ScheduledFault(kind="malformed", method="POST", path="/v1/orders"),
    ScheduledFault(kind="throttle", method="GET", path="/v1/accounts", count=5),
)
ACKNOWLEDGE_SECONDS = 120.0  # a start under faults may wait out timeouts and a 5 s backoff
SAMPLE_SECONDS = 0.5
RSS_EVERY_SAMPLES = 10  # the engine's RSS every 5 s
# An order the exchange never got stays open for NOT_FOUND_GRACE after it was sent, and at least
# ABSENT_CONFIRMATION of lookups that all found nothing (the engine's clock is the host's).
SETTLE_LIMIT_SECONDS = (NOT_FOUND_GRACE + ABSENT_CONFIRMATION).total_seconds() + 80.0
UNFINISHED = ("requested", "wait", "watch")
OPEN_ORDERS_SQL = "SELECT identifier FROM orders WHERE state IN ('requested', 'wait', 'watch')"


@dataclass(frozen=True, slots=True)
class SoakSettings:
    """What to run: how long, how many users, how fast, which faults."""

    candles: int
    users: int = 20
    live_users: int | None = None  # None: half of them
    markets: tuple[str, ...] = ("KRW-BTC", "KRW-ETH", "KRW-XRP")
    speed: float = 180.0  # simulated seconds per real second: a minute candle every 1/3 s
    cycle_seconds: float = 0.2
    seed: int = 7
    faults: FaultSettings = field(default_factory=SOAK_FAULTS.model_copy)
    scheduled: tuple[ScheduledFault, ...] = SOAK_SCHEDULED

    @property
    def live_count(self) -> int:
        return self.users // 2 if self.live_users is None else self.live_users


@dataclass(frozen=True, slots=True)
class SoakUser:
    """One user of the run; LIVE users have an account (and keys) at the simulator."""

    name: str
    mode: Mode
    market: str

    @property
    def access_key(self) -> str:
        return f"soak-access-{self.name}"

    @property
    def secret_key(self) -> str:
        return f"soak0secret0{self.name}".ljust(40, "0")


@dataclass
class Observations:
    """What was seen while the engine ran."""

    began: float = field(default_factory=time.monotonic)  # before the users are created
    simulated_start: datetime | None = None
    simulated_end: datetime | None = None  # when the candle count was reached
    simulated_stop: datetime | None = None  # when the engine was stopped, after settling
    rss_start: int = 0
    rss_end: int = 0
    rss_samples: list[int] = field(default_factory=list)  # while the candles ran
    max_cycle_seconds: float = 0.0
    max_cycle_user: str = ""
    health_samples: int = 0
    rate_groups: dict[str, dict[str, int]] = field(default_factory=dict)
    engine_died: int | None = None  # exit code if the engine ended before it was stopped
    exit_code: int | None = None
    stop_seconds: float = 0.0
    settle_seconds: float = 0.0
    settled: bool = False
    wall_seconds: float = 0.0
    fault_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    simulator_requests: int = 0  # `/v1` requests the simulator answered (faulted or not)
    order_requests: int = 0  # of which `POST /v1/orders`
    startup_seconds: float = 0.0  # engine start to every user's start acknowledged


def make_users(settings: SoakSettings) -> list[SoakUser]:
    """LIVE and TEST alternating, markets in turn."""
    users = []
    live_left = settings.live_count
    for index in range(settings.users):
        live = live_left > 0 and (index % 2 == 0 or settings.users - index <= live_left)
        live_left -= live
        mode: Mode = "LIVE" if live else "TEST"
        name = f"soak{index:02d}_{mode.lower()}"
        users.append(SoakUser(name, mode, settings.markets[index % len(settings.markets)]))
    return users


def prepare_user(home: Path, user: SoakUser) -> None:
    """Settings that trade every few candles (crash_harness.prepare_user's), LIVE keys if LIVE."""
    now = datetime.now(UTC)
    create_user(home, user.name, None, now)
    path = params_path(home, user.name)
    params = json.loads(path.read_text())
    params.update(
        market=user.market, interval="minute1", warmup_bars=40, take_profit=0.003, stop_loss=0.003,
        trailing_stop=0.002, order_ratio=0.5, price_exit_check="tick",
    )  # fmt: skip
    path.write_text(json.dumps(params))
    path = conditions_path(home, user.name)
    conditions = json.loads(path.read_text())
    conditions["buy"] = {key: key == "bullish_candle" for key in conditions["buy"]}
    path.write_text(json.dumps(conditions))
    if user.mode == "LIVE":
        save_keys(home, user.name, UpbitKeys(user.access_key, user.secret_key), now)


@contextlib.contextmanager
def running_simulator(settings: SoakSettings, users: list[SoakUser]) -> Iterator[SimulatorServer]:
    """The simulator on a fast clock with rate limits enforced and the faults on from the start."""
    accounts = [
        {"access_key": user.access_key, "secret_key": user.secret_key, "balances": {"KRW": str(STARTING_KRW)}}
        for user in users
        if user.mode == "LIVE"
    ]
    config = build_config(
        port=0, speed=settings.speed, start=datetime.now(UTC), history_days=1, markets=list(settings.markets),
        seed=settings.seed, accounts=accounts, rate_limits={"enforce": True}, faults=settings.faults,
    )  # fmt: skip
    server = SimulatorServer(config)  # (configures uvicorn's loggers)
    for fault in settings.scheduled:
        server.faults.schedule(fault)
    server_log = logging.getLogger("uvicorn.error")
    server_log.addFilter(_dropped_answer_filter)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        server_log.removeFilter(_dropped_answer_filter)


def _dropped_answer_filter(record: logging.LogRecord) -> bool:
    """Every dropped order answer makes uvicorn log this line: expected here, not worth printing."""
    return not record.getMessage().startswith("ASGI callable returned without completing response")


@contextlib.contextmanager
def _data_home(home: Path) -> Iterator[None]:
    previous = os.environ.get(HOME_VARIABLE)
    os.environ[HOME_VARIABLE] = str(home)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(HOME_VARIABLE, None)
        else:
            os.environ[HOME_VARIABLE] = previous


def start_users(home: Path, users: list[SoakUser], engine: EngineProcess) -> None:
    """`tradebot ctl start` for every user (LIVE with `--mode live --confirm-live`), acknowledged."""
    with _data_home(home), contextlib.redirect_stdout(io.StringIO()):
        for user in users:
            arguments = ["ctl", "start", "--user", user.name, "--no-wait"]
            if user.mode == "LIVE":
                arguments += ["--mode", "live", "--confirm-live"]
            if main(arguments) != 0:
                raise HarnessError(f"ctl start {user.name} failed")

    def answered(user: SoakUser) -> bool:
        return bool(
            read_rows(home, user.name, "SELECT 1 FROM commands WHERE status NOT IN ('pending', 'claimed')")
        )

    waiting = list(users)
    if not wait_until(
        lambda: all(answered(user) for user in waiting) or not engine.alive, ACKNOWLEDGE_SECONDS
    ):
        missing = [user.name for user in waiting if not answered(user)]
        raise HarnessError(f"no acknowledgement for {missing}:\n{engine.text()[-3000:]}")
    for user in users:
        rows = read_rows(home, user.name, "SELECT status, result_message FROM commands")
        if not rows or rows[0][0] != "done":
            raise HarnessError(f"{user.name}: start answered {rows}")


def sample_health(home: Path, observations: Observations) -> None:
    """Keep the longest cycle seen in `health.json` and the latest rate-group counts."""
    document = read_health(home)
    if document is None:
        return
    observations.health_samples += 1
    for user in document.get("users", []):
        duration = user.get("cycle_duration_seconds")
        if duration is not None and float(duration) > observations.max_cycle_seconds:
            observations.max_cycle_seconds = float(duration)
            observations.max_cycle_user = str(user.get("username"))
    groups = document.get("rate_groups") or {}
    observations.rate_groups = {name: dict(counts) for name, counts in groups.items()}


def run_candles(
    home: Path, admin: Admin, engine: EngineProcess, settings: SoakSettings, observations: Observations
) -> None:
    """Until `settings.candles` simulated minutes have passed, or the engine dies."""
    observations.simulated_start = admin.now()
    target = observations.simulated_start + timedelta(minutes=settings.candles)
    while admin.now() < target:
        if not engine.alive:
            observations.engine_died = engine.process.returncode
            return
        sample_health(home, observations)
        if len(observations.rss_samples) * RSS_EVERY_SAMPLES <= observations.health_samples:
            observations.rss_samples.append(engine.rss())
        time.sleep(SAMPLE_SECONDS)
    observations.simulated_end = admin.now()


def settle(
    home: Path, admin: Admin, users: list[SoakUser], engine: EngineProcess, settings: SoakSettings
) -> bool:
    """Faults off; wait until stalled requests have landed, no order the exchange holds is
    unresolved in a database, and every user has cycled twice since. False at the time limit."""
    admin.call("DELETE", "/_admin/faults")
    deadline = time.monotonic() + SETTLE_LIMIT_SECONDS
    time.sleep(max(settings.faults.timeout_seconds, settings.faults.spike_seconds) + 1.0)
    for _ in range(2):
        mark = datetime.now(UTC)

        def settled(mark: datetime = mark) -> bool:
            return all(_user_settled(home, admin, user, mark) for user in users) or not engine.alive

        if not wait_until(settled, max(deadline - time.monotonic(), 0.0)):
            return False
    return engine.alive


def _user_settled(home: Path, admin: Admin, user: SoakUser, mark: datetime) -> bool:
    rows = read_rows(home, user.name, "SELECT heartbeat_at, state FROM engine_status")
    if not rows or rows[0][1] != "running" or datetime.fromtimestamp(rows[0][0] / 10**9, UTC) <= mark:
        return False  # the loop has not finished a cycle since `mark`
    if user.mode == "TEST":
        return True
    open_orders = read_rows(home, user.name, OPEN_ORDERS_SQL)
    if not open_orders:
        return True
    on_exchange = {order.get("identifier") for order in admin.orders(user.access_key)}
    return not any(identifier in on_exchange for (identifier,) in open_orders)


@dataclass
class SoakRun:
    """A finished run: everything the checks and the report need."""

    settings: SoakSettings
    home: Path
    users: list[SoakUser]
    observations: Observations
    log: str
    exchange_orders: dict[str, list[dict[str, Any]]]  # LIVE user -> the simulator's orders
    exchange_balances: dict[str, dict[str, Decimal]]
    simulator_candles: dict[str, set[datetime]]  # market -> candle starts over the run


def soak(settings: SoakSettings, home: Path) -> SoakRun:
    """Run the scenario in `home` and collect both sides; raises only if it cannot be set up."""
    observations = Observations()
    users = make_users(settings)
    for user in users:
        prepare_user(home, user)
    with running_simulator(settings, users) as server:
        admin = Admin(server)
        try:
            engine = EngineProcess(home, server.base_url, settings.cycle_seconds, home / "engine.log")
            _drive(home, admin, engine, users, settings, observations)
            run = _collect(home, admin, engine, users, settings, observations)
        finally:
            admin.close()
    observations.wall_seconds = time.monotonic() - observations.began
    return run


def _drive(
    home: Path,
    admin: Admin,
    engine: EngineProcess,
    users: list[SoakUser],
    settings: SoakSettings,
    observations: Observations,
) -> None:
    """Start every user, run the candles, settle; always stop the engine with SIGTERM."""
    try:
        start_users(home, users, engine)
        observations.startup_seconds = time.monotonic() - observations.began
        observations.rss_start = engine.rss()
        run_candles(home, admin, engine, settings, observations)
        settle_began = time.monotonic()
        observations.settled = settle(home, admin, users, engine, settings)
        observations.settle_seconds = time.monotonic() - settle_began
        observations.simulated_stop = admin.now()
        sample_health(home, observations)
        if engine.alive:
            observations.rss_end = engine.rss()
    finally:
        stop_began = time.monotonic()
        observations.exit_code = engine.stop() if engine.alive else engine.process.returncode
        observations.stop_seconds = time.monotonic() - stop_began


def _collect(
    home: Path,
    admin: Admin,
    engine: EngineProcess,
    users: list[SoakUser],
    settings: SoakSettings,
    observations: Observations,
) -> SoakRun:
    """The simulator's side (orders, balances, candles, fault counts) and the engine's log."""
    observations.fault_counts = admin.call("GET", "/_admin/faults/counts")
    requests = admin.call("GET", "/_admin/requests")["counts"]
    observations.simulator_requests = sum(requests.values())
    observations.order_requests = requests.get("POST /v1/orders", 0)
    live = [user for user in users if user.mode == "LIVE"]
    return SoakRun(
        settings, home, users, observations, engine.text(),
        exchange_orders={user.name: admin.orders(user.access_key) for user in live},
        exchange_balances={user.name: admin.balances(user.access_key) for user in live},
        simulator_candles=_simulator_candles(admin, settings, observations),
    )  # fmt: skip


def _simulator_candles(
    admin: Admin, settings: SoakSettings, observations: Observations
) -> dict[str, set[datetime]]:
    first = (observations.simulated_start or admin.now()) - timedelta(days=1)
    return {market: admin.candle_starts(market, first, admin.now()) for market in settings.markets}
