"""Asking a loop to stop from another thread: the watchdog's request, seen by the loop's own thread.

The engine manager's watchdog must never close a stalled loop's resources itself: its SQLite
connections belong to the runner's thread ("SQLite objects created in a thread can only be used in
that same thread"). It sets the runner's halt event instead. The runner's thread runs each cycle
inside `halting_on(event)`; the loop calls `raise_if_halted()` between its steps, and every bounded
wait of the shared market feed (`wait_for`) checks it too, so a halted loop leaves its cycle at the
next step or wait with `LoopHalted` and its runner closes it on the thread that opened it.

The event is kept per thread (like a cancellation scope) rather than passed through every call:
the feed is shared by all users, and only the calling thread knows whose loop is waiting.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from tradebot.core.clock import Clock, SystemClock
from tradebot.core.errors import TradebotError

POLL_SECONDS = 0.05  # how often a bounded wait looks at the halt event
_scope = threading.local()


class LoopHalted(TradebotError):  # noqa: N818 - an outcome like the project's other ones, not a failure
    """The watchdog asked this thread's loop to stop: it left its cycle between two steps."""


@contextmanager
def halting_on(event: threading.Event) -> Iterator[None]:
    """Within the block, `raise_if_halted` and `wait_for` on this thread raise once `event` is set."""
    previous = getattr(_scope, "event", None)
    _scope.event = event
    try:
        yield
    finally:
        _scope.event = previous


def raise_if_halted() -> None:
    """Raise LoopHalted when this thread's loop was asked to stop."""
    event: threading.Event | None = getattr(_scope, "event", None)
    if event is not None and event.is_set():
        raise LoopHalted("the watchdog asked this loop to stop")


def wait_for(clock: Clock, done: threading.Event, deadline: float) -> bool:
    """Wait until `done` is set (True) or `clock.monotonic()` reaches `deadline` (False).

    Raises LoopHalted as soon as this thread's loop is asked to stop. On the real clock it blocks
    on the event. An injected clock is stepped through its `sleep`; when that does not move its
    time (a clock whose sleep returns at once) the step is waited on the event instead, and the
    number of steps is bounded, so every clock returns within about the limit.
    """
    steps = max(1, math.ceil((deadline - clock.monotonic()) / POLL_SECONDS)) + 1
    for _ in range(steps):
        raise_if_halted()
        before = clock.monotonic()
        remaining = deadline - before
        if done.is_set() or remaining <= 0:
            return done.is_set()
        step = min(POLL_SECONDS, remaining)
        if isinstance(clock, SystemClock):
            done.wait(step)
            continue
        clock.sleep(step)
        # A stepped clock moved: only let the fetching thread run. One that did not: wait the step.
        done.wait(0.001 if clock.monotonic() > before else step)
    return done.is_set()
