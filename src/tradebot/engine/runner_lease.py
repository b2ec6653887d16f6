"""Which runner thread may write a user's database: never two live loops for the same user.

The watchdog asks a stalled loop to stop (`halt`); its own thread closes it. A thread that stays
stuck in a request past a hard limit is abandoned and a new runner takes the user over. The old
thread may still come back from its request later, so every write of its stores passes through
its lease (`Store.gate_writes`): once the lease is revoked, the write raises `SupersededError`
before it begins. An order is recorded before it is sent, so a superseded thread can neither
record nor send a new one; an order it had sent before is found by the new runner's order desk by
its identifier, as after a crash.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from tradebot.core.errors import TradebotError

REVOKE_WAIT_SECONDS = 10.0  # a write in progress is let finish; a thread stuck in one is not waited for


class SupersededError(TradebotError):
    """This runner thread was replaced by another one for the same user: it must not write."""


class RunnerLease:
    """The right of one runner thread (and its loops and guards) to write the user's database."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._revoked = False

    @property
    def revoked(self) -> bool:
        """True once another runner took the user over."""
        return self._revoked

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Held for the whole write transaction, so a revoke never lands between check and commit."""
        with self._lock:
            if self._revoked:
                raise SupersededError("this runner was replaced by a new one: nothing more is written")
            yield

    def revoke(self) -> None:
        """Refuse every write not yet begun, then wait for one in progress (within REVOKE_WAIT_SECONDS).

        When this returns, nothing more is written: a write stuck longer than the wait (a disk that
        hangs) is the only one that may still land, and it began before the revoke.
        """
        self._revoked = True
        if self._lock.acquire(timeout=REVOKE_WAIT_SECONDS):
            self._lock.release()
