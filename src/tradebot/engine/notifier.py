"""The engine-side deliverer of one user's notification outbox.

`Notifier.deliver_due()` is one round: for each channel it reads that channel's due outbox rows
(one row per channel and message, oldest first), sends each and marks it at once: sent, retried
(with exponential backoff) or dead (after `max_attempts`). It never sleeps and never raises for a
channel problem; `NotifierThread` runs rounds on its own daemon thread, so a slow or dead channel
never delays the trading loop, which only calls `wake()`.

Guarantees and their limits (docs/NOTIFICATIONS.md):
- Order: on each channel, messages go out in row-id order; a failed message holds back the later
  ones on that channel until it is delivered or dead.
- Exactly once per channel: each row is marked sent in its own short transaction right after its
  send, so a channel that took a message never gets it again because another channel failed.
  Telegram has no idempotency key: a crash between a send and its mark resends that one message.
- Limits: about one message a second per channel; a `429` blocks the channel for `retry_after`
  without costing the message an attempt.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from tradebot.core.clock import Clock, wait_until
from tradebot.services.notifications.channels import Channel, DeliverableMessage
from tradebot.services.notifications.delivery_health import ChannelHealth, NotifierHealth
from tradebot.services.notifications.delivery_state import DeliveryState

logger = logging.getLogger(__name__)
BACKLOG_HORIZON = timedelta(days=3650)  # `due` at a far-off time reads every unsent row


class OutboxRow(DeliverableMessage, Protocol):
    """An outbox message with its delivery bookkeeping."""

    @property
    def attempts(self) -> int: ...


class OutboxPort(Protocol):
    """The outbox of one user (`services.notifications.outbox`, bound to that user's store)."""

    def due(self, now: datetime, limit: int, channel: str | None = None) -> Sequence[OutboxRow]:
        """Unsent rows whose next attempt is due, oldest first (of `channel`, or of every channel)."""
        ...

    def mark_sent(self, message_id: int, at: datetime) -> None:
        """The row was delivered to its channel."""
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
        started = self._clock.monotonic()
        for state in self._states:
            self._deliver_channel(state, started)
        backlog = len(self._outbox.due(self._clock.now() + BACKLOG_HORIZON, 1000))
        with self._lock:
            self._backlog, self._checked_at = backlog, self._clock.now()
        return self._next_round_in(backlog)

    def _deliver_channel(self, state: _ChannelState, started: float) -> None:
        """Send this channel's due rows in order until one fails, it must wait, or the round is over."""
        now = self._clock.now()
        rows = self._outbox.due(now, self._policy.batch, state.channel.name)
        self._release_stale_hold(state, rows, now)
        for row in rows:
            if self._clock.monotonic() - started > self._policy.round_budget_seconds:
                return
            if not self._may_send(state, row):
                return  # paced, told to wait, or an older failed row holds this channel back
            if not self._send(state, row):
                return

    @property
    def idle_seconds(self) -> float:
        """How long a round with nothing to do waits."""
        return self._policy.idle_seconds

    def close(self) -> None:
        """Nothing of its own to release (its outbox and channels belong to the caller)."""

    def delivery_state(self) -> DeliveryState | None:
        """A bare notifier reads no outbox state (`UserDeliverer` does)."""
        return None

    def health(self) -> NotifierHealth:
        """A snapshot, safe to read from any thread."""
        with self._lock:
            channels = tuple(state.health() for state in self._states)
            return NotifierHealth(channels, self._backlog, self._dead, self._checked_at)

    def _send(self, state: _ChannelState, row: OutboxRow) -> bool:
        """Send one row and mark it at once (its own short transaction); True when delivered."""
        delivery = state.channel.send(row)
        now, after = self._clock.now(), self._clock.monotonic()
        with self._lock:
            state.ready_at = after + state.channel.min_interval_seconds
            if delivery.delivered:
                state.last_success_at = now
                if state.holding_id == row.id:
                    state.holding_id, state.hold_until = None, None
            else:
                state.last_error, state.last_error_at = delivery.error, now
        if delivery.delivered:
            # Marked right after the send: a crash in between resends only this row to this channel.
            self._outbox.mark_sent(row.id, now)
            return True
        error = delivery.error or f"{state.channel.name}: not delivered"
        if delivery.retry_after_seconds is not None:
            # The channel asked us to wait: the row keeps its attempts and stays due.
            state.ready_at = max(state.ready_at, after + delivery.retry_after_seconds)
            logger.info("notification %s: %s, waiting %.0f s", row.id, error, delivery.retry_after_seconds)
            return False
        self._failed(state, row, error)
        return False

    def _may_send(self, state: _ChannelState, row: OutboxRow) -> bool:
        if state.holding_id is not None and state.holding_id != row.id:
            return False
        return self._clock.monotonic() >= state.ready_at

    def _failed(self, state: _ChannelState, row: OutboxRow, error: str) -> None:
        now, attempts = self._clock.now(), row.attempts + 1
        if attempts >= self._policy.max_attempts:
            self._outbox.mark_dead(row.id, error, now)
            logger.warning("notification %s dead after %d attempts: %s", row.id, attempts, error)
            with self._lock:
                self._dead += 1
                state.holding_id, state.hold_until = None, None
            return
        next_attempt_at = now + self._policy.delay(attempts)
        self._outbox.mark_retry(row.id, error, next_attempt_at)
        logger.info("notification %s failed (attempt %d): %s", row.id, attempts, error)
        with self._lock:
            state.holding_id, state.hold_until = row.id, next_attempt_at

    @staticmethod
    def _release_stale_hold(state: _ChannelState, rows: Sequence[OutboxRow], now: datetime) -> None:
        """A held row that should be due but is not (sent, dead or dropped elsewhere) holds nothing back."""
        if state.holding_id is None or state.holding_id in {row.id for row in rows}:
            return
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

    def delivery_state(self) -> DeliveryState | None: ...

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

    def delivery_state(self) -> DeliveryState | None:
        """The outbox's delivery state as the last round read it (None before, or without a channel)."""
        return self._notifier.delivery_state()

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
