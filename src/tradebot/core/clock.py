"""Time as an injected dependency: the engine, the client's rate limiter and retries all read and
wait through a `Clock`, so tests drive time by hand and never sleep for real."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """Wall time, a monotonic counter and sleeping."""

    def now(self) -> datetime:
        """The current aware UTC time."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards."""
        ...

    def sleep(self, seconds: float) -> None:
        """Block for `seconds`."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        """The current aware UTC time."""
        return datetime.now(UTC)

    def monotonic(self) -> float:
        """`time.monotonic()`."""
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        """`time.sleep(seconds)`."""
        time.sleep(seconds)


def wait_until(clock: Clock, stop: threading.Event, deadline: float) -> None:
    """Return once `clock.monotonic()` reaches `deadline` or `stop` is set.

    On the real clock this blocks on the event (no polling, so a thousand idle user threads cost
    nothing and a stop is seen at once); an injected clock is stepped through its `sleep`.
    """
    while not stop.is_set():
        remaining = deadline - clock.monotonic()
        if remaining <= 0:
            return
        if isinstance(clock, SystemClock):
            stop.wait(remaining)
        else:
            clock.sleep(min(0.1, remaining))
