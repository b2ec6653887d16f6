"""Numbers, money and times as each language writes them.

Korean: `1,234,567원`, times in KST as `2026-03-22 21:47`; English: `1,234,567 KRW`, times in KST
with the zone named (`2026-03-22 21:47 KST`). Money is Decimal; amounts of 100 KRW and more are
whole won, smaller ones (cheap coins' prices) keep up to 4 decimals.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_EVEN, Decimal

from tradebot.core.i18n import Language, text

KST = timezone(timedelta(hours=9), "KST")  # Korea has no daylight saving time
UNKNOWN = "—"
WHOLE_KRW_FROM = Decimal(100)


def krw_number(value: Decimal, *, signed: bool = False) -> str:
    """`1,234,567` (whole won from 100 KRW, else up to 4 decimals), `+` in front when `signed`."""
    sign = "+" if signed and value > 0 else ""
    if abs(value) >= WHOLE_KRW_FROM:
        digits = f"{value.quantize(Decimal(1), rounding=ROUND_HALF_EVEN):,}"
    else:
        digits = f"{value.quantize(Decimal('0.0001'), rounding=ROUND_HALF_EVEN):,f}".rstrip("0").rstrip(".")
    return f"{sign}{digits}"


def money(value: Decimal | None, language: Language, *, signed: bool = False) -> str:
    """An amount of won: `1,234,567원` in Korean, `1,234,567 KRW` in English; None is a dash."""
    if value is None:
        return UNKNOWN
    return text("format.krw", language, amount=krw_number(value, signed=signed))


def minute(moment: datetime | None, language: Language) -> str:
    """A moment in KST to the minute (`2026-03-22 21:47`, English adds ` KST`); None is a dash."""
    if moment is None:
        return UNKNOWN
    if moment.tzinfo is None:
        raise ValueError("a moment without a time zone cannot be shown in KST")
    return text("format.minute", language, moment=moment.astimezone(KST).strftime("%Y-%m-%d %H:%M"))


def second(moment: datetime | None, language: Language) -> str:
    """A moment in KST to the second (`2026-03-22 21:47:05`, English adds ` KST`); None is a dash."""
    if moment is None:
        return UNKNOWN
    if moment.tzinfo is None:
        raise ValueError("a moment without a time zone cannot be shown in KST")
    return text("format.minute", language, moment=moment.astimezone(KST).strftime("%Y-%m-%d %H:%M:%S"))


def age(elapsed: timedelta | None, language: Language) -> str:
    """`4 s ago` / `4초 전`, minutes under two hours, then hours; a dash when unknown."""
    if elapsed is None:
        return UNKNOWN
    seconds = max(0, int(elapsed.total_seconds()))
    if seconds < 120:
        return text("format.seconds_ago", language, count=seconds)
    if seconds < 7200:
        return text("format.minutes_ago", language, count=seconds // 60)
    return text("format.hours_ago", language, count=seconds // 3600)


def market_name(market: str, korean_name: str | None, language: Language) -> str:
    """`비트코인 (KRW-BTC)` in Korean when the exchange gave the coin's Korean name, else `KRW-BTC`."""
    if language == "ko" and korean_name:
        return f"{korean_name} ({market})"
    return market
