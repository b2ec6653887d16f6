"""The engine-side deliverer of one user's notification outbox.

`Notifier.deliver_due()` is one round: it reads the due outbox rows (oldest first) and sends each to
every channel that has not had it yet, then marks the row sent (all channels have it), retried (with
exponential backoff) or dead (after `max_attempts`). It never sleeps and never raises for a channel
problem; `NotifierThread` runs rounds on its own daemon thread, so a slow or dead channel never
delays the trading loop, which only calls `wake()`.

Guarantees and their limits (docs/NOTIFICATIONS.md):
- Order: on each channel, messages go out in row-id order; a failed message holds back the later
  ones on that channel until it is delivered or dead.
- Exactly once per row: a row is marked sent once, after every channel took it. Telegram has no
  idempotency key, so a crash after a send but before its mark resends that message once; which
  channels already had a row is kept in memory, so after a crash a row that was half delivered
  (one channel ok, another failing) is sent again to both.
- Limits: about one message a second per channel; a `429` blocks the channel for `retry_after`
  without costing the message an attempt.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from tradebot.core.clock import Clock, wait_until
from tradebot.services.notifications.channels import Channel, DeliverableMessage, Delivery
from tradebot.services.notifications.delivery_health import ChannelHealth, NotifierHealth

logger = logging.getLogger(__name__)
BACKLOG_HORIZON = timedelta(days=3650)  # `due` at a far-off time reads every unsent row


class OutboxRow(DeliverableMessage, Protocol):
    """An outbox message with its delivery bookkeeping."""

    @property
    def attempts(self) -> int: ...


class OutboxPort(Protocol):
    """The outbox of one user (`services.notifications.outbox`, bound to that user's store)."""

    def due(self, now: datetime, limit: int) -> Sequence[OutboxRow]:
        """Unsent rows whose next attempt is due, oldest first."""
        ...

    def mark_sent(self, message_id: int, at: datetime) -> None:
        """The row was delivered everywhere."""
        ...

    def mark_retry(self, message_id: int, error: str, next_attempt_at: datetime) -> None:
        """The row failed this time (one more attempt); try again at `next_attempt_at`."""
        ...

    def mark_dead(self, message_id: int, error: str, at: datetime) -> None:
        """The row will never be sent."""
        ...


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Backoff doubles from `first_delay` up to `max_delay`; the defaults ride out ~1.5 hours."""

    max_attempts: int = 12
    first_delay: timedelta = timedelta(seconds=5)
    max_delay: timedelta = timedelta(minutes=15)
    batch: int = 20
    round_budget_seconds: float = 30.0  # no new send starts after this, so `stop` is seen soon
    idle_seconds: float = 5.0  # how long a round with nothing to do waits for a `wake`

    def delay(self, attempts: int) -> timedelta:
        """The wait after the `attempts`-th failure (1-based)."""
        doubled: timedelta = self.first_delay * (2 ** max(attempts - 1, 0))
        return min(doubled, self.max_delay)


@dataclass(slots=True)
class _ChannelState:
    channel: Channel
    ready_at: float = 0.0  # monotonic: pacing and 429
    holding_id: int | None = None  # a failed row that later rows must not overtake
    hold_until: datetime | None = None
    last_success_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    delivered: set[int] = field(default_factory=set)

    def health(self) -> ChannelHealth:
        return ChannelHealth(self.channel.name, self.last_success_at, self.last_error, self.last_error_at)


class Notifier:
    """Delivers one user's outbox to that user's channels; see the module docstring."""

    def __init__(
        self, outbox: OutboxPort, channels: Sequence[Channel], clock: Clock, policy: RetryPolicy | None = None
    ) -> None:
        if not channels:
            raise ValueError("a notifier needs at least one channel: without one nothing may be marked sent")
        self._outbox, self._clock = outbox, clock
        self._policy = policy or RetryPolicy()
        self._states = [_ChannelState(channel) for channel in channels]
        self._lock = threading.Lock()
        self._backlog, self._dead = 0, 0
        self._checked_at: datetime | None = None

    def deliver_due(self) -> float:
        """One round of deliveries; returns the seconds until another round is worth running."""
        now = self._clock.now()
        started = self._clock.monotonic()
        rows = self._outbox.due(now, self._policy.batch)
        self._release_stale_holds(rows, now)
        for row in rows:
            if self._clock.monotonic() - started > self._policy.round_budget_seconds:
                break
            self._deliver(row)
        backlog = len(self._outbox.due(self._clock.now() + BACKLOG_HORIZON, 1000))
        with self._lock:
            self._backlog, self._checked_at = backlog, self._clock.now()
        return self._next_round_in(backlog)

    @property
    def idle_seconds(self) -> float:
        """How long a round with nothing to do waits."""
        return self._policy.idle_seconds

    def close(self) -> None:
        """Nothing of its own to release (its outbox and channels belong to the caller)."""

    def health(self) -> NotifierHealth:
        """A snapshot, safe to read from any thread."""
        with self._lock:
            channels = tuple(state.health() for state in self._states)
            return NotifierHealth(channels, self._backlog, self._dead, self._checked_at)

    def _deliver(self, row: OutboxRow) -> None:
        errors: list[str] = []
        for state in self._states:
            if row.id in state.delivered or not self._may_send(state, row):
                continue
            delivery = state.channel.send(row)
            self._record(state, row, delivery, errors)
        if all(row.id in state.delivered for state in self._states):
            self._outbox.mark_sent(row.id, self._clock.now())
            self._forget(row.id)
        elif errors:
            self._failed(row, "; ".join(errors))

    def _may_send(self, state: _ChannelState, row: OutboxRow) -> bool:
        if state.holding_id is not None and state.holding_id != row.id:
            return False
        return self._clock.monotonic() >= state.ready_at

    def _record(self, state: _ChannelState, row: OutboxRow, delivery: Delivery, errors: list[str]) -> None:
        now, after = self._clock.now(), self._clock.monotonic()
        with self._lock:
            state.ready_at = after + state.channel.min_interval_seconds
            if delivery.delivered:
                state.delivered.add(row.id)
                state.last_success_at = now
                if state.holding_id == row.id:
                    state.holding_id, state.hold_until = None, None
                return
            state.last_error, state.last_error_at = delivery.error, now
        error = delivery.error or f"{state.channel.name}: not delivered"
        if delivery.retry_after_seconds is not None:
            # The channel asked us to wait: the row keeps its attempts and stays due.
            state.ready_at = max(state.ready_at, after + delivery.retry_after_seconds)
            logger.info("notification %s: %s, waiting %.0f s", row.id, error, delivery.retry_after_seconds)
            return
        errors.append(error)
        state.holding_id = row.id

    def _failed(self, row: OutboxRow, error: str) -> None:
        now, attempts = self._clock.now(), row.attempts + 1
        if attempts >= self._policy.max_attempts:
            self._outbox.mark_dead(row.id, error, now)
            logger.warning("notification %s dead after %d attempts: %s", row.id, attempts, error)
            with self._lock:
                self._dead += 1
            self._forget(row.id)
            return
        next_attempt_at = now + self._policy.delay(attempts)
        self._outbox.mark_retry(row.id, error, next_attempt_at)
        logger.info("notification %s failed (attempt %d): %s", row.id, attempts, error)
        for state in self._states:
            if state.holding_id == row.id:
                state.hold_until = next_attempt_at

    def _forget(self, message_id: int) -> None:
        for state in self._states:
            state.delivered.discard(message_id)
            if state.holding_id == message_id:
                state.holding_id, state.hold_until = None, None

    def _release_stale_holds(self, rows: Sequence[OutboxRow], now: datetime) -> None:
        """A held row that should be due but is not (sent or dead elsewhere) holds nothing back."""
        due_ids = {row.id for row in rows}
        for state in self._states:
            if state.holding_id is None or state.holding_id in due_ids:
                continue
            if state.hold_until is not None and now >= state.hold_until:
                state.holding_id, state.hold_until = None, None

    def _next_round_in(self, backlog: int) -> float:
        if backlog == 0:
            return self._policy.idle_seconds
        waits = [max(state.ready_at - self._clock.monotonic(), 0.0) for state in self._states]
        return min([*waits, self._policy.idle_seconds]) or 0.05


class Deliverer(Protocol):
    """What `NotifierThread` runs: a `Notifier`, or one that follows the user's settings."""

    @property
    def idle_seconds(self) -> float: ...

    def deliver_due(self) -> float: ...

    def health(self) -> NotifierHealth: ...

    def close(self) -> None: ...


class NotifierThread:
    """Runs `Notifier` rounds on a daemon thread; `wake()` never blocks the caller."""

    def __init__(self, notifier: Deliverer, clock: Clock, *, name: str = "notifier") -> None:
        self._notifier, self._clock = notifier, clock
        self._wake, self._stop = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> NotifierThread:
        """Start delivering."""
        self._thread.start()
        return self

    def wake(self) -> None:
        """Ask for a round soon (e.g. after a transaction that enqueued a message)."""
        self._wake.set()

    def stop(self, timeout_seconds: float = 10.0) -> None:
        """Stop after the current send (each send is bounded by its channel's timeout)."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=timeout_seconds)

    def health(self) -> NotifierHealth:
        """The notifier's health snapshot."""
        return self._notifier.health()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                pause = self._notifier.deliver_due()
            except Exception:  # a storage fault must not end delivery for good; it is retried
                logger.exception("notification round failed; retrying")
                pause = self._notifier.idle_seconds
            wait_until(self._clock, self._wake, self._clock.monotonic() + pause)
            self._wake.clear()
        self._notifier.close()  # on this thread: its database connection was opened here
