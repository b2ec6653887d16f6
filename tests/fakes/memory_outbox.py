"""An in-memory outbox with the contract of `services.notifications.outbox`, for notifier tests.

It refuses what the real outbox must never see: marking a row that is no longer pending (a second
`mark_sent` is the double delivery the notifier must avoid). `crash_on_next_mark_sent` raises
inside `mark_sent` before recording it, as a process killed between send and mark would leave it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

Status = Literal["pending", "sent", "dead"]


class CrashError(RuntimeError):
    """The scripted crash between a send and its mark."""


@dataclass(frozen=True)
class MemoryRow:
    id: int
    channel: str
    kind: str
    level: str
    text: str
    created_at: datetime
    attempts: int
    next_attempt_at: datetime
    status: Status = "pending"
    error: str | None = None


class MemoryOutbox:
    """Rows by id; ids grow with creation, like SQLite row ids."""

    def __init__(self) -> None:
        self.rows: dict[int, MemoryRow] = {}
        self.crash_on_next_mark_sent = False

    def add(
        self, text: str, at: datetime, *, kind: str = "fill", level: str = "on", channel: str = "telegram"
    ) -> int:
        row_id = len(self.rows) + 1
        self.rows[row_id] = MemoryRow(row_id, channel, kind, level, text, at, 0, at)
        return row_id

    def add_event(self, text: str, at: datetime, channels: tuple[str, ...]) -> list[int]:
        """One row per channel, as `outbox.enqueue` writes an event."""
        return [self.add(text, at, channel=channel) for channel in channels]

    def due(self, now: datetime, limit: int, channel: str | None = None) -> list[MemoryRow]:
        waiting = [
            row for row in self.rows.values() if row.status == "pending" and channel in (None, row.channel)
        ]
        return sorted((row for row in waiting if row.next_attempt_at <= now), key=lambda row: row.id)[:limit]

    def mark_sent(self, message_id: int, at: datetime) -> None:
        if self.crash_on_next_mark_sent:
            self.crash_on_next_mark_sent = False
            raise CrashError("killed between send and mark")
        self._update(message_id, status="sent")

    def mark_retry(self, message_id: int, error: str, next_attempt_at: datetime) -> None:
        attempts = self.rows[message_id].attempts + 1
        self._update(message_id, attempts=attempts, next_attempt_at=next_attempt_at, error=error)

    def mark_dead(self, message_id: int, error: str, at: datetime) -> None:
        self._update(message_id, status="dead", error=error)

    def status(self, message_id: int) -> Status:
        return self.rows[message_id].status

    def _update(self, message_id: int, **changes: object) -> None:
        row = self.rows[message_id]
        if row.status != "pending":
            raise AssertionError(f"row {message_id} is already {row.status}")
        self.rows[message_id] = replace(row, **changes)  # type: ignore[arg-type]
