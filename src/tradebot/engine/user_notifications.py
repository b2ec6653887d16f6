"""One user's notifications inside the engine: the outbox in the user's database, delivered by a thread.

`start_user_notifications` is called when the engine starts a user's runner; the returned handle is
stopped when the runner ends. The deliverer reads the user's channel settings at every round, so a
`tradebot notify set` takes effect within a round without restarting anything, and a user without a
channel costs one small query per round. Everything runs on the notifier's own thread with its own
database connection (SQLite connections belong to the thread that opened them): the trading loop
never waits for a channel.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

import httpx

from tradebot.core.clock import Clock
from tradebot.core.errors import TradebotError
from tradebot.engine.notifier import Notifier, NotifierThread, RetryPolicy
from tradebot.services.notifications import outbox
from tradebot.services.notifications.channels import Channel, TelegramChannel, WebhookChannel
from tradebot.services.notifications.config import Channels, as_channel_name, load_channels
from tradebot.services.notifications.delivery_health import NotifierHealth
from tradebot.services.notifications.delivery_state import DeliveryState, read_delivery_state
from tradebot.services.notifications.messages import notify_engine
from tradebot.services.notifications.outbox import OutboxMessage
from tradebot.services.notifications.summary import queue_daily_summary
from tradebot.services.secrets import SecretBox
from tradebot.services.storage import Store, open_user_store

logger = logging.getLogger(__name__)
NO_CHANNEL = NotifierHealth(channels=(), backlog=0, dead=0, checked_at=None)


MayOpen = Callable[[], bool]  # False once the runner lost the user's database file


class DatabaseNotOpenedError(TradebotError):
    """The user's database may not be opened now: the engine lost its file (deleted or replaced)."""


def always() -> bool:
    """The gate of a caller outside the engine: the file may always be opened."""
    return True


class GatedStore:
    """The user's database for a side thread of the engine (delivery, chat commands).

    Opened lazily on the thread that uses it (SQLite connections belong to their thread), never
    created, and never (re)opened once `may_open` says the runner lost the file: a file put back by
    hand beside the lost file's journal would otherwise be opened, and SQLite would apply that old
    WAL to it (issue 19, finding 1).
    """

    def __init__(self, home: Path, username: str, may_open: MayOpen = always) -> None:
        self._home, self._username, self._may_open = home, username, may_open
        self._store: Store | None = None

    def get(self) -> Store:
        """The open database; DatabaseNotOpenedError once the runner lost the file."""
        if not self._may_open():
            self.close()
            raise DatabaseNotOpenedError(f"{self._username}: the engine lost this user's database file")
        if self._store is None:
            self._store = open_user_store(self._home, self._username, create=False)
        return self._store

    def close(self) -> None:
        """Close the connection (on the thread that opened it); the next `get` reopens it."""
        if self._store is not None:
            self._store.close()
            self._store = None


class StoreOutbox:
    """`notifier.OutboxPort` over the user's database (a `GatedStore`)."""

    def __init__(self, home: Path, username: str, may_open: MayOpen = always) -> None:
        self._database = GatedStore(home, username, may_open)

    @property
    def store(self) -> Store:
        """The user's database (opened on first use, never created)."""
        return self._database.get()

    def due(self, now: datetime, limit: int, channel: str | None = None) -> Sequence[OutboxMessage]:
        """Unsent messages due at `now`, oldest first (of `channel`, or of every channel)."""
        return outbox.due(self.store, now, limit, as_channel_name(channel))

    def mark_sent(self, message_id: int, at: datetime) -> None:
        """Delivered to its channel."""
        with self.store.transaction() as transaction:
            outbox.mark_sent(transaction, message_id, at)

    def mark_retry(self, message_id: int, error: str, next_attempt_at: datetime) -> None:
        """Failed this time; due again at `next_attempt_at`."""
        with self.store.transaction() as transaction:
            outbox.mark_retry(transaction, message_id, error, next_attempt_at)

    def mark_dead(self, message_id: int, error: str, at: datetime) -> None:
        """Given up on."""
        with self.store.transaction() as transaction:
            outbox.mark_dead(transaction, message_id, error, at)

    def close(self) -> None:
        """Close the connection (on the thread that opened it)."""
        self._database.close()


def build_channels(channels: Channels, client: httpx.Client) -> list[Channel]:
    """The senders a user's settings configure (Telegram, a webhook, or both)."""
    settings, built = channels.settings, list[Channel]()
    if channels.telegram and channels.telegram_token and settings.telegram_chat_id:
        built.append(
            TelegramChannel(
                token=channels.telegram_token, chat_id=settings.telegram_chat_id, client=client,
                api_url=settings.telegram_api_url,
            )
        )  # fmt: skip
    if channels.webhook_url:
        built.append(
            WebhookChannel(url=channels.webhook_url, webhook_format=settings.webhook_format, client=client)
        )
    return built


class UserDeliverer:
    """A `Notifier` that follows the user's channel settings: rebuilt when they change."""

    def __init__(
        self,
        home: Path,
        username: str,
        clock: Clock,
        policy: RetryPolicy | None = None,
        may_open: MayOpen = always,
    ) -> None:
        self._outbox, self._home, self._clock = StoreOutbox(home, username, may_open), home, clock
        self._username = username
        self._policy = policy or RetryPolicy()
        self._client = httpx.Client(follow_redirects=False)
        self._configured: Channels | None = None
        self._notifier: Notifier | None = None
        self._problem: str | None = None  # the last round's failure, logged once
        self._summary_problem: str | None = None  # why the daily summary could not be queued
        self._state: DeliveryState | None = None  # the outbox as the last round read it (health.json)

    @property
    def idle_seconds(self) -> float:
        """How long a round with nothing to do waits."""
        return self._policy.idle_seconds

    def deliver_due(self) -> float:
        """Reload the channel settings when they changed, then deliver what is due.

        A database that cannot be read now (locked, deleted, being restored) is reopened next
        round; the problem is logged once, not every round.
        """
        try:
            pause = self._deliver_due()
        except Exception as error:  # the user's database is the runner's to report; retried here
            self._outbox.close()
            if str(error) != self._problem:
                self._problem = str(error)
                logger.warning("notifications not delivered for now: %s", error)
            return self._policy.idle_seconds
        self._problem = None
        return pause

    def _deliver_due(self) -> float:
        # Read on this thread at every round, never in the constructor: starting a user's
        # notifications must not fail (and so never keep the user's runner from starting).
        channels = load_channels(self._outbox.store, SecretBox.for_home(self._home))
        if channels != self._configured:
            self._configured = channels
            built = [] if channels is None else build_channels(channels, self._client)
            self._notifier = Notifier(self._outbox, built, self._clock, self._policy) if built else None
        if self._notifier is None or channels is None:
            self._read_state()  # rows of a removed channel (dropped, dead) still say something
            return self._policy.idle_seconds  # no channel: messages are not even written
        self._queue_summary(channels)
        pause = self._notifier.deliver_due()
        self._read_state()
        return pause

    def _read_state(self) -> None:
        with self._outbox.store.snapshot() as reader:
            self._state = read_delivery_state(reader, self._clock.now())

    def _queue_summary(self, channels: Channels) -> None:
        """Queue today's daily summary once its KST time has come (once per KST day, across restarts)."""
        at = channels.settings.daily_summary
        if at is None or channels.settings.level("daily_summary") == "off":
            return
        try:
            with self._outbox.store.transaction() as transaction:
                queue_daily_summary(transaction, self._username, at, self._clock.now())
        except Exception as error:  # a summary that cannot be built must not hold back fills and alerts
            if str(error) != self._summary_problem:  # logged once, not every round
                logger.warning("%s: daily summary not queued, retried next round: %s", self._username, error)
            self._summary_problem = str(error)
            return
        self._summary_problem = None

    def health(self) -> NotifierHealth:
        """Delivery health (no channel: nothing to report)."""
        return NO_CHANNEL if self._notifier is None else self._notifier.health()

    def delivery_state(self) -> DeliveryState | None:
        """The outbox's per-channel delivery state at the last round (the block of `health.json`)."""
        return self._state

    def close(self) -> None:
        """Close the HTTP client and the database connection (on the notifier's thread)."""
        self._client.close()
        self._outbox.close()


def start_user_notifications(
    home: Path, username: str, clock: Clock, may_open: MayOpen = always
) -> NotifierThread:
    """Start delivering `username`'s outbox on its own thread; `stop()` it when the runner ends."""
    deliverer = UserDeliverer(home, username, clock, may_open=may_open)
    return NotifierThread(deliverer, clock, name=f"notify-{username}").start()


def notify_engine_event(home: Path, username: str, text: str, clock: Clock) -> None:
    """Queue an `engine` message (start or stop) on its own connection; never raises (it is news only)."""
    try:
        with open_user_store(home, username, create=False) as store, store.transaction() as transaction:
            notify_engine(transaction, username, text, clock.now())
    except Exception as error:  # an unreadable database is the runner's to report
        logger.warning("%s: engine event not queued: %s", username, error)
