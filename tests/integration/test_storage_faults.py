"""Storage faults under the engine: the database locked, the disk full, the file deleted.

A `UserRunner` drives a real LIVE `LiveLoop` against the in-process simulator (stopped clock, stepped
by the test). Every faulty condition is made deterministically and without privileges:

- locked: another connection holds `BEGIN EXCLUSIVE` far longer than the engine's busy timeout
  (50 ms here, through `build_loop`'s `open_store`);
- disk full: `PRAGMA max_page_count` clamped to the file's size on the engine's connections, so a
  write that needs a new page fails with SQLITE_FULL, as on a full disk;
- deleted: the `.db`, `-wal` and `-shm` files unlinked while the engine has them open.

`OrderWitness` sits between the engine and the exchange: each order that reaches the simulator is
looked up in the user's file at that moment, which proves it was recorded as `requested` before it
was sent, so no order ever leaves while the database cannot record it.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import ExitStack, closing
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from tradebot.cli import main
from tradebot.core.krw_rules import round_to_tick
from tradebot.engine.bootstrap import RunRequest, build_loop
from tradebot.engine.engine_manager import EngineManager
from tradebot.engine.engine_runner import UserRunner
from tradebot.engine.live_loop import LiveLoop
from tradebot.engine.runner_types import Loop, LoopFactory, RunnerSettings
from tradebot.exchange.simulator.server import SimulatedTimeClock
from tradebot.exchange.upbit import RateLimitRegistry, UpbitSession
from tradebot.services.health_monitor import read_health
from tradebot.services.paths import HOME_VARIABLE, database_path
from tradebot.services.records import CommandKind, CommandRequest
from tradebot.services.storage import DatabaseUnavailableError, StorageError, Store, open_user_store
from tradebot.services.storage.codecs import decode_time
from tradebot.services.user_admin import UpbitKeys, create_user, save_keys
from tradebot.services.users import params_path

from .conftest import NoWaitClock, Simulator, SimulatorFactory

USER = "alice"
MARKET = "KRW-BTC"
LIVE_ACCESS = "storage-live-access-key"
LIVE_SECRET = "storage0live0secret0key0for0tests0only00"  # noqa: S105 - fake key of the fake exchange
BUSY_TIMEOUT_MS = 50
UNCAPPED_PAGES = 1_073_741_823  # SQLite's default max_page_count


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
class Disk:
    """How the engine opens the user's file here: a short busy timeout, and a size cap to clamp."""

    full: bool = False
    stores: list[Store] = field(default_factory=list)

    def open(self, home: Path, username: str) -> Store:
        store = open_user_store(home, username, busy_timeout_ms=BUSY_TIMEOUT_MS, create=False)
        self.stores.append(store)
        if self.full:
            _cap(store, None)
        return store

    def fill(self) -> None:
        """No room left: a write that needs one more page fails with SQLITE_FULL."""
        self.full = True
        for store in self._open_stores():
            _cap(store, None)

    def free(self) -> None:
        self.full = False
        for store in self._open_stores():
            _cap(store, UNCAPPED_PAGES)

    def _open_stores(self) -> list[Store]:
        alive = []
        for store in self.stores:
            try:
                store.query("SELECT 1")
            except StorageError:  # closed with its loop
                continue
            alive.append(store)
        self.stores = alive
        return alive


def _cap(store: Store, pages: int | None) -> None:
    limit = int(store.query("PRAGMA page_count")[0][0]) if pages is None else pages
    store.query(f"PRAGMA max_page_count = {limit:d}")


class OrderWitness(httpx.BaseTransport):
    """Looks each order reaching the exchange up in the user's file: it must be recorded first."""

    def __init__(self, database: Path) -> None:
        self._inner = httpx.HTTPTransport()
        self._database = database
        self.orders: list[tuple[str, str | None]] = []  # (identifier, state recorded when it was sent)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path == "/v1/orders":
            identifier = str(json.loads(request.content)["identifier"])
            self.orders.append((identifier, self._recorded_state(identifier)))
        return self._inner.handle_request(request)

    def _recorded_state(self, identifier: str) -> str | None:
        uri = f"{self._database.absolute().as_uri()}?mode=ro"
        try:
            with closing(sqlite3.connect(uri, uri=True, timeout=5)) as reader:
                found = reader.execute("SELECT state FROM orders WHERE identifier = ?", (identifier,))
                row = found.fetchone()
        except sqlite3.Error:
            return None
        return None if row is None else str(row[0])

    def close(self) -> None:
        self._inner.close()


@dataclass
class Engine:
    """One user's runner as the engine runs it, and the health report it writes."""

    exchange: Simulator
    home: Path
    clock: SteppedClock
    disk: Disk
    witness: OrderWitness
    factory: LoopFactory
    runner: UserRunner
    lines: list[str]

    @property
    def database(self) -> Path:
        return database_path(self.home, USER)

    def tick(self, minutes: int = 1) -> None:
        for _ in range(minutes):
            self.clock.step(60)
            self.runner.tick()

    def new_runner(self) -> UserRunner:
        """The runner the engine starts for the user's file (again)."""
        store = self.disk.open(self.home, USER)
        return UserRunner(USER, store, self.factory, self.clock, self.runner.settings, self.lines.append)

    def send(self, kind: CommandKind, **options: object) -> int:
        request = CommandRequest(
            kind=kind, requested_by="test", requested_at=self.clock.now(), args=dict(options),
            live_confirmed=kind == "start",
        )  # fmt: skip
        with self.runner.store.transaction() as transaction:
            return transaction.submit_command(request)

    def health(self) -> dict[str, Any]:
        settings = self.runner.settings
        manager = EngineManager(settings, self.clock, self.factory, self.lines.append, rate_counters=dict)
        manager.runners[USER] = self.runner
        assert manager.check_health() is not None
        document = read_health(self.home)
        assert document is not None
        [user] = document["users"]
        assert isinstance(user, dict)
        return user

    def exchange_orders(self) -> int:
        return len(self.exchange.orders(LIVE_ACCESS))


@pytest.fixture
def exchange(simulator_factory: SimulatorFactory) -> Simulator:
    accounts = [{"access_key": LIVE_ACCESS, "secret_key": LIVE_SECRET, "balances": {"KRW": "1000000"}}]
    return simulator_factory(markets=[MARKET], accounts=accounts, seed=11, rate_limits={"enforce": False})


@pytest.fixture
def engine(exchange: Simulator, tmp_path: Path) -> Iterator[Engine]:
    """alice in LIVE with quick exits (so orders keep flowing), started by a command."""
    create_user(tmp_path, USER, None, datetime.now(UTC))
    path = params_path(tmp_path, USER)
    params = json.loads(path.read_text())
    params.update(interval="minute1", warmup_bars=40, take_profit=0.004, stop_loss=0.004, trailing_stop=0.003)
    path.write_text(json.dumps(params))
    save_keys(tmp_path, USER, UpbitKeys(LIVE_ACCESS, LIVE_SECRET), datetime.now(UTC))
    clock, disk = SteppedClock(exchange), Disk()
    witness = OrderWitness(database_path(tmp_path, USER))
    session = UpbitSession(
        base_url=exchange.base_url, transport=witness, rate_limits=RateLimitRegistry(NoWaitClock()),
        backoff_seconds=0.01,
    )  # fmt: skip
    exchange.sessions.append(session)  # closed with the simulator

    def factory(request: RunRequest, resources: ExitStack) -> Loop:
        return build_loop(request, clock, resources, session=session, open_store=disk.open)

    lines: list[str] = []
    settings = RunnerSettings(tmp_path, exchange.base_url, "storage-engine", cycle_seconds=60.0)
    runner = UserRunner(USER, disk.open(tmp_path, USER), factory, clock, settings, lines.append)
    engine = Engine(exchange, tmp_path, clock, disk, witness, factory, runner, lines)
    engine.send("start", mode="LIVE")
    yield engine
    runner.close_loop()
    for store in disk.stores:
        store.close()


def integrity(database: Path) -> str:
    with closing(sqlite3.connect(database, timeout=5)) as connection:
        return str(connection.execute("PRAGMA integrity_check").fetchone()[0])


def evaluated_candles(engine: Engine) -> list[datetime]:
    """Starts of every closed-candle evaluation, by start."""
    with open_user_store(engine.home, USER, create=False) as store:
        rows = store.query(
            "SELECT candle_start FROM buy_eval UNION ALL "
            "SELECT candle_start FROM sell_eval WHERE trigger_kind = 'close' ORDER BY candle_start"
        )
    return [decode_time(row["candle_start"]) for row in rows]


def assert_every_candle_once(engine: Engine) -> None:
    starts = evaluated_candles(engine)
    assert starts == [starts[0] + timedelta(minutes=index) for index in range(len(starts))]


def assert_books_match_the_exchange(engine: Engine) -> None:
    """Every order final, and KRW and coin as the simulator's account holds them: no lost fill."""
    with open_user_store(engine.home, USER, create=False) as store:
        assert store.unfinished_orders("LIVE") == []
        account = store.account("LIVE")
        assert account is not None
        balances = engine.exchange.balances(LIVE_ACCESS)
        assert account.krw_balance == balances["KRW"]["balance"]
        held = balances.get("BTC", {"balance": Decimal(0)})["balance"]
        positions = store.positions("LIVE")
        assert held == (positions[0].volume if positions else Decimal(0))


def assert_every_order_recorded_before_it_was_sent(engine: Engine) -> None:
    assert engine.witness.orders
    assert [state for _, state in engine.witness.orders] == ["requested"] * len(engine.witness.orders)


def assert_readable_log(engine: Engine, problem: str) -> None:
    assert any(f"alice: database unavailable: {engine.database}: {problem}" in line for line in engine.lines)
    assert not [line for line in engine.lines if "Traceback" in line]


def recover(engine: Engine) -> None:
    """Tick until the loop runs again (within the longest retry delay), then five minutes more."""
    for _ in range(6):
        engine.tick()
        if engine.runner.loop is not None:
            break
    assert engine.runner.loop is not None
    engine.tick(5)
    assert engine.runner.storage_problem is None
    assert (engine.runner.crashes, engine.runner.failed_reason) == (0, None)


def test_runner_database_locked_sends_nothing_parks_and_resumes_when_released(engine: Engine) -> None:
    engine.tick(60)
    assert engine.witness.orders  # trading before the lock
    locker = sqlite3.connect(engine.database, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")  # held for ten simulated minutes, far past the busy timeout
    sent = engine.exchange_orders()
    loop = engine.runner.loop
    assert isinstance(loop, LiveLoop)
    held = bool(engine.runner.store.positions("LIVE"))
    with pytest.raises(DatabaseUnavailableError, match="locked by another program"):
        loop.force("ask" if held else "bid", 1, "test", "while locked")
    assert engine.exchange_orders() == sent  # the order was not sent: it could not be recorded

    engine.tick(10)

    assert engine.runner.loop is None  # parked: nothing trades
    assert (engine.runner.crashes, engine.runner.failed_reason) == (0, None)  # not a crash, not failed
    assert_readable_log(engine, "the database is locked by another program (database is locked)")
    health = engine.health()
    assert health["state"] == "stopped"
    assert "database is locked" in health["last_error"]
    assert "not trading until it can record again" in health["last_error"]
    assert engine.exchange_orders() == sent
    locker.execute("ROLLBACK")
    locker.close()

    recover(engine)
    assert integrity(engine.database) == "ok"
    assert engine.health()["last_error"] is None
    assert_every_candle_once(engine)  # the locked minutes were caught up, none skipped
    assert_every_order_recorded_before_it_was_sent(engine)
    assert_books_match_the_exchange(engine)


def test_runner_disk_full_sends_nothing_unrecorded_parks_and_resumes_when_space_is_back(
    engine: Engine,
) -> None:
    engine.tick(60)
    engine.disk.fill()
    for _ in range(60):  # until a write needs a page the disk does not have
        engine.tick()
        if engine.runner.storage_problem is not None:
            break
    engine.tick(5)

    assert engine.runner.storage_problem is not None
    assert (engine.runner.crashes, engine.runner.failed_reason) == (0, None)
    assert_readable_log(engine, "the disk is full (database or disk is full)")
    health = engine.health()
    assert "the disk is full" in health["last_error"]
    assert integrity(engine.database) == "ok"
    assert_every_order_recorded_before_it_was_sent(engine)

    engine.disk.free()
    recover(engine)
    assert integrity(engine.database) == "ok"
    assert_every_candle_once(engine)
    assert_every_order_recorded_before_it_was_sent(engine)
    assert_books_match_the_exchange(engine)


def test_runner_database_deleted_parks_loudly_and_never_trades_on_a_new_empty_file(
    engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    engine.tick(50)
    if not engine.runner.store.positions("LIVE"):
        engine.send("force_buy", reason="hold a position when the file goes")
        engine.runner.tick()
    [position] = engine.runner.store.positions("LIVE")
    assert position.entry_price is not None
    sent = engine.exchange_orders()
    for suffix in ("", "-wal", "-shm"):
        os.unlink(f"{engine.database}{suffix}")
    crash = round_to_tick(position.entry_price * Decimal("0.9"), up=False)
    engine.exchange.set_price(MARKET, str(crash))  # the stop loss would sell, if it could be recorded

    engine.tick(3)

    lost = engine.runner.database_lost or ""
    assert lost.startswith(f"ALERT: {engine.database} was deleted while it was open: trading stopped")
    assert f"LIVE {position.volume} {MARKET}" in lost  # the position it can no longer watch
    assert engine.runner.loop is None
    assert [line for line in engine.lines if "ALERT" in line] == [f"alice: {lost}"]  # said once
    assert engine.exchange_orders() == sent
    assert not engine.database.exists()  # no new empty database in its place
    health = engine.health()
    assert (health["state"], health["last_error"]) == ("unreadable", f"database not read: {lost}")
    capsys.readouterr()
    assert main(["health", "--home", str(engine.home)]) == 1
    assert f"PROBLEM: alice: database not read: {lost}" in capsys.readouterr().out
    engine.runner.run(threading.Event())  # the runner's thread ends by itself
    assert not engine.database.exists()

    create_user(engine.home, USER, None, datetime.now(UTC))  # a new, empty file for alice
    fresh = engine.new_runner()
    fresh.tick()
    assert fresh.loop is None  # its own commands do not say run: nothing trades on it
    assert engine.exchange_orders() == sent


def test_engine_older_copy_put_back_beside_leftover_wal_never_opened_until_restore(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 19, finding 1: an older copy put back while the lost file's -wal/-shm stayed behind."""
    monkeypatch.setenv(HOME_VARIABLE, str(engine.home))
    engine.tick(30)
    assert main(["backup", "--user", USER, "--to", str(tmp_path / "backups")]) == 0  # while trading
    backup = tmp_path / "backups" / engine.database.name
    engine.tick(30)  # more trading after the backup: the WAL holds pages the copy does not
    engine.database.unlink()  # deleted while open: SQLite leaves the -wal and -shm behind
    engine.tick()
    lost = engine.runner.database_lost or ""
    assert f"restore it with `tradebot restore --user {USER} --from BACKUP_FILE`" in lost
    engine.runner.run(threading.Event())  # its thread ends and closes the file
    journal = [Path(f"{engine.database}{suffix}") for suffix in ("-wal", "-shm")]
    assert all(path.exists() for path in journal)

    shutil.copyfile(backup, engine.database)  # what an operator does by hand
    manager = EngineManager(engine.runner.settings, engine.clock, engine.factory, engine.lines.append)
    manager.runners[USER] = engine.runner
    manager.stop.set()  # a runner started by _serve records its state and ends at once
    manager._serve(USER)  # one supervision step for one user

    assert manager.runners[USER] is engine.runner  # not opened: the old WAL was not applied
    alerts = [line for line in engine.lines if "left by the lost file" in line]
    assert len(alerts) == 1
    assert "tradebot restore --user alice --from BACKUP_FILE" in alerts[0]
    assert engine.database.read_bytes() == backup.read_bytes()
    manager._serve(USER)  # refused again, said once
    assert len([line for line in engine.lines if "left by the lost file" in line]) == 1

    capsys.readouterr()
    assert main(["restore", "--user", USER, "--from", str(backup)]) == 0
    output = capsys.readouterr().out
    assert output.count("set aside: ") == 3  # the copied file, its -wal and -shm
    assert not any(path.exists() for path in journal)
    manager._serve(USER)
    assert manager.runners[USER] is not engine.runner  # opened and run again
    assert integrity(engine.database) == "ok"
    with closing(sqlite3.connect(backup)) as copy:
        expected = copy.execute("SELECT count(*) FROM orders").fetchone()[0]
    with open_user_store(engine.home, USER, create=False) as store:
        assert store.query("SELECT count(*) FROM orders")[0][0] == expected


def test_engine_damaged_file_failing_quick_check_not_started_alert_names_restore(engine: Engine) -> None:
    engine.tick(5)
    engine.runner.close_loop()
    engine.runner.store.close()
    for store in engine.disk.stores:
        store.close()
    with closing(sqlite3.connect(engine.database)) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        root = connection.execute("SELECT rootpage FROM sqlite_master WHERE name = 'orders'").fetchone()[0]
        page_size = connection.execute("PRAGMA page_size").fetchone()[0]
    content = bytearray(engine.database.read_bytes())
    start = (root - 1) * page_size
    content[start : start + 12] = b"\x0d\x00\x00\xff\xff\x00\x00\x00\xff\x00\x00\x00"  # cells past the page
    engine.database.write_bytes(bytes(content))
    manager = EngineManager(engine.runner.settings, engine.clock, engine.factory, engine.lines.append)
    manager.stop.set()

    manager._serve(USER)  # one supervision step for one user

    assert USER not in manager.runners
    [alert] = [line for line in engine.lines if "fails its check" in line]
    assert alert.startswith(f"alice: ALERT: {engine.database} fails its check (quick_check")
    assert alert.endswith("tradebot restore --user alice --from BACKUP_FILE")


def test_runner_storage_fault_fixed_trading_resumes_within_a_minute_health_truthful(
    engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 19, finding 8: a long fault grew the retry delay to 5 min, and health said TEST/off."""
    engine.tick(30)
    engine.health()  # the engine's health.json, written every cycle
    locker = sqlite3.connect(engine.database, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")  # fifteen simulated minutes: the retry delay reaches its cap
    engine.tick(15)
    assert engine.runner.loop is None

    capsys.readouterr()
    main(["health", "--home", str(engine.home)])
    [line] = [line for line in capsys.readouterr().out.splitlines() if line.startswith("alice")]
    assert " LIVE " in line  # never the "TEST want=off" of an unknown user
    assert "want=run" in line
    health = engine.health()
    assert (health["mode"], health["desired_running"], health["state"]) == ("LIVE", True, "stopped")
    locker.execute("ROLLBACK")
    locker.close()

    engine.tick()  # one minute after the fix

    assert engine.runner.loop is not None
    assert engine.runner.storage_problem is None
    assert any("database records again: trading resumed" in line for line in engine.lines)
    assert engine.health()["last_error"] is None


def test_manager_health_file_unwritable_logged_once_then_recovery_logged_once(engine: Engine) -> None:
    manager = EngineManager(engine.runner.settings, engine.clock, engine.factory, engine.lines.append)
    manager.runners[USER] = engine.runner
    blocker = engine.home / "health.json"
    blocker.unlink(missing_ok=True)
    blocker.mkdir()  # the rename onto it fails every cycle, like a full or read-only disk

    for _ in range(4):
        assert manager.check_health() is None

    assert len([line for line in engine.lines if "health.json not written" in line]) == 1
    blocker.rmdir()
    assert manager.check_health() is not None
    assert manager.check_health() is not None
    assert [line for line in engine.lines if "health.json written again" in line] == [
        "health.json written again after 4 failed cycle(s)"
    ]
