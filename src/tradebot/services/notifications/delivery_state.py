"""The delivery state of a user's notifications as their outbox table records it, per channel.

Read from the user's database (not from the engine's memory), so `tradebot health` and the
dashboard show it whether or not the engine runs; the engine puts the same values in `health.json`
(`delivery_document` / `delivery_from_document`). `last_error` texts come from the channel senders,
which never put a token or webhook URL in them.

Rows finished before schema version 6 have no channel (they went to every channel at once): they
count for every channel.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from tradebot.core.errors import SettingsError
from tradebot.services.notifications.config import (
    CHANNEL_NAMES,
    ChannelName,
    configured_channels,
    read_settings,
)
from tradebot.services.notifications.outbox import counts
from tradebot.services.storage import Reader
from tradebot.services.storage.codecs import decode_time

PENDING_TOO_LONG = timedelta(minutes=10)  # the engine delivers within seconds; 10 minutes is a dead channel
DELIVERY_ALERT = "ALERT: notifications not delivered"
ChannelStateName = Literal["ok", "failing", "dead"]
# A dead row counts until a later row of the same channel (or a row of before version 6) is sent.
DEAD_AFTER_LAST_SENT = (
    "SELECT count(*) AS number FROM notify_outbox AS dead WHERE dead.status = 'dead' AND {scope} "
    "AND dead.id > coalesce((SELECT max(sent.id) FROM notify_outbox AS sent WHERE sent.status = 'sent' "
    "AND (sent.channel IS NULL OR dead.channel IS NULL OR sent.channel = dead.channel)), 0)"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelDelivery:
    """One channel: ok, failing (a retry waits, or a row waits too long) or dead (rows given up on)."""

    channel: ChannelName
    state: ChannelStateName
    pending: int
    oldest_pending_at: datetime | None
    oldest_pending_age_seconds: float | None
    dead_since_last_sent: int
    last_error: str | None  # of the channel's latest dead or retried row; never a secret
    last_sent_at: datetime | None


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
    dropped: int = 0  # rows of a channel the user removed before they were sent
    channels: tuple[ChannelDelivery, ...] = ()


def read_delivery_state(reader: Reader, now: datetime) -> DeliveryState | None:
    """The user's delivery state at `now`; None when no channel is configured and the outbox is empty."""
    found = counts(reader)
    configured = _configured(reader)
    if not configured and not any(found.values()):
        return None
    channels = tuple(_channel(reader, name, now) for name in _shown_channels(reader, configured))
    error_row = reader.query(
        "SELECT status, last_error FROM notify_outbox WHERE last_error IS NOT NULL "
        "AND status IN ('dead', 'pending') ORDER BY id DESC LIMIT 1"
    )
    return DeliveryState(
        pending=found["pending"],
        sent=found["sent"],
        dead=found["dead"],
        dropped=found["dropped"],
        dead_since_last_sent=_dead_count(reader, "1 = 1", ()),
        oldest_pending_at=_oldest_pending(reader, None),
        last_error=str(error_row[0]["last_error"]) if error_row else None,
        last_error_status=str(error_row[0]["status"]) if error_row else None,
        alert=_alert(channels),
        channels=channels,
    )


def _configured(reader: Reader) -> list[ChannelName]:
    try:
        settings = read_settings(reader)
    except SettingsError:  # unreadable settings with stored secrets still mean a channel
        return configured_channels(reader, None)
    return [] if settings is None else configured_channels(reader, settings)


def _shown_channels(reader: Reader, configured: list[ChannelName]) -> list[ChannelName]:
    """Configured channels, and removed ones whose rows still say something (pending or dead)."""
    rows = reader.query(
        "SELECT DISTINCT channel FROM notify_outbox "
        "WHERE channel IS NOT NULL AND status IN ('pending', 'dead')"
    )
    used = {str(row["channel"]) for row in rows}
    return [name for name in CHANNEL_NAMES if name in configured or name in used]


def _channel(reader: Reader, name: ChannelName, now: datetime) -> ChannelDelivery:
    pending_rows = reader.query(
        "SELECT count(*) AS number, sum(last_error IS NOT NULL) AS retried FROM notify_outbox "
        "WHERE status = 'pending' AND channel = ?",
        (name,),
    )
    pending, retried = int(pending_rows[0]["number"]), int(pending_rows[0]["retried"] or 0)
    oldest = _oldest_pending(reader, name)
    age = None if oldest is None else (now - oldest).total_seconds()
    dead = _dead_count(reader, "(dead.channel = ? OR dead.channel IS NULL)", (name,))
    state: ChannelStateName = "ok"
    if dead:
        state = "dead"
    elif retried or (age is not None and age > PENDING_TOO_LONG.total_seconds()):
        state = "failing"
    return ChannelDelivery(
        channel=name, state=state, pending=pending, oldest_pending_at=oldest,
        oldest_pending_age_seconds=age, dead_since_last_sent=dead,
        last_error=_last_error(reader, name), last_sent_at=_last_sent(reader, name),
    )  # fmt: skip


def _oldest_pending(reader: Reader, channel: ChannelName | None) -> datetime | None:
    rows = reader.query(
        "SELECT min(created_at) AS oldest FROM notify_outbox WHERE status = 'pending' "
        "AND (? IS NULL OR channel = ?)",
        (channel, channel),
    )
    return None if not rows or rows[0]["oldest"] is None else decode_time(rows[0]["oldest"])


def _dead_count(reader: Reader, scope: str, values: tuple[str, ...]) -> int:
    # A row delivered after the dead ones shows the channel works again: old dead rows stay counted
    # but no longer raise the ALERT (else one lost message would fail `tradebot health` forever).
    rows = reader.query(DEAD_AFTER_LAST_SENT.format(scope=scope), values)
    return int(rows[0]["number"]) if rows else 0


def _last_error(reader: Reader, channel: ChannelName) -> str | None:
    rows = reader.query(
        "SELECT last_error FROM notify_outbox WHERE last_error IS NOT NULL AND channel = ? "
        "AND status IN ('dead', 'pending') ORDER BY id DESC LIMIT 1",
        (channel,),
    )
    return str(rows[0]["last_error"]) if rows else None


def _last_sent(reader: Reader, channel: ChannelName) -> datetime | None:
    rows = reader.query(
        "SELECT max(sent_at) AS last FROM notify_outbox WHERE status = 'sent' "
        "AND (channel = ? OR channel IS NULL)",
        (channel,),
    )
    return None if not rows or rows[0]["last"] is None else decode_time(rows[0]["last"])


def _alert(channels: tuple[ChannelDelivery, ...]) -> str | None:
    problems = []
    for channel in channels:
        if channel.dead_since_last_sent:
            problems.append(
                f"{channel.channel}: {channel.dead_since_last_sent} message(s) given up on "
                "since the last delivered one"
            )
        age = channel.oldest_pending_age_seconds
        if age is not None and age > PENDING_TOO_LONG.total_seconds():
            problems.append(f"{channel.channel}: oldest waiting message is {int(age // 60)} min old")
    return f"{DELIVERY_ALERT}: {'; '.join(problems)}" if problems else None


# --- health.json ----------------------------------------------------------------------------------


def delivery_document(state: DeliveryState) -> dict[str, Any]:
    """`state` as JSON-ready data (datetimes in ISO 8601), for `health.json`."""
    document: dict[str, Any] = _iso(asdict(state))
    return document


def delivery_from_document(document: Mapping[str, Any]) -> DeliveryState | None:
    """The state `delivery_document` wrote, or None when the block is not one (an older engine's)."""
    try:
        channels = tuple(
            ChannelDelivery(**_times(dict(item), ("oldest_pending_at", "last_sent_at")))
            for item in document.get("channels") or ()
        )
        values = _times({**document, "channels": channels}, ("oldest_pending_at",))
        return DeliveryState(**values)
    except (TypeError, ValueError):
        return None


def _iso(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _iso(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_iso(item) for item in value]
    return value.isoformat() if isinstance(value, datetime) else value


def _times(values: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    for name in names:
        if values.get(name) is not None:
            values[name] = datetime.fromisoformat(str(values[name]))
    return values
