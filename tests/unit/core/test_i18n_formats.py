"""Money, times and market names as each language writes them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tradebot.core.i18n.formats import age, market_name, minute, money, second


@pytest.mark.parametrize(
    ("amount", "language", "expected"),
    [
        (Decimal("1234567.4"), "ko", "1,234,567원"),
        (Decimal("1234567.5"), "en", "1,234,568 KRW"),
        (Decimal("12.34567"), "ko", "12.3457원"),
        (Decimal("0.5000"), "en", "0.5 KRW"),
        (None, "ko", "—"),
    ],
)
def test_money_each_language_writes_won_its_way(amount: Decimal | None, language: str, expected: str) -> None:
    assert money(amount, language) == expected  # type: ignore[arg-type]


def test_money_signed_gain_has_plus() -> None:
    assert money(Decimal(5000), "ko", signed=True) == "+5,000원"


def test_minute_utc_moment_is_shown_in_kst() -> None:
    moment = datetime(2026, 3, 22, 12, 47, 59, tzinfo=UTC)
    assert minute(moment, "ko") == "2026-03-22 21:47"
    assert minute(moment, "en") == "2026-03-22 21:47 KST"
    assert second(moment, "ko") == "2026-03-22 21:47:59"


def test_minute_naive_moment_is_refused() -> None:
    with pytest.raises(ValueError, match="time zone"):
        minute(datetime(2026, 3, 22, 12, 47), "ko")  # noqa: DTZ001 - the refused input


def test_age_korean_and_english_units() -> None:
    assert age(timedelta(seconds=4), "ko") == "4초 전"
    assert age(timedelta(minutes=3), "en") == "3 min ago"
    assert age(timedelta(hours=5), "ko") == "5시간 전"


def test_market_name_korean_shows_korean_name_first() -> None:
    assert market_name("KRW-BTC", "비트코인", "ko") == "비트코인 (KRW-BTC)"
    assert market_name("KRW-BTC", "비트코인", "en") == "KRW-BTC"
    assert market_name("KRW-BTC", None, "ko") == "KRW-BTC"
