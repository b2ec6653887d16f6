"""Health report from tmp user stores and fixed clocks, health.json I/O and `tradebot health` exit codes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from tradebot.cli import main
from tradebot.core.errors import TradebotError
from tradebot.exchange.upbit.rate_limit import GroupCounts
from tradebot.services.desired_state import DesiredState
from tradebot.services.health_monitor import (
    ADOPTED_ALERT,
    GUARD,
    HEALTH_FILE,
    LOOP,
    POSITION_ALERT,
    Guarding,
    HealthReport,
    UserHealth,
    UserReading,
    engine_guarding,
    health_problems,
    process_health,
    read_health,
    read_user_health,
    reading_while_unreadable,
    write_health,
)
from tradebot.services.records import CommandKind, CommandRequest, EngineState, EngineStatus, Position
from tradebot.services.storage import open_user_store
from tradebot.services.user_admin import create_user

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
STALE = 15.0  # 3 cycles of 5 s


@pytest.fixture
def home(tmp_path: Path) -> Path:
    create_user(tmp_path, "alice", None, NOW)
    return tmp_path


def set_status(home: Path, state: EngineState, age_seconds: float, username: str = "alice") -> None:
    status = EngineStatus(
        state=state, mode="TEST", heartbeat_at=NOW - timedelta(seconds=age_seconds),
        last_fetch_at=NOW - timedelta(seconds=age_seconds), last_closed_candle=NOW - timedelta(minutes=1),
        last_cycle_duration=timedelta(milliseconds=250), last_error=None,
    )  # fmt: skip
    with open_user_store(home, username) as store, store.transaction() as transaction:
        transaction.set_engine_status(status)


def want(home: Path, kind: CommandKind, username: str = "alice") -> None:
    """Record `kind` as an acknowledged command, as the engine leaves it."""
    request = CommandRequest(kind=kind, requested_by="test", requested_at=NOW, args={})
    with open_user_store(home, username) as store, store.transaction() as transaction:
        transaction.submit_command(request)
        command = transaction.claim_next_command(engine_id="test", claimed_at=NOW)
        assert command is not None
        transaction.acknowledge_command(command.id, status="done", message="ok", acknowledged_at=NOW)


def hold_position(home: Path, username: str = "alice") -> None:
    position = Position(
        mode="TEST", market="KRW-BTC", volume=Decimal("0.1"), entry_price=Decimal(100_000_000),
        peak_price=Decimal(100_000_000), entry_candle_start=NOW, bars_held=1, updated_at=NOW,
    )  # fmt: skip
    with open_user_store(home, username) as store, store.transaction() as transaction:
        transaction.set_position(position)


def engine_report(users: list[UserHealth], generated_at: datetime = NOW) -> HealthReport:
    return HealthReport(
        generated_at=generated_at, engine_id="host:1", cycle_seconds=5.0, process=None,
        rate_groups={"quotation:candles": GroupCounts(requests=3, throttled=1)}, users=users,
    )  # fmt: skip


def test_user_health_running_user_reports_status_fields_without_alert(home: Path) -> None:
    want(home, "start")
    set_status(home, "running", 4.0)

    user = read_user_health(home, "alice", NOW, STALE, consecutive_errors=2)

    assert (user.state, user.desired_running, user.mode) == ("running", True, "TEST")
    assert user.heartbeat_age_seconds == pytest.approx(4.0)
    assert user.cycle_duration_seconds == pytest.approx(0.25)
    assert user.last_closed_candle == NOW - timedelta(minutes=1)
    assert (user.consecutive_errors, user.open_positions, user.alert) == (2, 0, None)


def test_user_health_never_started_user_is_unknown_and_never_beat(home: Path) -> None:
    user = read_user_health(home, "alice", NOW, STALE)

    assert (user.state, user.heartbeat_age_seconds, user.desired_running) == ("unknown", None, False)
    assert health_problems([user], None, NOW, STALE) == [
        "engine health file missing (is `tradebot engine` running?)"
    ]


@pytest.mark.parametrize(("state", "age"), [("running", 60.0), ("failed", 1.0), ("stopped", 1.0)])
def test_user_health_position_without_live_loop_raises_alert(
    home: Path, state: EngineState, age: float
) -> None:
    set_status(home, state, age)
    hold_position(home)

    user = read_user_health(home, "alice", NOW, STALE)

    assert user.open_positions == 1
    assert user.alert == f"{POSITION_ALERT}: TEST KRW-BTC"


def test_user_health_position_with_fresh_running_loop_has_no_alert(home: Path) -> None:
    set_status(home, "running", 1.0)
    hold_position(home)

    user = read_user_health(home, "alice", NOW, STALE, guarding={("TEST", "KRW-BTC"): Guarding(LOOP)})

    assert user.alert is None
    [position] = user.positions
    assert (position.mode, position.market, position.volume, position.entry_price) == (
        "TEST", "KRW-BTC", "0.1", "100000000",
    )  # fmt: skip
    assert (position.guarded_by, position.unguarded) == (LOOP, False)


def test_user_health_position_of_a_silent_loop_is_unguarded(home: Path) -> None:
    set_status(home, "running", 60.0)
    hold_position(home)

    user = read_user_health(home, "alice", NOW, STALE, guarding={("TEST", "KRW-BTC"): Guarding(LOOP)})

    assert user.alert == f"{POSITION_ALERT}: TEST KRW-BTC"
    assert user.positions[0].guarded_by == "nothing"


def test_user_health_stopped_user_position_with_a_guard_has_no_alert(home: Path) -> None:
    set_status(home, "stopped", 600.0)
    hold_position(home)

    user = read_user_health(home, "alice", NOW, STALE, guarding={("TEST", "KRW-BTC"): Guarding(GUARD)})

    assert user.alert is None
    assert user.positions[0].guarded_by == GUARD


def test_user_health_guard_failing_its_checks_is_an_alert(home: Path) -> None:
    hold_position(home)
    failing = Guarding(GUARD, "price exits not checked this cycle: Upbit: connection refused")

    user = read_user_health(home, "alice", NOW, STALE, guarding={("TEST", "KRW-BTC"): failing})

    assert user.alert == f"{POSITION_ALERT}: TEST KRW-BTC"
    assert user.positions[0].problem == failing.problem


def test_engine_guarding_reads_a_fresh_file_and_ignores_a_stale_one(home: Path) -> None:
    hold_position(home)
    user = read_user_health(home, "alice", NOW, STALE, guarding={("TEST", "KRW-BTC"): Guarding(GUARD)})
    write_health(home, engine_report([user], NOW - timedelta(seconds=3)))
    document = read_health(home)

    assert engine_guarding(document, NOW, STALE) == {"alice": {("TEST", "KRW-BTC"): Guarding(GUARD)}}
    assert engine_guarding(document, NOW + timedelta(seconds=60), STALE) == {}  # the engine is down


def test_user_health_adopted_live_position_is_alert_even_with_running_loop(home: Path) -> None:
    set_status(home, "running", 1.0)
    adopted = Position(
        mode="LIVE", market="KRW-ETH", volume=Decimal(2), entry_price=None, peak_price=None,
        entry_candle_start=None, bars_held=0, updated_at=NOW, origin="adopted",
    )  # fmt: skip
    with open_user_store(home, "alice") as store, store.transaction() as transaction:
        transaction.set_position(adopted)

    user = read_user_health(home, "alice", NOW, STALE)

    assert user.undecided_positions == 1
    assert user.alert == f"{ADOPTED_ALERT}; {POSITION_ALERT}: LIVE KRW-ETH"
    assert user.positions[0].problem is not None  # nothing guards it until the user decides


def test_health_problems_fresh_file_and_fresh_heartbeat_is_healthy(home: Path) -> None:
    want(home, "start")
    set_status(home, "running", 14.0)
    user = read_user_health(home, "alice", NOW, STALE)
    write_health(home, engine_report([user], NOW - timedelta(seconds=3)))

    assert health_problems([user], read_health(home), NOW, STALE) == []


def test_health_problems_running_user_with_old_heartbeat_is_reported(home: Path) -> None:
    want(home, "start")
    set_status(home, "running", 16.0)
    user = read_user_health(home, "alice", NOW, STALE)
    write_health(home, engine_report([user]))

    assert health_problems([user], read_health(home), NOW, STALE) == [
        "alice: should run but its heartbeat is 16s ago"
    ]


def test_health_problems_stopped_user_with_old_heartbeat_is_fine(home: Path) -> None:
    want(home, "start")
    want(home, "stop")
    set_status(home, "stopped", 3_600.0)
    user = read_user_health(home, "alice", NOW, STALE)

    assert health_problems([user], read_health_document(NOW), NOW, STALE) == []


def read_health_document(generated_at: datetime) -> dict[str, object]:
    return {"generated_at": generated_at.isoformat()}


def test_health_problems_stale_engine_file_is_reported() -> None:
    problems = health_problems([], read_health_document(NOW - timedelta(seconds=20)), NOW, STALE)

    assert problems == ["engine health file 20 s old (is `tradebot engine` running?)"]


def test_write_health_round_trips_and_leaves_no_temporary_file(home: Path) -> None:
    user = read_user_health(home, "alice", NOW, STALE, consecutive_errors=1)

    write_health(home, engine_report([user]))
    write_health(home, engine_report([user]))  # replaced, not appended

    document = read_health(home)
    assert document is not None
    assert document["generated_at"] == NOW.isoformat()
    assert document["rate_groups"] == {"quotation:candles": {"requests": 3, "throttled": 1, "blocked": 0}}
    assert document["users"][0]["username"] == "alice"
    assert document["users"][0]["consecutive_errors"] == 1
    assert [path.name for path in home.iterdir() if "health" in path.name] == [HEALTH_FILE]


def test_read_health_missing_or_corrupt_file_gives_none(tmp_path: Path) -> None:
    assert read_health(tmp_path) is None
    (tmp_path / HEALTH_FILE).write_text("{half", encoding="utf-8")
    assert read_health(tmp_path) is None


@dataclass
class FakeProcess:
    pid: int = 42

    def memory_info(self) -> object:
        return type("Memory", (), {"rss": 50 * 1_048_576})()

    def cpu_percent(self, interval: float | None = None) -> float:
        return 12.5

    def create_time(self) -> float:
        return 1_000.0

    def num_threads(self) -> int:
        return 7


def test_process_health_reads_rss_cpu_uptime_and_threads() -> None:
    process = process_health(FakeProcess(), now_seconds=1_090.0)

    assert (process.pid, process.rss_bytes, process.cpu_percent) == (42, 50 * 1_048_576, 12.5)
    assert (process.uptime_seconds, process.threads) == (90.0, 7)


def write_fresh_engine_file(home: Path, users: list[UserHealth]) -> None:
    """An engine file written just now (the CLI reads the real clock)."""
    write_health(home, engine_report(users, datetime.now(UTC)))


def test_health_cli_running_user_with_fresh_heartbeat_exits_zero(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    want(home, "start")
    with open_user_store(home, "alice") as store, store.transaction() as transaction:
        transaction.set_engine_status(
            EngineStatus(state="running", mode="TEST", heartbeat_at=datetime.now(UTC))
        )
    write_fresh_engine_file(home, [])

    assert main(["health", "--home", str(home)]) == 0
    output = capsys.readouterr().out
    assert "alice" in output
    assert "quotation:candles" in output
    assert output.rstrip().endswith("healthy")


def test_health_cli_running_user_with_stale_heartbeat_exits_one(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    want(home, "start")
    set_status(home, "running", 3_600.0)  # NOW is in the past of the real clock: very stale
    hold_position(home)
    write_fresh_engine_file(home, [])

    assert main(["health", "--home", str(home), "--json"]) == 1
    document = json.loads(capsys.readouterr().out)
    assert document["users"][0]["alert"] == f"{POSITION_ALERT}: TEST KRW-BTC"
    assert any("should run" in problem for problem in document["problems"])


def test_health_cli_without_engine_file_exits_one(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["health", "--home", str(home), "--max-age-cycles", "2", "--cycle-seconds", "1"]) == 1
    assert "engine health file missing" in capsys.readouterr().out


def test_health_cli_stopped_user_position_nothing_guards_is_an_alert_and_exits_one(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    want(home, "start")
    want(home, "stop")
    set_status(home, "stopped", 3_600.0)
    hold_position(home)
    write_fresh_engine_file(home, [])  # the engine does not name the position: nothing guards it

    assert main(["health", "--home", str(home)]) == 1
    output = capsys.readouterr().out
    assert f"*** {POSITION_ALERT}: TEST KRW-BTC ***" in output
    assert "  position TEST KRW-BTC    volume=0.1 entry=100000000 guarded_by=nothing  *** ALERT ***" in output
    assert f"PROBLEM: alice: {POSITION_ALERT}: TEST KRW-BTC" in output


def test_health_cli_stopped_user_position_the_engine_guards_exits_zero(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    want(home, "start")
    want(home, "stop")
    set_status(home, "stopped", 3_600.0)
    hold_position(home)
    guarded = read_user_health(home, "alice", NOW, STALE, guarding={("TEST", "KRW-BTC"): Guarding(GUARD)})
    write_fresh_engine_file(home, [guarded])

    assert main(["health", "--home", str(home)]) == 0
    output = capsys.readouterr().out
    assert "  position TEST KRW-BTC    volume=0.1 entry=100000000 guarded_by=guard\n" in output
    assert "ALERT" not in output


def test_health_cli_unreadable_database_is_a_problem(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (home / "tradebot_carol.db").write_bytes(b"not a database at all" * 100)
    write_fresh_engine_file(home, [])

    assert main(["health", "--home", str(home)]) == 1
    output = capsys.readouterr().out
    assert "carol            unreadable" in output
    assert "PROBLEM: carol: database not read" in output


def test_read_user_health_missing_database_raises_and_creates_nothing(tmp_path: Path) -> None:
    with pytest.raises(TradebotError):
        read_user_health(tmp_path, "ghost", datetime(2026, 3, 1, tzinfo=UTC), 15.0)
    assert list(tmp_path.iterdir()) == []  # a health reader never starts an empty database


def test_reading_while_unreadable_live_user_keeps_mode_and_wish_shows_problem() -> None:
    live = DesiredState(running=True, mode="LIVE", live_confirmed=True)
    status = EngineStatus(state="running", mode="LIVE", heartbeat_at=NOW)
    last = UserReading(status, live, open_positions=1)

    reading = reading_while_unreadable(last, live, trading=False, problem="database unavailable: disk full")

    assert reading is not None
    assert reading.status is not None
    assert (reading.status.state, reading.status.mode, reading.status.last_error) == (
        "stopped",
        "LIVE",
        "database unavailable: disk full",
    )
    assert (reading.desired, reading.open_positions) == (live, 1)
    assert reading_while_unreadable(None, live, trading=False, problem="x") is None
