"""What a user's runner is set up with and what it drives: its settings and the trading loop's shape.

Kept apart from `engine_runner` so the engine manager, the service CLI and tests name them without
the runner's machinery, and the runner module stays about supervising.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from tradebot.engine.bootstrap import RunRequest
from tradebot.services.records import Side

DEFAULT_BACKOFF = (5.0, 30.0, 300.0)
# A storage fault is outside the bot and is usually fixed by hand (space freed, lock released):
# retried at least every 30 s so trading resumes within a minute of the fix, never 5 minutes.
STORAGE_RETRY = (5.0, 15.0, 30.0)
HEALTHY_CYCLES = 12  # clean cycles in a row after which earlier crashes are forgotten
STALL_CYCLES = 6  # the watchdog restarts a loop silent for this many cycles (at least STALL_FLOOR)
STALL_FLOOR_SECONDS = 30.0
POSITION_UNGUARDED = "ALERT: position open and its price exits are NOT running"


class Loop(Protocol):
    """What the runner needs of a trading loop (`LiveLoop`, or a fake in tests)."""

    paused: bool
    market: str  # the market it trades: its position is the one it guards

    def start(self) -> None: ...

    def cycle(self) -> object: ...

    def force(self, side: Side, command_id: int, requested_by: str, reason: str) -> str: ...

    def guard(self) -> object: ...


LoopFactory = Callable[[RunRequest, ExitStack], Loop]
Report = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class RunnerSettings:
    """Where and how a user's loop runs."""

    home: Path
    exchange_url: str
    engine_id: str
    cycle_seconds: float = 5.0
    backoff: tuple[float, ...] = DEFAULT_BACKOFF
    healthy_cycles: int = HEALTHY_CYCLES
    storage_retry: tuple[float, ...] = STORAGE_RETRY  # delays after a storage fault (locked, disk full)
    stall_seconds: float | None = None  # None: STALL_CYCLES cycles, at least STALL_FLOOR_SECONDS
    abandon_seconds: float | None = None  # None: the stall limit again (see `abandon_limit`)

    @property
    def stall_limit(self) -> float:
        """Seconds without a finished cycle after which the watchdog restarts the loop."""
        if self.stall_seconds is not None:
            return self.stall_seconds
        return max(STALL_CYCLES * self.cycle_seconds, STALL_FLOOR_SECONDS)

    @property
    def abandon_limit(self) -> float:
        """Seconds after the watchdog's stop request after which a runner thread still stuck in a
        request is given up: it may no longer write, and a new runner takes the user over."""
        if self.abandon_seconds is not None:
            return self.abandon_seconds
        return self.stall_limit
