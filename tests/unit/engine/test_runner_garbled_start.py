"""A garbled exchange answer while a loop starts is retried like a 5xx, never counted as a crash.

Regression (soak, issue 7): a truncated `GET /v1/accounts` body during `start()` raised
`UpbitResponseError`, which the runner counted as a loop crash; four in a row would park the user.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tradebot.engine.bootstrap import RunRequest
from tradebot.engine.engine_runner import UserRunner
from tradebot.engine.runner_types import Loop, RunnerSettings
from tradebot.exchange.upbit import UpbitResponseError
from tradebot.services.records import CommandRequest, Side
from tradebot.services.storage import open_user_store
from tradebot.services.user_admin import create_user

START = datetime(2026, 3, 1, tzinfo=UTC)
BACKOFF = (5.0, 30.0, 300.0)


class FakeClock:
    def __init__(self) -> None:
        self.seconds = 0.0

    def now(self) -> datetime:
        return START + timedelta(seconds=self.seconds)

    def monotonic(self) -> float:
        return self.seconds

    def sleep(self, seconds: float) -> None:
        self.seconds += seconds


@dataclass
class QuietLoop:
    paused: bool = False
    cycles: int = 0
    market: str = "KRW-BTC"

    def start(self) -> None:
        return None

    def cycle(self) -> object:
        self.cycles += 1
        return None

    def force(self, side: Side, command_id: int, requested_by: str, reason: str) -> str:
        return "not used"

    def guard(self) -> object:
        return None


@dataclass
class GarbledFactory:
    """The first `garbled` loop starts meet a truncated answer from the exchange."""

    garbled: int
    loops: list[QuietLoop] = field(default_factory=list)

    def __call__(self, request: RunRequest, resources: ExitStack) -> Loop:
        if self.garbled:
            self.garbled -= 1
            raise UpbitResponseError("Upbit: GET /v1/accounts: body is not valid JSON (Unterminated string)")
        loop = QuietLoop()
        self.loops.append(loop)
        return loop


def test_a_garbled_answer_at_start_is_retried_without_counting_a_crash(tmp_path: Path) -> None:
    create_user(tmp_path, "alice", None, START)
    clock, factory = FakeClock(), GarbledFactory(garbled=len(BACKOFF) + 2)
    lines: list[str] = []
    with open_user_store(tmp_path, "alice") as store:
        with store.transaction() as transaction:
            transaction.submit_command(CommandRequest(kind="start", requested_by="test", requested_at=START))
        settings = RunnerSettings(tmp_path, "http://unused", "test-engine", 1.0, BACKOFF)
        runner = UserRunner("alice", store, factory, clock, settings, lines.append)
        for _ in range(len(BACKOFF) + 2):
            runner.tick()
            clock.sleep(BACKOFF[0])
        assert (runner.crashes, runner.failed_reason) == (0, None)
        assert not any("loop crashed" in line for line in lines), lines
        assert sum("starting again in" in line for line in lines) == len(BACKOFF) + 2
        runner.tick()
        assert runner.loop is not None
        assert factory.loops[0].cycles == 1
