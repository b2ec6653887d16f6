"""The simulator's clock: real time, sped up (`--speed 60`) or stepped by hand.

Simulated time is `base + (timer() - anchor) * speed`. Speed 0 stops it, so only `advance` moves
it: tests step it through the admin endpoint and never wait for it. The timer is injected, so
even a running clock can be driven by a fake in unit tests.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from datetime import datetime

from tradebot.core.models import NANOS_PER_SECOND
from tradebot.exchange.simulator.formatting import nanos_to_utc, utc_to_nanos

Timer = Callable[[], float]
MAX_SPEED = 1_000_000.0


class SimulatedClock:
    """Thread-safe simulated time that never goes backwards."""

    def __init__(self, start: datetime, *, speed: float = 1.0, timer: Timer = time.monotonic) -> None:
        if start.tzinfo is None:
            raise ValueError("the simulator clock needs an aware start time")
        _check_speed(speed)
        self._timer = timer
        self._lock = threading.Lock()
        self._base_ns = utc_to_nanos(start)
        self._anchor = timer()
        self._speed = speed

    @property
    def speed(self) -> float:
        """Simulated seconds per real second; 0 means stepped only."""
        return self._speed

    def now_ns(self) -> int:
        """Simulated epoch nanoseconds."""
        with self._lock:
            return self._now_ns_locked()

    def now(self) -> datetime:
        """Simulated aware UTC time."""
        return nanos_to_utc(self.now_ns())

    def advance(self, seconds: float) -> datetime:
        """Move simulated time forward by `seconds` (whatever the speed) and return it."""
        if not (math.isfinite(seconds) and seconds >= 0):
            raise ValueError(f"the clock only moves forward; got {seconds} seconds")
        with self._lock:
            self._base_ns += round(seconds * NANOS_PER_SECOND)
            return nanos_to_utc(self._now_ns_locked())

    def monotonic(self) -> float:
        """Simulated seconds since the epoch; never goes backwards (`core.clock.Clock`)."""
        return self.now_ns() / NANOS_PER_SECOND

    def sleep(self, seconds: float) -> None:
        """Wait `seconds` of simulated time: a stopped clock is advanced, a running one waited on.

        With this, code written against `core.clock.Clock` runs on simulated time in-process.
        """
        if self.speed == 0:
            self.advance(max(seconds, 0.0))
        elif seconds > 0:
            time.sleep(seconds / self.speed)

    def set_speed(self, speed: float) -> None:
        """Change the speed from now on, without a jump."""
        _check_speed(speed)
        with self._lock:
            self._base_ns = self._now_ns_locked()
            self._anchor = self._timer()
            self._speed = speed

    def _now_ns_locked(self) -> int:
        elapsed = max(0.0, self._timer() - self._anchor)
        return self._base_ns + round(elapsed * self._speed * NANOS_PER_SECOND)


def _check_speed(speed: float) -> None:
    if not (math.isfinite(speed) and 0 <= speed <= MAX_SPEED):
        raise ValueError(f"speed must be between 0 (stepped) and 1000000, got {speed}")
