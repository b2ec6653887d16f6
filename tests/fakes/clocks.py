"""A `Clock` for tests: time that moves only when the test says so."""

from __future__ import annotations

from datetime import datetime, timedelta


class StepClock:
    """Wall time from `start`, moved by `advance` (or `sleep`); monotonic seconds follow it."""

    def __init__(self, start: datetime) -> None:
        self.start = start
        self.moment = start

    def now(self) -> datetime:
        return self.moment

    def monotonic(self) -> float:
        return (self.moment - self.start).total_seconds()

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)

    def advance(self, step: float | timedelta) -> None:
        self.moment += step if isinstance(step, timedelta) else timedelta(seconds=step)
