"""The notification outbox: messages written with their event, delivered later by the engine's sender.

`enqueue` writes a row in the caller's transaction, the one that records the event (a fill, a
refused order, an alert), so a message exists exactly when its event does: a rolled-back fill
leaves no message, a crash after the commit loses none. The sender reads `due` rows and ends each
with `mark_sent`, `mark_retry` or `mark_dead`; the row id is the dedup key across crashes. A row
leaves `pending` once: marking a row that is not pending raises StorageError (a double delivery
would be a bug in the caller, never something to hide).

One row per channel (schema version 6): an event for a user with Telegram and a webhook writes two
rows, each delivered, retried and marked on its own, so a message that one channel took is never
sent to it again because the other failed. `drop_channel` ends the pending rows of a channel the
user removed as `dropped`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tradebot.core.errors import SettingsError
from tradebot.services.notifications.config import (
    ChannelName,
    EventKind,
    Level,
    configured_channels,
    read_settings,
)
from tradebot.services.storage import Reader, StorageError, Transaction
from tradebot.services.storage.codecs import decode_time, encode_time

MAX_TEXT_CHARACTERS = 3500  # under Telegram's 4096 and Discord's 2000 * 2 after any prefix
MAX_ERROR_CHARACTERS = 500
ELLIPSIS = "…"


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """One pending message, as the sender sees it."""

    id: int  # row id: the dedup key across crashes
    channel: ChannelName  # the one channel this row is delivered to
    kind: EventKind
    level: Level
    text: str  # plain text, already formatted for a person (English for now)
    created_at: datetime  # aware UTC
    attempts: int
    next_attempt_at: datetime


def enqueue(transaction: Transaction, kind: EventKind, text: str, now: datetime) -> int | None:
    """Write the message in the caller's transaction (same transaction as the event), one row per
    configured channel; the first row's id, or None when the user switched that kind off or has no
    channel configured."""
    level, channels = _level(transaction, kind)
    if level is None or not channels:
        return None
    text = text.strip() or kind
    if len(text) > MAX_TEXT_CHARACTERS:
        text = text[: MAX_TEXT_CHARACTERS - 1] + ELLIPSIS
    sql = (
        "INSERT INTO notify_outbox (channel, kind, level, text, status, attempts, next_attempt_at, "
        "created_at) VALUES (?, ?, ?, ?, 'pending', 0, ?, ?)"
    )
    moment = encode_time(now)
    ids = [
        int(transaction.execute(sql, (channel, kind, level, text, moment, moment)).lastrowid or 0)
        for channel in channels
    ]
    return ids[0]


def _level(transaction: Transaction, kind: EventKind) -> tuple[Level | None, list[ChannelName]]:
    """How `kind` is delivered (None when off) and to which channels."""
    try:
        settings = read_settings(transaction)
    except SettingsError:  # unreadable settings (a newer version's, or edited) must never block a fill
        return "on", configured_channels(transaction, None)
    if settings is None:
        return None, []
    level = settings.level(kind)
    return (None if level == "off" else level), configured_channels(transaction, settings)


def due(
    reader: Reader, now: datetime, limit: int = 20, channel: ChannelName | None = None
) -> list[OutboxMessage]:
    """Unsent messages whose next attempt is due, oldest first (of one channel, or of all)."""
    sql = (
        "SELECT id, channel, kind, level, text, created_at, attempts, next_attempt_at FROM notify_outbox "
        "WHERE status = 'pending' AND next_attempt_at <= ? AND (? IS NULL OR channel = ?) ORDER BY id LIMIT ?"
    )
    return [
        OutboxMessage(
            id=int(row["id"]),
            channel=row["channel"],
            kind=row["kind"],
            level=row["level"],
            text=str(row["text"]),
            created_at=decode_time(row["created_at"]),
            attempts=int(row["attempts"]),
            next_attempt_at=decode_time(row["next_attempt_at"]),
        )
        for row in reader.query(sql, (encode_time(now), channel, channel, limit))
    ]


def counts(reader: Reader) -> dict[str, int]:
    """How many rows are pending, sent, dead and dropped (for health and the dashboard)."""
    found = {"pending": 0, "sent": 0, "dead": 0, "dropped": 0}
    for row in reader.query("SELECT status, count(*) AS number FROM notify_outbox GROUP BY status"):
        found[str(row["status"])] = int(row["number"])
    return found


def drop_channel(transaction: Transaction, channel: ChannelName, at: datetime) -> int:
    """End every pending row of `channel` as `dropped` (the user removed it); how many there were."""
    sql = (
        "UPDATE notify_outbox SET status = 'dropped', next_attempt_at = ?, "
        "last_error = 'channel removed by the user' WHERE status = 'pending' AND channel = ?"
    )
    return int(transaction.execute(sql, (encode_time(at), channel)).rowcount)


def mark_sent(transaction: Transaction, message_id: int, at: datetime) -> None:
    """The message was delivered: it is never sent again."""
    _finish(transaction, message_id, "status = 'sent', sent_at = ?, last_error = NULL", (encode_time(at),))


def mark_retry(transaction: Transaction, message_id: int, error: str, next_attempt_at: datetime) -> None:
    """This attempt failed; try again at `next_attempt_at`."""
    changes = "next_attempt_at = ?, last_error = ?"
    _finish(transaction, message_id, changes, (encode_time(next_attempt_at), _short(error)))


def mark_dead(transaction: Transaction, message_id: int, error: str, at: datetime) -> None:
    """The message will never be delivered (refused by the channel, or too many attempts)."""
    changes = "status = 'dead', next_attempt_at = ?, last_error = ?"
    _finish(transaction, message_id, changes, (encode_time(at), _short(error)))


def _finish(transaction: Transaction, message_id: int, changes: str, values: tuple[int | str, ...]) -> None:
    # `changes` is one of the fixed fragments above, never input.
    sql = f"UPDATE notify_outbox SET attempts = attempts + 1, {changes} WHERE id = ? AND status = 'pending'"  # noqa: S608
    if transaction.execute(sql, (*values, message_id)).rowcount != 1:
        raise StorageError(
            f"outbox message {message_id} is not pending (unknown, already sent, dead or dropped)"
        )


def _short(error: str) -> str:
    return error if len(error) <= MAX_ERROR_CHARACTERS else error[: MAX_ERROR_CHARACTERS - 1] + ELLIPSIS
