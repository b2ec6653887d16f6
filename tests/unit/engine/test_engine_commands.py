"""The command applier against a small fake runner: it needs only `CommandTarget` (issue 13, item 4)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tradebot.engine.engine_commands import CommandTarget, apply_pending_commands, fail_abandoned_commands
from tradebot.services.desired_state import DesiredState
from tradebot.services.records import CommandRequest, EngineState, Side
from tradebot.services.storage import Store, open_user_store

NOW = datetime(2025, 11, 21, 1, 0, tzinfo=UTC)


class FixedClock:
    """The engine's clock standing still at NOW."""

    def now(self) -> datetime:
        return NOW

    def monotonic(self) -> float:
        return 0.0

    def sleep(self, seconds: float) -> None:
        raise AssertionError("the command applier never sleeps")


@dataclass
class FakeLoop:
    """A running loop that records the force orders it is asked for."""

    paused: bool = False
    forced: list[tuple[Side, int, str, str]] = field(default_factory=list)

    def force(self, side: Side, command_id: int, requested_by: str, reason: str) -> str:
        self.forced.append((side, command_id, requested_by, reason))
        return f"forced {side}"


class FakeRunner:
    """Everything `CommandTarget` asks for, and nothing of `engine_runner.UserRunner`."""

    def __init__(self, store: Store) -> None:
        self.username, self.store, self.clock, self.engine_id = "alice", store, FixedClock(), "engine-1"
        self.desired = DesiredState()
        self.loop: FakeLoop | None = None
        self.last_crash: str | None = None
        self.statuses: list[EngineState] = []
        self.lines: list[str] = []

    def start_loop(self) -> bool:
        self.loop = FakeLoop(paused=self.desired.paused)
        return True

    def close_loop(self) -> None:
        self.loop = None

    def reset_failures(self) -> None:
        self.last_crash = None

    def write_status(self, state: EngineState, error: str | None) -> None:
        self.statuses.append(state)

    def say(self, message: str) -> None:
        self.lines.append(message)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with open_user_store(tmp_path, "alice") as opened:
        yield opened


def submit(store: Store, request: CommandRequest) -> int:
    with store.transaction() as transaction:
        return transaction.submit_command(request)


def outcomes(store: Store) -> list[tuple[str, str, str | None]]:
    """(kind, status, message) of every command, oldest first."""
    return [(item.kind, item.status, item.result_message) for item in reversed(store.recent_commands())]


def test_apply_pending_commands_start_pause_force_stop_reach_fake_runner_in_order(store: Store) -> None:
    runner = FakeRunner(store)
    target: CommandTarget = runner  # the fake satisfies the protocol: the applier needs no more
    submit(store, CommandRequest(kind="start", requested_by="alice", requested_at=NOW))
    submit(store, CommandRequest(kind="pause", requested_by="alice", requested_at=NOW))
    force_id = submit(
        store, CommandRequest(kind="force_buy", requested_by="bob", requested_at=NOW, args={"reason": "dip"})
    )

    apply_pending_commands(target)

    assert runner.loop is not None
    assert runner.loop.paused
    assert runner.loop.forced == [("bid", force_id, "bob", "dip")]
    assert runner.desired == DesiredState(running=True, mode="TEST", paused=True)
    assert outcomes(store) == [
        ("start", "done", "running in TEST"),
        ("pause", "done", "paused: no new entries, exits keep running"),
        ("force_buy", "done", "forced bid"),
    ]
    assert store.recent_commands()[0].claimed_by == "engine-1"

    submit(store, CommandRequest(kind="stop", requested_by="alice", requested_at=NOW))
    apply_pending_commands(target)

    assert runner.loop is None
    assert runner.statuses == ["stopped"]
    assert not runner.desired.running


def test_apply_pending_commands_live_without_keys_or_loop_rejected_with_reason(store: Store) -> None:
    runner = FakeRunner(store)
    submit(store, CommandRequest(kind="start", requested_by="alice", requested_at=NOW, args={"mode": "LIVE"}))
    submit(
        store,
        CommandRequest(
            kind="start", requested_by="alice", requested_at=NOW, args={"mode": "LIVE"}, live_confirmed=True
        ),
    )
    submit(
        store, CommandRequest(kind="force_sell", requested_by="alice", requested_at=NOW, args={"reason": "x"})
    )

    apply_pending_commands(runner)

    assert runner.loop is None
    assert outcomes(store) == [
        ("start", "rejected", "LIVE mode trades real money: the command needs the LIVE confirmation"),
        ("start", "rejected", "no Upbit keys stored for alice: LIVE refused"),
        ("force_sell", "rejected", "the engine is not trading for this user: start it first"),
    ]


def test_fail_abandoned_commands_claimed_by_a_dead_engine_failed_not_rerun(store: Store) -> None:
    runner = FakeRunner(store)
    submit(store, CommandRequest(kind="start", requested_by="alice", requested_at=NOW))
    with store.transaction() as transaction:
        assert transaction.claim_next_command(engine_id="engine-0", claimed_at=NOW) is not None

    fail_abandoned_commands(runner)
    apply_pending_commands(runner)

    assert runner.loop is None
    assert outcomes(store) == [
        ("start", "failed", "the engine stopped before finishing this command; send it again")
    ]
    assert runner.lines == ["start by alice: failed: abandoned by a stopped engine"]
