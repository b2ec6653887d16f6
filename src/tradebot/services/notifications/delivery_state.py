"""The delivery state of a user's notifications as their outbox table records it.

Read from the user's database (not from the engine's memory), so `tradebot health` and the
dashboard show it whether or not the engine runs. `last_error` texts come from the channel senders,
which never put a token or webhook URL in them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from tradebot.core.errors import SettingsError
from tradebot.services.notifications.config import has_channel, read_settings, stored_secrets
from tradebot.services.notifications.outbox import counts
from tradebot.services.storage import Reader
from tradebot.services.storage.codecs import decode_time

PENDING_TOO_LONG = timedelta(minutes=10)  # the engine delivers within seconds; 10 minutes is a dead channel
DELIVERY_ALERT = "ALERT: notifications not delivered"


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryState:
    """Outbox counts, the oldest waiting row and the latest error, with an ALERT when delivery fails."""

    pending: int
    sent: int
    dead: int
    dead_since_last_sent: int  # rows given up on after the last delivered one: the channel is still dead
    oldest_pending_at: datetime | None
    last_error: str | None  # of the latest dead or retried row
    last_error_status: str | None  # "dead" or "pending" (a retry is waiting)
    alert: str | None


def read_delivery_state(reader: Reader, now: datetime) -> DeliveryState | None:
    """The user's delivery state at `now`; None when no channel is configured and the outbox is empty."""
    found = counts(reader)
    if not _configured(reader) and not any(found.values()):
        return None
    oldest = _oldest_pending(reader)
    dead_recent = _dead_since_last_sent(reader)
    error_row = reader.query(
        "SELECT status, last_error FROM notify_outbox WHERE last_error IS NOT NULL "
        "AND status IN ('dead', 'pending') ORDER BY id DESC LIMIT 1"
    )
    return DeliveryState(
        pending=found["pending"],
        sent=found["sent"],
        dead=found["dead"],
        dead_since_last_sent=dead_recent,
        oldest_pending_at=oldest,
        last_error=str(error_row[0]["last_error"]) if error_row else None,
        last_error_status=str(error_row[0]["status"]) if error_row else None,
        alert=_alert(dead_recent, oldest, now),
    )


def _configured(reader: Reader) -> bool:
    try:
        settings = read_settings(reader)
    except SettingsError:  # unreadable settings with stored secrets still mean a channel
        return any(secret is not None for secret in stored_secrets(reader))
    return settings is not None and has_channel(reader, settings)


def _oldest_pending(reader: Reader) -> datetime | None:
    rows = reader.query("SELECT min(created_at) AS oldest FROM notify_outbox WHERE status = 'pending'")
    return None if not rows or rows[0]["oldest"] is None else decode_time(rows[0]["oldest"])


def _dead_since_last_sent(reader: Reader) -> int:
    # A row delivered after the dead ones shows the channel works again: old dead rows stay counted
    # but no longer raise the ALERT (else one lost message would fail `tradebot health` forever).
    rows = reader.query(
        "SELECT count(*) AS number FROM notify_outbox WHERE status = 'dead' AND id > "
        "coalesce((SELECT max(id) FROM notify_outbox WHERE status = 'sent'), 0)"
    )
    return int(rows[0]["number"]) if rows else 0


def _alert(dead_recent: int, oldest_pending_at: datetime | None, now: datetime) -> str | None:
    problems = []
    if dead_recent:
        problems.append(f"{dead_recent} message(s) given up on since the last delivered one")
    if oldest_pending_at is not None and now - oldest_pending_at > PENDING_TOO_LONG:
        minutes = int((now - oldest_pending_at).total_seconds() // 60)
        problems.append(f"oldest waiting message is {minutes} min old")
    return f"{DELIVERY_ALERT}: {'; '.join(problems)}" if problems else None
