"""Command rows: whatever a dashboard, `tradebot ctl` or a hand-written row asks, the engine either
applies a valid command or refuses it with a message and leaves the user's state as it was.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar, get_args

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.unit.property.strategies import FEW_EXAMPLES, JSON_VALUES, PROPERTY_SETTINGS, one_line
from tradebot.core.errors import SettingsError, TradebotError
from tradebot.engine.bootstrap import RunRequest
from tradebot.engine.engine_runner import UserRunner
from tradebot.engine.runner_types import Loop, RunnerSettings
from tradebot.services.records import CommandKind, CommandRequest, Side
from tradebot.services.storage import StorageError, Store, open_user_store
from tradebot.services.trading_control import MAX_REASON_LENGTH, build_request, submit_command
from tradebot.services.user_admin import create_user

START = datetime(2026, 3, 1, tzinfo=UTC)
Result = TypeVar("Result")
KINDS: tuple[CommandKind, ...] = get_args(CommandKind)
ARGS = st.dictionaries(
    st.sampled_from(["mode", "reason", "user", "username", "kind", "x"]), JSON_VALUES, max_size=3
)


class StepClock:
    """Time that moves only when told."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def now(self) -> datetime:
        return START + timedelta(seconds=self.seconds)

    def monotonic(self) -> float:
        return self.seconds

    def sleep(self, seconds: float) -> None:
        self.seconds += seconds


@dataclass
class RecordingLoop:
    """A loop that records what it was asked to do and never trades."""

    request: RunRequest
    paused: bool = False
    forced: list[tuple[Side, str]] = field(default_factory=list)
    market: str = "KRW-BTC"

    def start(self) -> None:
        pass

    def cycle(self) -> object:
        return None

    def guard(self) -> object:
        return None

    def force(self, side: Side, command_id: int, requested_by: str, reason: str) -> str:
        self.forced.append((side, reason))
        return f"forced {side}"


@dataclass
class Engine:
    """One user's runner on recording loops, as the engine drives it."""

    home: Path
    store: Store
    runner: UserRunner
    loops: list[RecordingLoop]
    lines: list[str]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("template")
    create_user(home, "alice", None, START)
    return home


@pytest.fixture
def make_engine(tmp_path: Path, template: Path) -> Iterator[Any]:
    stack = ExitStack()
    counter = iter(range(1_000_000))

    def build() -> Engine:
        home = tmp_path / f"home{next(counter)}"
        home.mkdir()
        for item in template.iterdir():
            (home / item.name).write_bytes(item.read_bytes())
        loops: list[RecordingLoop] = []

        def factory(request: RunRequest, resources: ExitStack) -> Loop:
            loops.append(RecordingLoop(request))
            return loops[-1]

        store = stack.enter_context(open_user_store(home, "alice"))
        lines: list[str] = []
        settings = RunnerSettings(home, "http://unused", "test-engine", 1.0)
        runner = UserRunner("alice", store, factory, StepClock(), settings, lines.append)
        return Engine(home, store, runner, loops, lines)

    yield build
    stack.close()


def insert_row(home: Path, kind: str, args: str, *, bypass_checks: bool = False) -> None:
    """Write a command row by hand, as someone with the database file could."""
    with sqlite3.connect(home / "tradebot_alice.db") as connection:
        if bypass_checks:
            connection.execute("PRAGMA ignore_check_constraints = ON")
        connection.execute(
            "INSERT INTO commands (kind, args, requested_by, requested_at) VALUES (?, ?, 'mallory', ?)",
            (kind, args, int(START.timestamp()) * 1_000_000_000),
        )
    connection.close()


def table_rows(home: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(home / "tradebot_alice.db") as connection:
        rows = connection.execute("SELECT * FROM commands ORDER BY id").fetchall()
    connection.close()
    return rows


def refusal_or(function: Callable[..., Result], *args: Any, **options: Any) -> Result | TradebotError:
    """What `function` returns, or the TradebotError it raised."""
    try:
        return function(*args, **options)
    except TradebotError as error:
        return error


@PROPERTY_SETTINGS
@given(
    kind=st.sampled_from(KINDS),
    mode=st.sampled_from([None, "TEST", "LIVE"]),
    confirm=st.booleans(),
    reason=st.none() | st.text(max_size=MAX_REASON_LENGTH + 20),
)
def test_build_request_any_options_give_a_consistent_request_or_one_line_refusal(
    kind: CommandKind, mode: Any, confirm: bool, reason: str | None
) -> None:
    request = refusal_or(build_request, kind, "alice", START, mode=mode, confirm_live=confirm, reason=reason)
    if isinstance(request, SettingsError):
        assert one_line(str(request))
        return
    assert set(request.args) <= {"mode", "reason"}
    assert request.live_confirmed == (mode == "LIVE")
    if mode == "LIVE":
        assert confirm
    if kind in ("force_buy", "force_sell"):
        text = str(request.args["reason"])
        assert text == text.strip()
        assert 0 < len(text) <= MAX_REASON_LENGTH
    else:
        assert "reason" not in request.args
    assert json.loads(json.dumps(request.args)) == request.args


@FEW_EXAMPLES
@given(kind=st.sampled_from(KINDS), args=ARGS, confirmed=st.booleans())
def test_submit_command_crafted_request_is_queued_or_refused_without_a_write(
    make_engine: Any, kind: CommandKind, args: dict[str, object], confirmed: bool
) -> None:
    engine: Engine = make_engine()
    request = CommandRequest(
        kind=kind, requested_by="alice", requested_at=START, args=args, live_confirmed=confirmed
    )
    command_id = refusal_or(submit_command, engine.store, "alice", request)
    if isinstance(command_id, SettingsError | StorageError):
        assert one_line(str(command_id))
        assert table_rows(engine.home) == []
        return
    [row] = engine.store.recent_commands()
    assert (row.id, row.kind, row.args, row.status) == (command_id, kind, args, "pending")


@FEW_EXAMPLES
@given(kind=st.sampled_from(KINDS), args=ARGS, running=st.booleans())
def test_engine_any_args_are_applied_or_rejected_leaving_state_unchanged(
    make_engine: Any, kind: CommandKind, args: dict[str, object], running: bool
) -> None:
    engine: Engine = make_engine()
    if running:
        insert_row(engine.home, "start", "{}")
        engine.runner.tick()
    before = (engine.runner.desired, engine.runner.loop, len(engine.loops))
    insert_row(engine.home, kind, json.dumps(args))
    engine.runner.tick()
    command = engine.store.recent_commands(limit=1)[0]
    assert command.status in ("done", "rejected"), command.result_message
    assert command.result_message
    if command.status == "rejected":
        assert (engine.runner.desired, engine.runner.loop, len(engine.loops)) == before
        assert all(not loop.forced for loop in engine.loops)


@pytest.mark.parametrize(
    ("kind", "args"),
    [
        ("hack", "{}"),
        ("START", "{}"),
        ("start; DROP TABLE commands", "{}"),
        ("start", "not json"),
        ("start", '{"mode": "LIVE",}'),
        ("start", '["LIVE"]'),
        ("start", '"LIVE"'),
        ("start", "{mode: 'LIVE'}"),
        ("start", '{"mode": NaN}'),
        ("start", ""),
    ],
)
def test_commands_table_unknown_kind_or_malformed_args_are_refused_by_the_database(
    make_engine: Any, kind: str, args: str
) -> None:
    engine: Engine = make_engine()
    with pytest.raises(sqlite3.DatabaseError):
        insert_row(engine.home, kind, args)
    assert table_rows(engine.home) == []
    engine.runner.tick()
    assert engine.loops == []


@pytest.mark.parametrize("kind", ["hack", "START", "start; DROP TABLE commands"])
def test_engine_unknown_kind_written_around_the_checks_is_rejected_and_the_queue_goes_on(
    make_engine: Any, kind: str
) -> None:
    engine: Engine = make_engine()
    insert_row(engine.home, kind, "{}", bypass_checks=True)
    insert_row(engine.home, "start", "{}")
    engine.runner.tick()
    bad, good = sorted(engine.store.recent_commands(), key=lambda command: command.id)
    assert (bad.status, bad.result_message) == ("rejected", f"{kind} is not supported by this engine")
    assert (good.status, good.result_message) == ("done", "running in TEST")
    assert len(engine.loops) == 1
