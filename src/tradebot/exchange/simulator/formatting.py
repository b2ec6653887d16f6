"""How numbers and times look on the wire (upbit-api.md §1, §2.3, §3.4).

Exchange amounts are strings in plain notation ("10005", "0.952626075"); quotation numbers are
JSON numbers; order times are KST with `+09:00`; candle times have no offset.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

from tradebot.core.models import NANOS_PER_SECOND

KST = timezone(timedelta(hours=9))
NANOS_PER_MILLI = 1_000_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def amount_text(value: Decimal) -> str:
    """An exchange amount as Upbit writes it: no exponent, no trailing zeros ("0", "5002.5")."""
    if value == 0:
        return "0"
    return f"{value.normalize():f}"


def json_number(value: Decimal | float) -> int | float:
    """A quotation price as a JSON number: integral Decimals stay ints (order book prices)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def kst_text(moment: datetime) -> str:
    """`2026-03-22T21:47:08+09:00`: KST, whole seconds."""
    return moment.astimezone(KST).replace(microsecond=0).isoformat()


def nanos_to_utc(nanos: int) -> datetime:
    """Epoch nanoseconds as an aware UTC datetime (microsecond precision)."""
    return EPOCH + timedelta(microseconds=nanos // 1000)


def utc_to_nanos(moment: datetime) -> int:
    """An aware datetime as epoch nanoseconds."""
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * NANOS_PER_SECOND + delta.microseconds * 1000


def candle_times(start_ns: int) -> tuple[str, str]:
    """`candle_date_time_utc` and `candle_date_time_kst`: `yyyy-MM-ddTHH:mm:ss`, no offset."""
    utc = nanos_to_utc(start_ns).replace(tzinfo=None)
    return utc.isoformat(timespec="seconds"), (utc + timedelta(hours=9)).isoformat(timespec="seconds")


def millis(nanos: int) -> int:
    """Epoch milliseconds, as in every `timestamp` field."""
    return nanos // NANOS_PER_MILLI
