"""The notification outbox: messages written with their event, delivered later by the engine's sender.

`enqueue` writes a row in the caller's transaction, the one that records the event (a fill, a
refused order, an alert), so a message exists exactly when its event does: a rolled-back fill
leaves no message, a crash after the commit loses none. The sender reads `due` rows and ends each
with `mark_sent`, `mark_retry` or `mark_dead`; the row id is the dedup key across crashes. A row
leaves `pending` once: marking a row that is not pending raises StorageError (a double delivery
would be a bug in the caller, never something to hide).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tradebot.core.errors import SettingsError
from tradebot.services.notifications.config import (
    EventKind,
    Level,
    has_channel,
    read_settings,
    stored_secrets,
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
    kind: EventKind
    level: Level
    text: str  # plain text, already formatted for a person (English for now)
    created_at: datetime  # aware UTC
    attempts: int
    next_attempt_at: datetime


def enqueue(transaction: Transaction, kind: EventKind, text: str, now: datetime) -> int | None:
    """Write a message in the caller's transaction (same transaction as the event); None when the
    user switched that kind off or has no channel configured."""
    level = _level(transaction, kind)
    if level is None:
        return None
    text = text.strip() or kind
    if len(text) > MAX_TEXT_CHARACTERS:
        text = text[: MAX_TEXT_CHARACTERS - 1] + ELLIPSIS
    sql = (
        "INSERT INTO notify_outbox (kind, level, text, status, attempts, next_attempt_at, created_at) "
        "VALUES (?, ?, ?, 'pending', 0, ?, ?)"
    )
    moment = encode_time(now)
    return int(transaction.execute(sql, (kind, level, text, moment, moment)).lastrowid or 0)


def _level(transaction: Transaction, kind: EventKind) -> Level | None:
    """How `kind` is delivered, or None when it is off or no channel is configured."""
    try:
        settings = read_settings(transaction)
    except SettingsError:  # unreadable settings (a newer version's, or edited) must never block a fill
        token, url = stored_secrets(transaction)
        return "on" if token is not None or url is not None else None
    if settings is None or not has_channel(transaction, settings):
        return None
    level = settings.level(kind)
    return None if level == "off" else level


def due(reader: Reader, now: datetime, limit: int = 20) -> list[OutboxMessage]:
    """Unsent messages whose next attempt is due, oldest first."""
    sql = (
        "SELECT id, kind, level, text, created_at, attempts, next_attempt_at FROM notify_outbox "
        "WHERE status = 'pending' AND next_attempt_at <= ? ORDER BY id LIMIT ?"
    )
    return [
        OutboxMessage(
            id=int(row["id"]),
            kind=row["kind"],
            level=row["level"],
            text=str(row["text"]),
            created_at=decode_time(row["created_at"]),
            attempts=int(row["attempts"]),
            next_attempt_at=decode_time(row["next_attempt_at"]),
        )
        for row in reader.query(sql, (encode_time(now), limit))
    ]


def counts(reader: Reader) -> dict[str, int]:
    """How many rows are pending, sent and dead (for health and the dashboard)."""
    found = {"pending": 0, "sent": 0, "dead": 0}
    for row in reader.query("SELECT status, count(*) AS number FROM notify_outbox GROUP BY status"):
        found[str(row["status"])] = int(row["number"])
    return found


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
        raise StorageError(f"outbox message {message_id} is not pending (unknown, already sent or dead)")


def _short(error: str) -> str:
    return error if len(error) <= MAX_ERROR_CHARACTERS else error[: MAX_ERROR_CHARACTERS - 1] + ELLIPSIS
