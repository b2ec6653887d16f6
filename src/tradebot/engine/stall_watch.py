"""The watchdog's hold on one runner: stalls noticed on the manager's thread, acted on by the runner's.

The manager's thread never touches a runner's loop or its resources (their SQLite connections
belong to the runner's thread). It only

1. notices a loop that finished no cycle for `stall_limit` seconds and sets its `halt` event: the
   loop leaves its cycle at the next step or bounded wait (`engine.halt`), and the runner's own
   thread closes it and starts it again;
2. gives up a runner thread still stuck (in a request) `abandon_limit` seconds after that: its
   lease is revoked, so it never writes again, and the manager starts a new runner for the user.
"""

from __future__ import annotations

import threading

from tradebot.core.clock import Clock
from tradebot.engine.runner_lease import RunnerLease
from tradebot.engine.runner_types import RunnerSettings


class StallWatch:
    """Progress, stop request and lease of one runner; read and set from any thread."""

    def __init__(self, clock: Clock, settings: RunnerSettings) -> None:
        self._clock, self._settings = clock, settings
        self.halt = threading.Event()  # set by the watchdog: the loop leaves its cycle
        self.lease = RunnerLease()  # revoked when the runner's thread is abandoned
        self.last_progress = clock.monotonic()  # when the loop last started or finished a cycle
        self.stalled = False  # a stop was asked; the runner's next tick starts the loop again
        self.halt_asked_at: float | None = None  # monotonic seconds of the stop request

    def progress(self) -> None:
        """The loop started or finished a cycle."""
        self.last_progress = self._clock.monotonic()

    def ask_to_stop(self, running: bool) -> float | None:
        """Ask a running loop silent past the limit to stop, once; the seconds it was silent, or None."""
        silent = self._clock.monotonic() - self.last_progress
        if not running or self.stalled or silent <= self._settings.stall_limit:
            return None
        self.stalled = True
        self.halt_asked_at = self._clock.monotonic()
        self.halt.set()
        return silent

    def restarted(self) -> None:
        """The runner's thread closed the halted loop (it starts a new one): the request is done."""
        self.stalled, self.halt_asked_at = False, None
        self.halt.clear()
        self.progress()

    def abandon_if_stuck(self) -> float | None:
        """Revoke the lease of a thread still stuck `abandon_limit` s after the stop request.

        Returns the seconds since the request when it was abandoned now, else None.
        """
        asked = self.halt_asked_at
        if asked is None or self.lease.revoked:
            return None
        waited = self._clock.monotonic() - asked
        if waited <= self._settings.abandon_limit:
            return None
        self.lease.revoke()
        return waited
